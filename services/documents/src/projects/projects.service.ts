import { randomUUID } from 'node:crypto';
import { AppError, type ProjectMember } from '@siteflow/contracts';
import { ConcurrencyError, type EventStoreTx, type RecordedEvent } from '@siteflow/eventstore';
import { decideInTransaction, runStreamCommand, type ServiceKit, type StreamCommand } from '@siteflow/servicekit';
import { decideDocument } from '../documents/decide.js';
import { DOCUMENT_TYPES, documentStreamId, initialDocumentState, type LockReleased } from '../documents/document.js';
import { documentCommand, type PublishLimit } from '../documents/document-stream.js';
import { allocateDocumentId, documentTypesOf, projectsMissingDocuments } from '../documents/documents.read-model.js';
import {
  decide,
  evolve,
  initialProjectState,
  projectStreamId,
  type ProjectCommand,
  type ProjectEvent,
  type ProjectState,
} from './project.js';
import { applyProjectEvent, lockProject } from './projects.read-model.js';
import { DOCUMENT_TITLES, emptyDocument } from './starter-documents.js';
import type { DocumentType } from '@siteflow/contracts';

function broadcastOf(e: ProjectEvent, state: ProjectState) {
  if (e.type === 'ProjectStatusChanged') {
    const d = e.data;
    return {
      event: 'project:status_change',
      payload: {
        project_id: d.project_id,
        status: d.status,
        previous_status: d.previous_status,
        changed_by: d.changed_by_name,
        changed_at: d.changed_at,
      },
    };
  }
  if (e.type === 'ProjectRenamed' && state.status === 'exists') {
    return {
      event: 'project:updated',
      payload: {
        id: state.projectId,
        name: state.name,
        status: state.projectStatus,
        created_at: state.createdAt,
        updated_at: state.updatedAt,
      },
    };
  }
  if (e.type === 'ProjectMembershipChanged' && state.status === 'exists') {
    // The room's member list changes; the gateway also reads a removal to take the member out of the topic.
    return {
      event: 'project:updated',
      payload: {
        id: state.projectId,
        name: state.name,
        status: state.projectStatus,
        created_at: state.createdAt,
        updated_at: state.updatedAt,
        members: state.members,
      },
    };
  }
  return null;
}

/**
 * A command on a project's stream. Projects have few writers and no read model holding their whole
 * decision state, so it is folded from the stream's events. `inTx` runs after the project's events
 * are stored, in the same transaction (a new project's documents, a removed member's locks); the
 * existing streams it writes must be named by `alsoWrites`, read before anything is written
 * (docs/consistency.md, rule 3). New documents need not be named.
 */
export function projectCommand(
  projectId: number,
  command: (now: Date) => ProjectCommand,
  inTx?: (tx: EventStoreTx, now: Date) => Promise<void>,
  alsoWrites?: (tx: EventStoreTx) => Promise<readonly string[]>,
): StreamCommand<ProjectState, ProjectEvent, { events: ProjectEvent[]; state: ProjectState }> {
  return {
    streamId: projectStreamId(projectId),
    ...(alsoWrites ? { alsoWrites } : {}),
    load: async (tx) => (await tx.readStream(projectStreamId(projectId))).map(toProjectEvent).reduce(evolve, initialProjectState),
    decide: (state, { now }) => decide(command(now), state),
    evolve,
    toNewEvent: (e, after) => ({ id: randomUUID(), type: e.type, data: e.data, projectId, broadcast: broadcastOf(e, after) }),
    project: async (tx, { events, now }) => {
      for (const e of events) await applyProjectEvent(tx.client, e);
      if (inTx) await inTx(tx, now);
    },
    reply: ({ events, after }) => ({ events, state: after }),
  };
}

function toProjectEvent(e: RecordedEvent): ProjectEvent {
  return { type: e.type, data: e.data } as ProjectEvent;
}

/**
 * Creates every planning document the project lacks, in the caller's transaction. The project's row
 * lock makes creators of one project's documents queue, so a type is created once however many
 * instances add it; each new document takes a fresh id (`allocateDocumentId`).
 */
export async function createProjectDocuments(
  kit: PublishLimit,
  tx: EventStoreTx,
  projectId: number,
  createdBy: number | null,
  now: Date,
  contentOf: (type: DocumentType) => string = emptyDocument,
): Promise<number> {
  if (!(await lockProject(tx.client, projectId))) throw new AppError('not_found', `project ${projectId} does not exist`);
  const present = new Set(await documentTypesOf(tx.client, projectId));
  let created = 0;
  for (const type of DOCUMENT_TYPES) {
    if (present.has(type)) continue;
    const documentId = await allocateDocumentId(tx.client);
    const events = decideDocument(
      {
        type: 'CreateDocument',
        data: { documentId, projectId, documentType: type, title: DOCUMENT_TITLES[type], content: contentOf(type), createdBy, now },
      },
      initialDocumentState,
    );
    await decideInTransaction(
      tx,
      documentCommand(
        kit,
        documentId,
        null,
        () => events,
        () => undefined,
      ),
    );
    created++;
  }
  return created;
}

