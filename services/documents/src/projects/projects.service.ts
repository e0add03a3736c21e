import { randomUUID } from 'node:crypto';
import type { ProjectMember } from '@siteflow/contracts';
import type { ServiceKit } from '@siteflow/servicekit';
import { decide, evolve, initialProjectState, projectStreamId, type ProjectEvent } from './project.js';
import { insertProject } from './projects.read-model.js';

/** Creates a project: load its stream, decide, append, project; all in one transaction. */
export async function createProject(
  kit: ServiceKit,
  input: { projectId: number; name: string; members: ProjectMember[]; createdBy: number | null },
): Promise<void> {
  const streamId = projectStreamId(input.projectId);
  const now = new Date();
  await kit.store.transaction(async (tx) => {
    const history = await tx.readStream(streamId);
    const state = history.map((e) => ({ type: e.type, data: e.data }) as ProjectEvent).reduce(evolve, initialProjectState);
    const events = decide({ type: 'CreateProject', data: { ...input, now } }, state);
    await tx.append(
      streamId,
      events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, projectId: input.projectId, broadcast: null })),
      { expectedVersion: history.length, now },
    );
    for (const e of events) await insertProject(tx.client, e);
  });
}
