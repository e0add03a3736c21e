import { randomUUID } from 'node:crypto';
import { AppError, type Broadcast } from '@siteflow/contracts';
import type { EventStoreTx, NewEvent } from '@siteflow/eventstore';
import { retryOnConcurrency, type ServiceKit } from '@siteflow/servicekit';
import { documentStreamId, evolve, type DocumentEvent, type DocumentState } from './document.js';
import { insertVersion, loadDocumentForUpdate, writeDocumentState } from './documents.read-model.js';

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
      const { user_id: _holder, ...payload } = e.data;
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
        content: d.content,
      };
      // The saving editor already has its text (its reply carries the version); a restore changes
      // the text under the restorer too, so it is told as well.
      return d.restored_from === null
        ? { event: 'document:updated', payload, exclude_connection_id: d.connection_id }
        : { event: 'document:updated', payload };
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

/** Appends a document's events and projects them, in the caller's transaction (append first). */
export async function appendDocumentEvents(
  tx: EventStoreTx,
  state: DocumentState,
  streamVersion: number,
  events: DocumentEvent[],
  now: Date,
) {
  if (events.length === 0) return { state, streamVersion };
  const streamId = documentStreamId(events[0]!.data.document_id);
  const { nextVersion } = await tx.append(streamId, events.map(toNewEvent), { expectedVersion: streamVersion, now });
  const next = events.reduce(evolve, state);
  await writeDocumentState(tx.client, next, nextVersion);
  for (const e of events) if (e.type === 'DocumentCreated' || e.type === 'DocumentSaved') await insertVersion(tx.client, e);
  return { state: next, streamVersion: nextVersion };
}

/** Room for the published envelope around data and broadcast (ids, subject, headers). */
const ENVELOPE_BYTES = 4096;

/**
 * A stored event the relay cannot publish (over the server's max_payload) would stall the outbox for
 * every project, so such a command is refused before anything is stored. A save carries its content
 * twice (event data and the `document:updated` broadcast), which text heavy in JSON escapes can push
 * over the limit even below 512 KiB.
 */
function assertPublishable(kit: ServiceKit, events: DocumentEvent[]): void {
  const max = kit.nats.info?.max_payload;
  if (!max) return;
  for (const e of events) {
    const { data, broadcast } = toNewEvent(e);
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

/**
 * Runs one command against one document: load (row-locked) → decide → append with the expected
 * stream version → project, all in one transaction. `projectId` confines the command to the
 * caller's project (null: internal callers such as the sweep). Returns the events and the new state.
 */
export type DocumentCommandResult = { events: DocumentEvent[]; state: Extract<DocumentState, { status: 'exists' }> };

/**
 * `reply` turns the result into the command's reply inside the transaction: that (small) value is
 * what an idempotency key records (a saved document's events and state carry its whole text).
 */
export function runDocumentCommand(
  kit: ServiceKit,
  documentId: number,
  projectId: number | null,
  decide: (state: DocumentState, now: Date, tx: EventStoreTx) => DocumentEvent[] | Promise<DocumentEvent[]>,
): Promise<DocumentCommandResult>;
export function runDocumentCommand<R>(
  kit: ServiceKit,
  documentId: number,
  projectId: number | null,
  decide: (state: DocumentState, now: Date, tx: EventStoreTx) => DocumentEvent[] | Promise<DocumentEvent[]>,
  reply: (result: DocumentCommandResult) => R,
): Promise<R>;
export function runDocumentCommand<R>(
  kit: ServiceKit,
  documentId: number,
  projectId: number | null,
  decide: (state: DocumentState, now: Date, tx: EventStoreTx) => DocumentEvent[] | Promise<DocumentEvent[]>,
  reply?: (result: DocumentCommandResult) => R,
): Promise<R | DocumentCommandResult> {
  return retryOnConcurrency(() =>
    kit.store.transaction(async (tx) => {
      const loaded = await loadDocumentForUpdate(tx.client, documentId);
      if (!loaded || (projectId !== null && loaded.state.projectId !== projectId)) {
        throw new AppError('not_found', `document ${documentId} does not exist in this project`);
      }
      const now = new Date();
      const events = await decide(loaded.state, now, tx);
      assertPublishable(kit, events);
      const result = await appendDocumentEvents(tx, loaded.state, loaded.streamVersion, events, now);
      const done: DocumentCommandResult = { events, state: result.state as Extract<DocumentState, { status: 'exists' }> };
      return reply ? reply(done) : done;
    }),
  );
}