/** Creates a project with its members and its 9 planning documents, all or nothing. */
export async function createProject(
  kit: ServiceKit,
  input: {
    projectId: number;
    name: string;
    members: ProjectMember[];
    createdBy: number | null;
    contentOf?: (type: DocumentType) => string;
  },
): Promise<void> {
  await runStreamCommand(
    kit.store,
    projectCommand(
      input.projectId,
      (now) => ({
        type: 'CreateProject',
        data: { projectId: input.projectId, name: input.name, members: input.members, createdBy: input.createdBy, now },
      }),
      async (tx, now) => {
        await createProjectDocuments(kit, tx, input.projectId, input.createdBy, now, input.contentOf);
      },
    ),
  );
}

/** Adds documents missing from an existing project (a project stored before documents existed). */
export async function ensureProjectDocuments(
  kit: ServiceKit,
  projectId: number,
  contentOf?: (type: DocumentType) => string,
): Promise<number> {
  try {
    return await kit.store.transaction((tx) => createProjectDocuments(kit, tx, projectId, null, new Date(), contentOf));
  } catch (e) {
    if (e instanceof ConcurrencyError) return 0; // another instance created them meanwhile
    throw e;
  }
}

/**
 * Gives every stored project the documents of types added since it was created (at boot: a new
 * document type reaches existing projects without moving any of their documents).
 */
export async function ensureEveryProjectsDocuments(kit: ServiceKit): Promise<number> {
  const client = await kit.pool.connect();
  let projectIds: number[];
  try {
    projectIds = await projectsMissingDocuments(client, DOCUMENT_TYPES);
  } finally {
    client.release();
  }
  let added = 0;
  for (const projectId of projectIds) added += await ensureProjectDocuments(kit, projectId);
  return added;
}

/** Adds a member or changes their role (the projects API). */
export function putMember(kit: ServiceKit, projectId: number, member: ProjectMember, changedBy: number | null) {
  return runStreamCommand(
    kit.store,
    projectCommand(projectId, (now) => ({ type: 'PutMember', data: { member, changedBy, now } })),
  );
}

/** The documents of the project whose lock the user holds. */
async function documentsLockedBy(tx: EventStoreTx, projectId: number, userId: number): Promise<number[]> {
  const { rows } = await tx.client.query<{ id: string }>(
    'SELECT id FROM documents.documents WHERE project_id = $1 AND lock_user_id = $2 ORDER BY id',
    [projectId, userId],
  );
  return rows.map((r) => Number(r.id));
}

/**
 * Removes a member and, in the same transaction, releases every lock they hold in the project
 * (reason `revoked`, note `removed from the project`): whoever is removed keeps nothing.
 *
 * The documents they hold are read, and their streams reserved with the project's, before anything
 * is written: a save of one of them then either commits before this transaction takes its id or
 * waits for it, and the relay publishes the document's versions in order (docs/consistency.md,
 * rule 3). A lock they took between that read and the release is not reserved: the release throws
 * StreamNotReserved and the command runs again, reading their documents again.
 *
 * A lock being taken while this runs cannot outlive it: taking one holds the member's row in its own
 * transaction (`holdMembership`), so this transaction's DELETE of that row waits for it to commit, and
 * the release's read of their documents, a later statement, sees the lock; a lock asked for after the
 * DELETE waits for this transaction and is refused once it commits.
 */
export function removeMember(kit: ServiceKit, projectId: number, userId: number, changedBy: number | null) {
  return runStreamCommand(
    kit.store,
    projectCommand(
      projectId,
      (now) => ({ type: 'RemoveMember', data: { userId, changedBy, now } }),
      async (tx, now) => {
        for (const documentId of await documentsLockedBy(tx, projectId, userId)) {
          await decideInTransaction(
            tx,
            documentCommand(
              kit,
              documentId,
              projectId,
              (doc) => {
                if (doc.status === 'absent' || doc.lock?.userId !== userId) return [];
                const released: LockReleased = {
                  type: 'LockReleased',
                  data: {
                    document_id: doc.documentId,
                    project_id: projectId,
                    user_id: userId,
                    connection_id: doc.lock.connectionId,
                    reason: 'revoked',
                    released_at: now.toISOString(),
                    note: 'removed from the project',
                    ...(changedBy === null ? {} : { by_user_id: changedBy }),
                  },
                };
                return [released];
              },
              () => undefined,
            ),
          );
        }
      },
      async (tx) => (await documentsLockedBy(tx, projectId, userId)).map(documentStreamId),
    ),
  );
}
