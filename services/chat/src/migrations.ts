import type { Migration } from '@siteflow/eventstore';

/** Read models of the `chat` schema (the event store's own tables are created by the store). */
export const chatMigrations: Migration[] = [
  {
    id: 1,
    name: 'messages and read marks',
    up: `
      CREATE TABLE chat.messages (
        message_id     text PRIMARY KEY,
        project_id     bigint NOT NULL,
        stream_version integer NOT NULL,
        user_id        bigint NOT NULL,
        username       text NOT NULL,
        avatar_url     text NOT NULL,
        text           text NOT NULL,
        posted_at      timestamptz NOT NULL,
        UNIQUE (project_id, stream_version)
      );
      CREATE TABLE chat.read_marks (
        project_id        bigint NOT NULL,
        user_id           bigint NOT NULL,
        last_read_version integer NOT NULL,
        marked_at         timestamptz NOT NULL,
        PRIMARY KEY (project_id, user_id)
      );
    `,
  },
];
