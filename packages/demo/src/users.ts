import type { ProjectMember, Role } from '@siteflow/contracts';

/** A demo user: what dev login signs a token for and demo project 1 has as a member. */
export interface DemoUser {
  id: number;
  username: string;
  role: Role;
  avatar_url: string;
}

/**
 * The demo users `npm start` seeds (SEED_DEMO=true) and dev login then knows. They exist nowhere
 * else: a deployment gets its users and projects from Siteflow (README "Projects API").
 */
export const DEMO_USERS: readonly DemoUser[] = [
  { id: 1, username: 'alice', role: 'admin', avatar_url: '/avatars/alice.svg' },
  { id: 2, username: 'bob', role: 'customer', avatar_url: '/avatars/bob.svg' },
  { id: 3, username: 'carol', role: 'customer', avatar_url: '/avatars/carol.svg' },
];

/** The demo user of that name; throws for any other name (a typo in a test should say so). */
export function demoUser(username: 'alice' | 'bob' | 'carol'): DemoUser {
  const user = DEMO_USERS.find((u) => u.username === username);
  if (!user) throw new Error(`no demo user named ${username}`);
  return user;
}

/** A demo user as a project member, with their own role as the project role. */
export function asMember(user: DemoUser): ProjectMember {
  return { user_id: user.id, username: user.username, role: user.role, avatar_url: user.avatar_url };
}
