import { randomUUID } from 'node:crypto';
import { AppError, type Broadcast } from '@siteflow/contracts';
import type { EventStoreTx, NewEvent } from '@siteflow/eventstore';
import type { NatsConnection } from '@nats-io/transport-node';
import type { StreamChange, StreamCommand } from '@siteflow/servicekit';

/** Where the server's max_payload is known (the service's NATS connection). */
export type PublishLimit = { nats: Pick<NatsConnection, 'info'> };
import { documentStreamId, evolve, initialDocumentState, type DocumentEvent, type DocumentState } from './document.js';
import { documentOf, documentQuery, documentStateWrite, versionInsert } from './documents.read-model.js';

/** What clients see of an event (null: nobody is told). */
function broadcastOf(e: DocumentEvent): Broadcast | null {
  switch (e.type) {
    case 'DocumentCreated':
    case 'LockRenewed':
      return null;
    case 'LockAcquired': {
      const d = e.data;
      return {
        event: 'document:locked',
        payload: { document_id: d.document_id, user_id: d.user_id, username: d.username, locked_at: d.locked_at, expires_at: d.expires_at },
      };
    }
    case 'LockReleased':
      return { event: 'document:unlocked', payload: { document_id: e.data.document_id, user_id: e.data.user_id, reason: e.data.reason } };
    case 'LockRevoked': {
      // The holder is the one told (on their user topic): the payload says who revoked it, not to whom.
      const d = e.data;
      const payload = {
        document_id: d.document_id,
        project_id: d.project_id,
        by_user_id: d.by_user_id,
        by_username: d.by_username,
        ...(d.reason === undefined ? {} : { reason: d.reason }),
        revoked_at: d.revoked_at,
      };
      return { event: 'document:lock_revoked', payload };
    }
    case 'DocumentSaved': {
      const d = e.data;
      const payload = {
        document_id: d.document_id,
        version: d.version,
        updated_by: d.saved_by_name,
        updated_by_id: d.saved_by,
        updated_at: d.saved_at,
      };
      // The content (up to 512 KiB) is stored and published once, in the data: the gateway adds it
      // to the payload it pushes.
      const payload_from_data = { content: 'content' };
      // The saving editor already has its text (its reply carries the version); a restore changes
      // the text under the restorer too, so it is told as well.
      return d.restored_from === null
        ? { event: 'document:updated', payload, payload_from_data, exclude_connection_id: d.connection_id }
        : { event: 'document:updated', payload, payload_from_data };
    }
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

/** A revocation is the former holder's own notification: it goes to their `user:<id>` topic. */
export function toNewEvent(e: DocumentEvent): NewEvent {
  const base = { id: randomUUID(), type: e.type, data: e.data, broadcast: broadcastOf(e) };
  return e.type === 'LockRevoked' ? { ...base, projectId: null, userId: e.data.user_id } : { ...base, projectId: e.data.project_id };
}

/** Room for the published envelope around data and broadcast (ids, subject, headers). */
const ENVELOPE_BYTES = 4096;

/**
 * A stored event the relay cannot publish (over the server's max_payload) would stall the outbox for
 * every project, so such a command is refused before anything is stored. A save's content is in its
 * event once (the `document:updated` broadcast takes it from the data), but text heavy in JSON
 * escapes can still double in size: a 512 KiB document of quotes is a 1 MiB event.
 */
function assertPublishable(kit: PublishLimit, stored: NewEvent[]): void {
  const max = kit.nats.info?.max_payload;
  if (!max) return;
  for (const { data, broadcast } of stored) {
    const size = Buffer.byteLength(JSON.stringify({ data, broadcast }), 'utf8') + ENVELOPE_BYTES;
    if (size > max) {
      throw new AppError(
        'payload_too_large',
        `this content is too large to publish (${size} bytes as an event; the message bus takes ${max})`,
        {
          size,
          max,
        },
      );
    }
  }
}

/** A document that exists: what every command but its creation works on. */
export type ExistingDocument = Extract<DocumentState, { status: 'exists' }>;

/**
 * A command against one document's stream (run it with `runStreamCommand`, or `decideInTransaction`
 * inside another command's transaction). The state is loaded from the document's read-model row, at
 * the stream version `lockStream` returned. `projectId` confines the command to the caller's project
 * (null: internal callers such as the sweep, and creation, which finds no document).
 */
export function documentCommand<R>(
  kit: PublishLimit,
  documentId: number,
  projectId: number | null,
  decide: (state: DocumentState, context: { now: Date; tx: EventStoreTx }) => DocumentEvent[] | Promise<DocumentEvent[]>,
  reply: (change: StreamChange<DocumentState, DocumentEvent>) => R,
): StreamCommand<DocumentState, DocumentEvent, R> {
  return {
    streamId: documentStreamId(documentId),
    // Its row, read with BEGIN and the stream's lock (after it: exact), in one round trip.
    first: () => documentQuery(documentId),
    load: async (tx, version, first) => {
      const state =
        version === 0
          ? initialDocumentState
          : (documentOf(first ?? (await tx.client.query(documentQuery(documentId)))) ?? initialDocumentState);
      if (projectId !== null && (state.status === 'absent' || state.projectId !== projectId)) {
        throw new AppError('not_found', `document ${documentId} does not exist in this project`);
      }
      return state;
    },
    decide,
    evolve,
    toNewEvent: (e) => toNewEvent(e),
    accept: (stored) => assertPublishable(kit, stored),
    // With COMMIT, in its round trip: nothing later in the transaction reads these rows (a removed
    // member's release and a new project's documents each write documents of their own). The row
    // goes before its version (document_versions references it).
    project: (tx, { after, events, version }) => {
      const stored = events.findLast((e) => e.type === 'DocumentCreated' || e.type === 'DocumentSaved');
      const write = documentStateWrite(after, version, stored ? stored.data.content : null);
      if (write) tx.atCommit(write);
      for (const e of events) if (e.type === 'DocumentCreated' || e.type === 'DocumentSaved') tx.atCommit(versionInsert(e));
      return Promise.resolve();
    },
    reply,
  };
}

/** The state after a command that needs the document to exist (its load refused an absent one). */
export function existing(state: DocumentState): ExistingDocument {
  if (state.status === 'absent') throw new AppError('not_found', 'no such document');
  return state;
}
