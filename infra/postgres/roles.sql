-- Least privilege: each service connects as its own role, which may create and use only its own
-- schema (the service creates the schema at start and so owns it; no role is granted USAGE on
-- another's). Run as a superuser in the application database:
--   psql -v password="'…'" -v db=siteflow -f infra/postgres/roles.sql
-- (`password` is one password for the four roles here; give each its own in production.)
\set ON_ERROR_STOP on
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY['siteflow_chat', 'siteflow_documents', 'siteflow_presence', 'siteflow_checklist']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', r, :password)
  FROM unnest(ARRAY['siteflow_chat', 'siteflow_documents', 'siteflow_presence', 'siteflow_checklist']) AS r \gexec
GRANT CONNECT, CREATE ON DATABASE :"db" TO siteflow_chat, siteflow_documents, siteflow_presence, siteflow_checklist;
