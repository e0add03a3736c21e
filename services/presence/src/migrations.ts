import type { Migration } from '@siteflow/eventstore';
import { projectMembersNotify, projectMembersTable } from '@siteflow/servicekit';

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
  {
    id: 2,
    name: 'project members',
    // Filled by the durable consumer presence-members from documents' ProjectCreated: a connection
    // is tracked only for a member of the project.
    up: projectMembersTable('presence.project_members'),
  },
  {
    id: 3,
    name: 'members table announces its changes (NOTIFY presence_project_members): the membership cache forgets them',
    up: projectMembersNotify('presence.project_members'),
  },
];
