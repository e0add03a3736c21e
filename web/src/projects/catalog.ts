/** The projects a user can open. Until the project list has an endpoint, the seeded demo project. */
export interface ProjectEntry {
  id: number;
  name: string;
  description: string;
}

export const projectCatalog: readonly ProjectEntry[] = [
  { id: 1, name: 'Demo project', description: 'The seeded project: nine planning documents, a checklist and the team chat.' },
];
