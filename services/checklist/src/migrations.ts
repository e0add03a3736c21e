import type { Migration } from '@siteflow/eventstore';
import { projectMembersNotify, projectMembersTable } from '@siteflow/servicekit';

/** Read models of the `checklist` schema (the event store's own tables are created by the store). */
export const checklistMigrations: Migration[] = [
  {
    id: 1,
    name: 'items and progress',
    up: `
      CREATE TABLE checklist.items (
        project_id  bigint NOT NULL,
        item_id     integer NOT NULL,
        title       text NOT NULL,
        description text,
        order_index integer NOT NULL,
        checked     boolean NOT NULL DEFAULT false,
        checked_by  bigint,
        checked_at  timestamptz,
        PRIMARY KEY (project_id, item_id)
      );
      -- Denormalised: written with every event that moves it.
      CREATE TABLE checklist.progress (
        project_id      bigint PRIMARY KEY,
        total_items     integer NOT NULL,
        completed_items integer NOT NULL,
        percentage      numeric(4,1) NOT NULL,
        stream_version  integer NOT NULL,
        updated_at      timestamptz NOT NULL
      );
    `,
  },
  {
    id: 2,
    name: 'project members',
    // Filled by the durable consumer checklist-members from documents' ProjectCreated (it replays
    // the stream from its start, so projects created before this table existed are learnt too).
    up: projectMembersTable('checklist.project_members'),
  },
  {
    id: 3,
    name: 'members table announces its changes (NOTIFY checklist_project_members): the membership cache forgets them',
    up: projectMembersNotify('checklist.project_members'),
  },
];
