import type { Role } from '@siteflow/contracts';

/**
 * Mirrors `DEMO_USERS` of the contracts, the users `npm start` seeds and dev login knows (a value
 * import would put zod into the bundle; a unit test keeps them equal).
 */
export const demoUsers: ReadonlyArray<{ id: number; username: string; role: Role }> = [
  { id: 1, username: 'alice', role: 'admin' },
  { id: 2, username: 'bob', role: 'customer' },
  { id: 3, username: 'carol', role: 'customer' },
];

export const roleLabel: Record<Role, string> = { admin: 'Admin', customer: 'Customer' };
