import type { Migration } from '@siteflow/eventstore';
import { projectMembersNotify } from '@siteflow/servicekit';

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
  {
    id: 2,
    name: 'members, typing, rate window index',
    up: `
      -- Who is in a project (from the documents service's ProjectCreated, and anyone seen posting,
      -- reading or joining): whose unread count a new message moves.
      CREATE TABLE chat.members (
        project_id bigint NOT NULL,
        user_id    bigint NOT NULL,
        username   text NOT NULL,
        PRIMARY KEY (project_id, user_id)
      );
      -- Typing states with their expiry: shared by every chat instance, so a state whose instance
      -- died still ends, and the sweep that ends it (DELETE … RETURNING) announces it exactly once.
      CREATE TABLE chat.typing (
        project_id    bigint NOT NULL,
        user_id       bigint NOT NULL,
        username      text NOT NULL,
        connection_id text NOT NULL,
        expires_at    timestamptz NOT NULL,
        PRIMARY KEY (project_id, user_id)
      );
      CREATE INDEX typing_expiry ON chat.typing (expires_at);
      CREATE INDEX messages_by_author ON chat.messages (project_id, user_id, posted_at);
    `,
  },
  {
    id: 3,
    name: 'members are only those documents announced, with their role in the project',
    // Members used to be added for anyone seen posting; now only documents' ProjectCreated adds
    // them (the durable consumer chat-members replays that stream from its start and refills this
    // table), and every command is checked against it.
    up: `
      DELETE FROM chat.members;
      ALTER TABLE chat.members ADD COLUMN role text NOT NULL;
    `,
  },
  {
    id: 4,
    name: 'unread counts kept as a counter per member (issue 16)',
    // A post used to count every member's unread messages (a correlated count(*) over the history
    // per member) and append one UnreadCountChanged per member. Now each (project, user) has its
    // count here: a post adds one for everyone but its author, a read mark recounts the reader's.
    // Existing data keeps its counts: computed once here, for every member and every reader, as
    // the messages by others after their read mark (what the count has always meant).
    up: `
      CREATE TABLE chat.unread (
        project_id bigint NOT NULL,
        user_id    bigint NOT NULL,
        unread     integer NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (project_id, user_id)
      );
      INSERT INTO chat.unread (project_id, user_id, unread)
      SELECT k.project_id, k.user_id,
             (SELECT count(*)::int FROM chat.messages m
               WHERE m.project_id = k.project_id AND m.user_id <> k.user_id
                 AND m.stream_version > coalesce(r.last_read_version, 0))
        FROM (SELECT project_id, user_id FROM chat.members UNION SELECT project_id, user_id FROM chat.read_marks) k
        LEFT JOIN chat.read_marks r ON r.project_id = k.project_id AND r.user_id = k.user_id;
    `,
  },
  {
    id: 5,
    name: 'unread counts from positions: no write per member on a post (issue 16)',
    // Migration 4's counter moved every member's row on every post (an UPDATE of 499 rows in a room
    // of 500, under the stream lock). Now nothing per member is written on a post; a count is
    // computed from positions:
    //   unread = (room messages now − room messages at the mark) − (own posts now − own posts at the mark)
    // Each message carries its ordinal in the room (room_seq) and its author's own-post ordinal
    // (author_seq); chat.posters keeps each author's own-post count (moved only for the author);
    // each read mark carries the room ordinal and the reader's own posts at the mark. A member
    // with no mark (added since, or never read) has zeros there: every message by others.
    // Existing data is converted: ordinals numbered in stream order, marks positioned at the
    // messages they name, authors' counts counted: the counts are the messages by others after
    // the mark, what chat.unread held (room.state.int.spec.ts checks the conversion against it).
    up: `
      ALTER TABLE chat.messages ADD COLUMN room_seq integer, ADD COLUMN author_seq integer;
      UPDATE chat.messages m SET room_seq = s.room_seq, author_seq = s.author_seq
        FROM (SELECT message_id,
                     row_number() OVER (PARTITION BY project_id ORDER BY stream_version)::int AS room_seq,
                     row_number() OVER (PARTITION BY project_id, user_id ORDER BY stream_version)::int AS author_seq
                FROM chat.messages) s
       WHERE m.message_id = s.message_id;
      ALTER TABLE chat.messages ALTER COLUMN room_seq SET NOT NULL, ALTER COLUMN author_seq SET NOT NULL;
      -- Own posts now and at a mark: the author's latest message, overall or at a stream version.
      CREATE INDEX messages_by_author_version ON chat.messages (project_id, user_id, stream_version) INCLUDE (author_seq);

      CREATE TABLE chat.posters (
        project_id bigint NOT NULL,
        user_id    bigint NOT NULL,
        posts      integer NOT NULL CHECK (posts > 0),
        PRIMARY KEY (project_id, user_id)
      );
      INSERT INTO chat.posters (project_id, user_id, posts)
      SELECT project_id, user_id, count(*)::int FROM chat.messages GROUP BY project_id, user_id;

      ALTER TABLE chat.read_marks ADD COLUMN read_seq integer NOT NULL DEFAULT 0, ADD COLUMN own_at_mark integer NOT NULL DEFAULT 0;
      -- A mark's positions: those of the last message (and the reader's last own message) at its version.
      UPDATE chat.read_marks r
         SET read_seq = coalesce((SELECT m.room_seq FROM chat.messages m
                                   WHERE m.project_id = r.project_id AND m.stream_version <= r.last_read_version
                                   ORDER BY m.stream_version DESC LIMIT 1), 0),
             own_at_mark = coalesce((SELECT m.author_seq FROM chat.messages m
                                      WHERE m.project_id = r.project_id AND m.user_id = r.user_id AND m.stream_version <= r.last_read_version
                                      ORDER BY m.stream_version DESC LIMIT 1), 0);
      ALTER TABLE chat.read_marks ALTER COLUMN read_seq DROP DEFAULT, ALTER COLUMN own_at_mark DROP DEFAULT;

      DROP TABLE chat.unread;
    `,
  },
  {
    id: 6,
    name: 'members table announces its changes (NOTIFY chat_members): the membership cache forgets them',
    up: projectMembersNotify('chat.members'),
  },
];
