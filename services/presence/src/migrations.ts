import type { Migration } from '@siteflow/eventstore';

/** Read models of the `presence` schema (the event store's own tables are created by the store). */
export const presenceMigrations: Migration[] = [
  {
    id: 1,
    name: 'members last seen',
    up: `
      CREATE TABLE presence.last_seen (
        project_id   bigint NOT NULL,
        user_id      bigint NOT NULL,
        last_seen_at timestamptz NOT NULL,
        PRIMARY KEY (project_id, user_id)
      );
    `,
  },
];
