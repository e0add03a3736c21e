/**
 * Mirrors `projectTopic` of the contracts: importing a value from the contracts would put zod and
 * every schema into the bundle (the web app imports types only). A unit test keeps them equal.
 */
export const projectTopic = (projectId: number) => `project:${projectId}`;
