import type { Migration } from '@siteflow/eventstore';
import { projectMembersNotify } from '@siteflow/servicekit';

export const documentsMigrations: Migration[] = [
  {
    id: 1,
    name: 'projects and members',
    up: `
      CREATE TABLE documents.projects (
        id         bigint PRIMARY KEY,
        name       text NOT NULL,
        status     text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE TABLE documents.project_members (
        project_id bigint NOT NULL REFERENCES documents.projects(id),
        user_id    bigint NOT NULL,
        username   text NOT NULL,
        role       text NOT NULL,
        avatar_url text NOT NULL,
        PRIMARY KEY (project_id, user_id)
      );
    `,
  },
  {
    id: 2,
    name: 'documents, their versions and locks',
    up: `
      CREATE TABLE documents.documents (
        id                 bigint PRIMARY KEY,
        project_id         bigint NOT NULL REFERENCES documents.projects(id),
        document_type      text NOT NULL,
        title              text NOT NULL,
        content            text NOT NULL,
        version            integer NOT NULL,
        created_by         bigint,
        last_edited_by     bigint,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL,
        -- The document stream's version this row reflects (written in the same transaction).
        stream_version     integer NOT NULL,
        lock_user_id       bigint,
        lock_username      text,
        lock_connection_id text,
        locked_at          timestamptz,
        lock_expires_at    timestamptz,
        lock_idle_since    timestamptz,
        UNIQUE (project_id, document_type)
      );
      CREATE INDEX documents_lock_connection ON documents.documents (lock_connection_id) WHERE lock_connection_id IS NOT NULL;
      CREATE INDEX documents_lock_expiry ON documents.documents (lock_expires_at) WHERE lock_expires_at IS NOT NULL;
      CREATE TABLE documents.document_versions (
        document_id   bigint NOT NULL REFERENCES documents.documents(id),
        version       integer NOT NULL,
        content       text NOT NULL,
        size          integer NOT NULL,
        saved_by      bigint,
        saved_by_name text,
        saved_at      timestamptz NOT NULL,
        auto          boolean NOT NULL,
        restored_from integer,
        PRIMARY KEY (document_id, version)
      );
    `,
  },
  {
    id: 3,
    name: 'document ids from a sequence',
    // Ids stored so far were (project − 1) × 9 + type: they stay, and new documents take ids above
    // every one of them, whether in the read model or only in the event store.
    up: `
      CREATE SEQUENCE documents.document_ids AS bigint MINVALUE 1;
      SELECT setval('documents.document_ids', coalesce(m, 1), m IS NOT NULL)
        FROM (SELECT GREATEST(
                (SELECT max(id) FROM documents.documents),
                (SELECT max(substring(stream_id FROM '^document-([0-9]+)$')::bigint) FROM documents.streams)
              ) AS m) AS highest;
    `,
  },
  {
    id: 4,
    name: 'members table announces its changes (NOTIFY documents_project_members): the membership cache forgets them',
    up: projectMembersNotify('documents.project_members'),
  },
  {
    id: 5,
    name: "a document's content hash: commands decide on it and leave the content unread and unwritten",
    // Right whoever writes the content: the service sends the hash it computed with the content
    // (contentSha256, the same digest), but an instance of the release before, still running while
    // this one rolls out, writes the content alone, and a hash left behind would take an auto-save of
    // the older text for unchanged. So a write of the content that brings no new hash gets one here.
    // (A generated column cannot: convert_to is only STABLE.)
    up: `
      ALTER TABLE documents.documents ADD COLUMN content_sha256 text;
      CREATE FUNCTION documents.documents_content_sha256() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.content_sha256 IS NULL OR (TG_OP = 'UPDATE' AND NEW.content_sha256 IS NOT DISTINCT FROM OLD.content_sha256) THEN
          NEW.content_sha256 := encode(sha256(convert_to(NEW.content, 'UTF8')), 'hex');
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER documents_content_sha256 BEFORE INSERT OR UPDATE OF content ON documents.documents
        FOR EACH ROW EXECUTE FUNCTION documents.documents_content_sha256();
      UPDATE documents.documents SET content = content;
      ALTER TABLE documents.documents ALTER COLUMN content_sha256 SET NOT NULL;
    `,
  },
];
