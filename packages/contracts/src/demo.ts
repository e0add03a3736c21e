import type { Role } from './ids.js';

/** The demo users `npm start` seeds and dev login knows (dev login is off in production). */
export const DEMO_USERS: ReadonlyArray<{ id: number; username: string; role: Role; avatar_url: string }> = [
  { id: 1, username: 'alice', role: 'admin', avatar_url: '/avatars/alice.svg' },
  { id: 2, username: 'bob', role: 'customer', avatar_url: '/avatars/bob.svg' },
  { id: 3, username: 'carol', role: 'customer', avatar_url: '/avatars/carol.svg' },
];

/** Demo project 1, with the three demo users as members. */
export const DEMO_PROJECT = { id: 1, name: 'Demo project', memberIds: [1, 2, 3] } as const;
