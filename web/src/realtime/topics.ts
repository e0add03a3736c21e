/**
 * Mirrors `projectTopic` of the contracts: importing a value from the contracts would put zod and
 * every schema into the bundle (the web app imports types only). A unit test keeps them equal.
 */
export const projectTopic = (projectId: number) => `project:${projectId}`;

/** Mirrors `userTopic` of the contracts: one user's own notifications (unread counts, edit requests, revocations). */
export const userTopic = (userId: number) => `user:${userId}`;
