import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { retryWhileJetStreamForms, type JetStreamRetryOptions } from '@siteflow/eventstore';

/**
 * The presence bucket: one key per live connection, laid out exactly as a JetStream KV bucket
 * (`KV_<bucket>` stream, `$KV.<bucket>.<key>` subjects, `KV-Operation` headers, one message kept
 * per key, bucket TTL = stream max_age), so `@nats-io/kv` clients and `nats kv` see the same data.
 * It talks to JetStream directly because only compare-and-set puts/deletes, last-value reads and
 * a watch are needed, and `@nats-io/kv` (3.4, tried in place of this file) does not give them as
 * presence needs them: its `delete` ignores an expected revision of 0, so the eviction's "delete
 * only if nothing was written since" would become an unconditional delete; its watch signals
 * "initial values loaded" never when messages age out while it loads (this file's load checks
 * the stream instead); and it reads through direct get, whose permission subject differs between
 * nats-server 2.9 and later servers. See docs/presence-and-locks.md, "What is stored where".
 */
export const PRESENCE_BUCKET = 'presence';
const STREAM = `KV_${PRESENCE_BUCKET}`;
const PREFIX = `$KV.${PRESENCE_BUCKET}.`;
const OPERATION = 'KV-Operation';

export interface BucketEntry<V> {
  key: string;
  /** null for a deleted or purged key. */
  value: V | null;
  /** The stream sequence: what a compare-and-set expects. */
  revision: number;
  /** Server time of the write (ms), so every instance ages entries by the same clock. */
  writtenAt: number;
}

export class PresenceBucket<V> {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  static readonly streamName = STREAM;

  /**
   * Creates the bucket, or brings its max_age (the age at which any message, a delete marker
   * included, goes) to `maxAgeMs` and its size bound to `maxBytes`; concurrent instances may race
   * harmlessly. A full bucket drops its oldest keys (discard old), never refuses a write: those are
   * delete markers and the keys not rewritten longest, and a live connection whose key went is
   * tracked again by its gateway (a refresh reports fewer keys held than it has connections).
   *
   * With `ready.logger`, a JetStream cluster still forming (timeouts, no meta leader, not enough
   * peers for the replicas yet) is waited for, saying so, for up to `ready.timeoutMs` (default
   * 120 s); without it, the first failure is thrown. A refusal (conflicting settings, no
   * permission) is thrown at once either way.
   */
  static async open<V>(
    nats: NatsConnection,
    maxAgeMs: number,
    maxBytes?: number,
    replicas?: number,
    ready?: { logger: JetStreamRetryOptions['logger']; timeoutMs?: number },
  ): Promise<PresenceBucket<V>> {
    const attempt = () => PresenceBucket.ensure<V>(nats, maxAgeMs, maxBytes, replicas);
    if (!ready) return attempt();
    return retryWhileJetStreamForms(`creating or checking the presence bucket (stream ${STREAM})`, attempt, {
      logger: ready.logger,
      ...(ready.timeoutMs === undefined ? {} : { timeoutMs: ready.timeoutMs }),
    });
  }

  private static async ensure<V>(nats: NatsConnection, maxAgeMs: number, maxBytes?: number, replicas?: number): Promise<PresenceBucket<V>> {
    const jsm = await jetstreamManager(nats);
    const max_age = nanos(maxAgeMs);
    // Unset: leave the bound as it is (a tool or test opening the bucket does not decide it).
    const max_bytes = maxBytes === undefined ? undefined : maxBytes > 0 ? maxBytes : -1;
    const duplicate_window = nanos(Math.min(maxAgeMs, 120_000));
    for (let attempt = 1; ; attempt++) {
      try {
        const { config } = await jsm.streams.info(STREAM);
        if (
          config.max_age !== max_age ||
          (max_bytes !== undefined && config.max_bytes !== max_bytes) ||
          (replicas !== undefined && config.num_replicas !== replicas)
        ) {
          await jsm.streams.update(STREAM, {
            max_age,
            max_bytes: max_bytes ?? config.max_bytes,
            duplicate_window,
            num_replicas: replicas ?? config.num_replicas,
          });
        }
        break;
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      }
      try {
        await jsm.streams.add({
          name: STREAM,
          subjects: [`${PREFIX}>`],
          max_msgs_per_subject: 1,
          max_age,
          max_bytes: max_bytes ?? -1,
          duplicate_window,
          discard: DiscardPolicy.Old,
          storage: StorageType.File,
          allow_rollup_hdrs: true,
          deny_delete: true,
          allow_direct: true,
          num_replicas: replicas ?? 1,
        });
        break;
      } catch (err) {
        if (attempt >= 3) throw err; // otherwise another instance created it first: look again
      }
    }
    return new PresenceBucket<V>(jetstream(nats), jsm);
  }

