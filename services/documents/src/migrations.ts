import type { Migration } from '@siteflow/eventstore';

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
];
