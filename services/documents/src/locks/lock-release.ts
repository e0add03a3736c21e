import { ConnectionClosedNotice, ConnectionEvictedData, PublishedEvent, subjects } from '@siteflow/contracts';
import { consumeEvents, runStreamCommand, type ServiceKit } from '@siteflow/servicekit';
import type { DocumentsConfig } from '../config.js';
import { documentCommand } from '../documents/document-stream.js';
import { documentsLockedBy, lapsedLocks } from '../documents/documents.read-model.js';
import { decideLock } from './decide.js';
import { lockMetrics } from './locks.metrics.js';

export const EVICTIONS_CONSUMER = 'documents-presence-evictions';
const EVICTIONS_FILTER = 'project.*.ev.presence.ConnectionEvicted';
const SWEEP_BATCH = 100;

/** Releases, with reason `disconnected`, every lock the connection holds. */
export async function releaseConnectionLocks(kit: ServiceKit, connectionId: string): Promise<number> {
  const client = await kit.pool.connect();
  let ids: number[];
  try {
    ids = await documentsLockedBy(client, connectionId);
  } finally {
    client.release();
  }
  // Each document on its own: one that fails does not keep the connection's other locks held.
  let released = 0;
  const failed: number[] = [];
  for (const id of ids) {
    try {
      released += await runStreamCommand(
        kit.store,
        documentCommand(
          kit,
          id,
          null,
          (s, { now }) => decideLock({ type: 'ReleaseConnectionLock', data: { connectionId, now } }, s),
          ({ events }) => events.length,
        ),
      );
    } catch (err) {
      kit.logger.warn({ err, document_id: id, connection_id: connectionId }, 'releasing a lock of a closed connection failed');
      failed.push(id);
    }
  }
  // The caller retries (an eviction is redelivered); the lease covers a notice that is not.
  if (failed.length > 0) throw new Error(`could not release the locks of connection ${connectionId} on documents ${failed.join(', ')}`);
  return released;
}

/**
 * Every instance sweeps; two instances expiring the same lock queue on the document's row and the
 * second finds it already released, so each expiry is recorded once.
 */
export function startLockSweep(kit: ServiceKit): () => void {
  const interval = (kit.config as DocumentsConfig).LOCK_SWEEP_MS;
  const { expiries } = lockMetrics(kit.metrics.registry, kit.pool);
  let running = false;
  let stopped = false;
  // Read through a call: TypeScript would keep the narrowing of the first check across the awaits.
  const isStopped = () => stopped;
  const sweep = async () => {
    if (running || stopped) return;
    running = true;
    try {
      const client = await kit.pool.connect();
      let ids: number[];
      try {
        ids = await lapsedLocks(client, new Date(), SWEEP_BATCH);
      } finally {
        client.release();
      }
      // Each lock on its own: one document that cannot be released (its row locked past the
      // statement timeout, a broken row) is tried again next round and holds back no other.
      for (const id of ids) {
        if (isStopped()) break;
        try {
          const expired = await runStreamCommand(
            kit.store,
            documentCommand(
              kit,
              id,
              null,
              (s, { now }) => decideLock({ type: 'ExpireLock', data: { now } }, s),
              ({ events }) => events.length > 0,
            ),
          );
          if (expired) expiries.inc();
        } catch (err) {
          if (!isStopped()) kit.logger.warn({ err, document_id: id }, 'releasing a lapsed lock failed; trying again next round');
        }
      }
    } catch (err) {
      if (!isStopped()) kit.logger.warn({ err }, 'lock sweep failed; trying again next round');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), interval);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/**
 * A closed socket releases its locks at once. Core NATS in the service's queue group: one instance
 * handles each notice; one lost while no instance runs is covered by the lease.
 */
export function releaseOnConnectionClosed(kit: ServiceKit): void {
  kit.nats.subscribe(subjects.connectionClosed, {
    queue: kit.name,
    callback: (err, msg) => {
      if (err) {
        kit.logger.warn({ err }, 'connection-closed subscription failed');
        return;
      }
      let notice: ConnectionClosedNotice;
      try {
        const parsed = ConnectionClosedNotice.safeParse(msg.json());
        if (!parsed.success) {
          kit.logger.warn({ subject: msg.subject }, 'malformed connection-closed notice dropped');
          return;
        }
        notice = parsed.data;
      } catch {
        kit.logger.warn({ subject: msg.subject }, 'connection-closed notice is not JSON');
        return;
      }
      releaseConnectionLocks(kit, notice.connection_id).catch((e: unknown) =>
        kit.logger.error(
          { err: e, connection_id: notice.connection_id, user: notice.user_id, projects: notice.project_ids },
          'releasing the locks of a closed connection failed',
        ),
      );
    },
  });
}

/**
 * Presence evicts the connections of a crashed gateway (nobody sent `connection.closed` for them):
 * a durable JetStream consumer shared by every instance, acked only once the locks are released,
 * so an eviction that arrives while the service is down is handled when it is back.
 */
export function releaseOnConnectionEvicted(kit: ServiceKit): { stop(): Promise<void> } {
  return consumeEvents(kit, {
    from: 'presence',
    durable: EVICTIONS_CONSUMER,
    filterSubject: EVICTIONS_FILTER,
    schema: PublishedEvent,
    handle: async (event) => {
      const data = ConnectionEvictedData.safeParse(event.data);
      if (!data.success) {
        kit.logger.warn({ type: event.type }, 'malformed ConnectionEvicted dropped');
        return;
      }
      await releaseConnectionLocks(kit, data.data.connection_id);
    },
  });
}