  /** Writes a key that must not exist (or whose last write was a delete); null when it exists. */
  async create(key: string, value: V): Promise<number | null> {
    const m = await this.jsm.streams.getMessage(STREAM, { last_by_subj: PREFIX + key });
    if (m && !isDeleteMarker(m.header.get(OPERATION))) return null;
    return this.update(key, value, m ? m.seq : 0);
  }

  /** Writes `key` if its last revision is still `revision` (0 = no message at all); null otherwise. */
  async update(key: string, value: V, revision: number): Promise<number | null> {
    try {
      const ack = await this.js.publish(PREFIX + key, JSON.stringify(value), { expect: { lastSubjectSequence: revision } });
      return ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  /** Deletes `key` if its last revision is still `revision`; false when someone else changed it first. */
  async delete(key: string, revision: number): Promise<boolean> {
    const h = headers();
    h.set(OPERATION, 'DEL');
    try {
      await this.js.publish(PREFIX + key, undefined, { headers: h, expect: { lastSubjectSequence: revision } });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  /** The live value of `key`, or null when it was deleted or never written (or aged out). */
  async get(key: string): Promise<BucketEntry<V> | null> {
    const m = await this.jsm.streams.getMessage(STREAM, { last_by_subj: PREFIX + key });
    if (!m) return null;
    if (isDeleteMarker(m.header.get(OPERATION))) return null;
    return { key, value: m.json<V>(), revision: m.seq, writtenAt: m.time.getTime() };
  }

  /** The sequence of the last message of `key` (a delete marker included), 0 when there is none. */
  async lastRevision(key: string): Promise<number> {
    const m = await this.jsm.streams.getMessage(STREAM, { last_by_subj: PREFIX + key });
    return m ? m.seq : 0;
  }

  /**
   * Every key's current entry, then every change, in order (an ordered consumer: ephemeral, the
   * server drops it when this process goes away). `loaded` resolves once every entry that existed
   * when the watch started was delivered: before that, the view is partial.
   */
  async watch(onEntry: (e: BucketEntry<V>) => void): Promise<{ loaded: Promise<void>; stop(): void }> {
    const { state } = await this.jsm.streams.info(STREAM);
    const consumer = await this.js.consumers.get(STREAM, { filter_subjects: `${PREFIX}>`, deliver_policy: DeliverPolicy.LastPerSubject });
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => {
      markLoaded = resolve;
    });
    let isLoaded = false;
    let lastSeq = 0;
    const loadedNow = () => {
      if (isLoaded) return;
      isLoaded = true;
      markLoaded();
    };
    const messages: ConsumerMessages = await consumer.consume({
      callback: (m) => {
        lastSeq = m.seq;
        const key = m.subject.slice(PREFIX.length);
        const value = isDeleteMarker(m.headers?.get(OPERATION)) || m.data.length === 0 ? null : m.json<V>();
        onEntry({ key, value, revision: m.seq, writtenAt: m.time.getTime() });
        // The stream's last message is the last of its key, so it comes last; nothing pending says the same.
        if (m.seq >= state.last_seq || m.info.pending === 0) loadedNow();
      },
    });
    if (state.messages === 0) loadedNow();
    // Messages may age out between the stream info and the consumer: then the consumer itself
    // says whether anything is left to deliver.
    const check = setInterval(() => {
      if (isLoaded) {
        clearInterval(check);
        return;
      }
      void consumer.info().then(
        (info) => {
          if (info.num_pending === 0 && lastSeq >= info.delivered.stream_seq) loadedNow();
        },
        () => undefined,
      );
    }, 1_000);
    check.unref();
    return {
      loaded,
      stop: () => {
        clearInterval(check);
        void messages.close();
      },
    };
  }

  /**
   * One JetStream API round trip (the last message of a key that is never written): how the sweep
   * learns whether NATS answers promptly.
   */
  async probe(): Promise<void> {
    await this.jsm.streams.getMessage(STREAM, { last_by_subj: `${PREFIX}_probe` });
  }

  /** Keys that currently hold a value (deleted ones excluded), optionally under a key prefix. */
  async keys(filter = '>'): Promise<string[]> {
    const consumer = await this.js.consumers.get(STREAM, {
      filter_subjects: PREFIX + filter,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const keys: string[] = [];
    try {
      const info = await consumer.info(true);
      if (info.num_pending === 0) return keys;
      const messages = await consumer.consume();
      for await (const m of messages) {
        if (!isDeleteMarker(m.headers?.get(OPERATION))) keys.push(m.subject.slice(PREFIX.length));
        if (m.info.pending === 0) break;
      }
      await messages.close();
      return keys;
    } finally {
      // A one-off listing leaves no consumer behind (the server would drop it only after a while).
      await consumer.delete().catch(() => undefined);
    }
  }
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function isDeleteMarker(operation: string | undefined): boolean {
  return operation === 'DEL' || operation === 'PURGE';
}
