import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { createEventStore, startOutboxRelay, toPublishedEvent, type EventStore, type OutboxRelay, type RecordedEvent } from './index.js';
import { eventually, newEvents, useTestEnv, readJetStream, silentLogger } from './test-fixtures/harness.js';

const env = useTestEnv();
let nc: NatsConnection;

beforeAll(async () => {
  nc = await env().natsConnection();
});

async function migratedStore(schema: string): Promise<EventStore> {
  const store = createEventStore({ pool: env().newPool(5), schema });
  await store.migrate();
  return store;
}

/** Appends `transactions` transactions of `perTransaction` events each, concurrently, over a few streams. */
async function appendConcurrently(store: EventStore, transactions: number, perTransaction: number): Promise<RecordedEvent[]> {
  const results = await Promise.all(
    Array.from({ length: transactions }, (_, i) =>
      store.transaction((tx) =>
        tx.append(`thing-${i % 4}`, newEvents(perTransaction, `Thing${i % 3}`, 1 + (i % 2)), { expectedVersion: 'any' }),
      ),
    ),
  );
  return results.flatMap((r) => r.recorded);
}

/**
 * The checkpointed global order is the order the relay must publish in: once all `count` committed
 * events are readable. readAll holds back everything from the oldest running transaction on, and
 * transaction ids are the whole Postgres cluster's: a transaction of another test file's database
 * (files run two at a time) held ours back once, and an early read saw none of them.
 */
const globalOrder = (store: EventStore, count: number) =>
  eventually(
    () => store.readAll({ limit: 10_000 }),
    (events) => events.length >= count,
    10_000,
  );
const ids = (events: RecordedEvent[]) => events.map((e) => e.eventId);

describe('outbox relay', () => {
  it('publishes committed events in global order, once each, with msgID = event id, woken by NOTIFY', async () => {
    const store = await migratedStore('relay_order');
    const { stream, subjectFor } = env().newStream('order');
    // A poll interval far beyond the test's patience: only LISTEN/NOTIFY can wake the relay in time.
    const relay = await startOutboxRelay({
      store,
      nats: nc,
      logger: silentLogger,
      stream,
      subjectFor,
      pollIntervalMs: 60_000,
      batchSize: 8,
    });
    expect(relay.isLeader).toBe(true);

    // Committed by another process's store (the relay's own store would wake it directly).
    const writer = createEventStore({ pool: env().newPool(5), schema: 'relay_order' });
    const appended = await appendConcurrently(writer, 10, 3);
    const published = await eventually(
      () => readJetStream(nc, stream.name),
      (msgs) => msgs.length >= appended.length,
    );
    const expected = await globalOrder(store, 30);
    expect(expected).toHaveLength(30);
    expect(published.map((m) => m.msgId)).toEqual(ids(expected));
    expect(published.map((m) => m.event)).toEqual(expected.map((e) => toPublishedEvent(e)));
    expect(published.map((m) => m.subject)).toEqual(expected.map(subjectFor));
    expect(new Set(published.map((m) => m.msgId)).size).toBe(30);

    const { config } = await (await jetstreamManager(nc)).streams.info(stream.name);
    expect(config).toMatchObject({ subjects: stream.subjects, storage: StorageType.File, duplicate_window: nanos(120_000) });

    await relay.flush(5000);
    await relay.stop();
    expect(relay.isLeader).toBe(false);
    const { rows: locks } = await store.pool.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(locks).toEqual([]);
  });

  it("wakes a leader in its own process without a NOTIFY; another process's commit, whose relay stands by, notifies", async () => {
    const store = await migratedStore('relay_local');
    const other = createEventStore({ pool: env().newPool(5), schema: 'relay_local' });
    const { stream, subjectFor } = env().newStream('local');
    // Polls far beyond the test's patience: only a wake-up, in-process or by NOTIFY, publishes in time.
    const common = { logger: silentLogger, stream, subjectFor, pollIntervalMs: 60_000, leaderRetryMs: 60_000 };
    const leader = await startOutboxRelay({ ...common, store, nats: nc });
    const standby = await startOutboxRelay({ ...common, store: other, nats: await env().natsConnection() });
    expect([leader.isLeader, standby.isLeader]).toEqual([true, false]);
    const listener = await env().newPool(1).connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query('LISTEN "relay_local_events"');
    // Each commit once the leader is idle (everything published and its checkpoint saved, so
    // nothing but a wake-up makes it read before its poll), and then published in time.
    const idle = () =>
      eventually(
        async () =>
          (
            await store.pool.query<{ done: boolean }>(
              `SELECT (SELECT global_position FROM relay_local.outbox_checkpoint WHERE name = $1) =
                      (SELECT max(global_position) FROM relay_local.events) AS done`,
              [stream.name],
            )
          ).rows[0]?.done === true,
        (done) => done,
        10_000,
      );
    const publishedAfter = async (commit: () => Promise<unknown>, count: number) => {
      await commit();
      const msgs = await eventually(
        () => readJetStream(nc, stream.name),
        (all) => all.length >= count,
        10_000,
      );
      expect(msgs.length, "published before the relay's poll").toBeGreaterThanOrEqual(count);
      expect(await idle(), 'the relay idle again').toBe(true);
    };
    try {
      // The leader's own process: a plain append, one that rides with COMMIT, a group append.
      await publishedAfter(() => store.transaction((tx) => tx.append('here-1', newEvents(1), { expectedVersion: 'no_stream' })), 1);
      await publishedAfter(
        () =>
          store.transaction(async (tx) => {
            await tx.appendAtCommit('here-2', newEvents(1), { expectedVersion: await tx.lockStream('here-2') });
          }),
        2,
      );
      await publishedAfter(
        () => store.transaction((tx) => tx.appendToStreams([{ streamId: 'here-3', expectedVersion: 0, events: newEvents(2) }])),
        4,
      );
      // The other process: its relay stands by, so it notifies, and the leader hears it.
      await publishedAfter(() => other.transaction((tx) => tx.append('there-1', newEvents(1), { expectedVersion: 'no_stream' })), 5);
      const published = await readJetStream(nc, stream.name);
      expect(published.map((m) => m.event.stream_id)).toEqual(['here-1', 'here-2', 'here-3', 'here-3', 'there-1']);
      // Notifications arrive in commit order: had the leader's process notified, they would be first.
      await eventually(
        () => Promise.resolve(heard.length),
        (n) => n >= 1,
        10_000,
      );
      expect(heard).toEqual(['relay_local_events']);

      // A stopped relay is detached from its store, which notifies again.
      await Promise.all([leader.stop(), standby.stop()]);
      await store.transaction((tx) => tx.append('here-4', newEvents(1), { expectedVersion: 'no_stream' }));
      await eventually(
        () => Promise.resolve(heard.length),
        (n) => n >= 2,
        10_000,
      );
      expect(heard).toEqual(['relay_local_events', 'relay_local_events']);
    } finally {
      listener.release();
      await Promise.all([leader.stop(), standby.stop()]);
    }
  });

  it('publishes events that an open transaction held back soon after it ends, though its end announces nothing', async () => {
    const store = await migratedStore('relay_held_back');
    const { stream, subjectFor } = env().newStream('heldback');
    // Only NOTIFY could wake it in time, and the holder's end sends none (it writes nothing here:
    // in a CI run it was another test file's transaction, in another database).
    const relay = await startOutboxRelay({ store, nats: nc, logger: silentLogger, stream, subjectFor, pollIntervalMs: 60_000 });
    const holder = await env().newPool(1).connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_current_xact_id()'); // holds the horizon from here
      const appended = await appendConcurrently(store, 3, 2);
      // Announced, and held back: the relay reads nothing of it while the holder is open.
      await new Promise((r) => setTimeout(r, 300));
      expect(await readJetStream(nc, stream.name)).toEqual([]);
      await holder.query('COMMIT');
      const published = await eventually(
        () => readJetStream(nc, stream.name),
        (msgs) => msgs.length >= appended.length,
        10_000,
      );
      expect(published.map((m) => m.msgId).sort()).toEqual(ids(appended).sort());
    } finally {
      holder.release();
      await relay.stop();
    }
  });

  it('saves its checkpoint at most once per interval while busy, and at the latest when it stops', async () => {
    const schema = 'relay_checkpoint';
    const store = await migratedStore(schema);
    const { stream, subjectFor } = env().newStream('checkpoint');
    const relay = await startOutboxRelay({
      store,
      nats: nc,
      logger: silentLogger,
      stream,
      subjectFor,
      checkpointIntervalMs: 60_000,
      batchSize: 2,
    });
    // Global order is (transaction id, position), not position alone: the first transaction takes
    // its id, the next two append and commit, then it appends its own and commits. Its events are
    // first in global order with the highest positions, and hold the others back until it commits,
    // so the relay's first batch of two is exactly its events. (A CI run once met this order by
    // chance, and a check that compared positions as numbers took the first checkpoint for the last.)
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const hasId = new Promise<void>((resolve) => (started = resolve));
    const first = store.transaction(async (tx) => {
      await tx.client.query('SELECT pg_current_xact_id()');
      started();
      await released;
      return tx.append('thing-first', newEvents(2, 'Thing0'), { expectedVersion: 'any' });
    });
    await hasId;
    await appendConcurrently(store, 1, 2);
    await appendConcurrently(store, 1, 2);
    release();
    await first;
    const expected = await globalOrder(store, 6);
    expect(expected).toHaveLength(6);
    expect(expected.slice(0, 2).map((e) => e.streamId)).toEqual(['thing-first', 'thing-first']);
    expect(expected[1]!.globalPosition).toBeGreaterThan(expected.at(-1)!.globalPosition);
    await eventually(
      () => readJetStream(nc, stream.name),
      (msgs) => msgs.length >= expected.length,
    );
    // All published, in three batches: the first batch's checkpoint is saved (the interval starts
    // there), the rest waits for the interval or the stop.
    const saved = async () =>
      (
        await store.pool.query<{ transaction_id: string; global_position: string }>(
          `SELECT transaction_id::text AS transaction_id, global_position FROM ${schema}.outbox_checkpoint`,
        )
      ).rows.map((r) => ({ transactionId: r.transaction_id, globalPosition: Number(r.global_position) }));
    const at = (e: RecordedEvent) => ({ transactionId: e.transactionId, globalPosition: e.globalPosition });
    expect(await saved()).toEqual([at(expected[1]!)]);
    await relay.stop();
    expect(await saved()).toEqual([at(expected.at(-1)!)]);
  });

  it('passes over the events it does not publish: the others in global order, the checkpoint past all of them', async () => {
    const schema = 'relay_private';
    const store = await migratedStore(schema);
    const { stream, subjectFor } = env().newStream('private');
    const publishes = (e: RecordedEvent) => e.type !== 'Thing1';
    const relay = await startOutboxRelay({ store, nats: nc, logger: silentLogger, stream, subjectFor, publishes, batchSize: 4 });
    await appendConcurrently(store, 10, 2);
    // The last events are all private: flush still returns, once the relay has passed them.
    await store.transaction((tx) => tx.append('thing-private', newEvents(3, 'Thing1'), { expectedVersion: 'any' }));
    await relay.flush(10_000);
    const expected = await globalOrder(store, 23);
    expect(expected.filter((e) => !publishes(e)).length).toBeGreaterThan(3);
    const published = await readJetStream(nc, stream.name);
    expect(published.map((m) => m.msgId)).toEqual(ids(expected.filter(publishes)));
    await relay.stop();
    const { rows } = await store.pool.query<{ p: string }>(`SELECT global_position::text AS p FROM ${schema}.outbox_checkpoint`);
    expect(rows.map((r) => Number(r.p))).toEqual([expected.at(-1)!.globalPosition]);
  });

  it('keeps retrying through broker errors: publishes once the stream is back', async () => {
    const store = await migratedStore('relay_retry');
    const { stream, subjectFor } = env().newStream('retry');
    const relay = await startOutboxRelay({ store, nats: nc, logger: silentLogger, stream, subjectFor, pollIntervalMs: 100 });
    await appendConcurrently(store, 2, 1);
    await relay.flush(5000);

    // Someone deletes the stream: publishing fails until the relay ensures it again.
    await (await jetstreamManager(nc)).streams.delete(stream.name);
    await appendConcurrently(store, 3, 1);
    await relay.flush(10_000);
    const expected = await globalOrder(store, 5);
    expect((await readJetStream(nc, stream.name)).map((m) => m.msgId)).toEqual(ids(expected.slice(2)));
    expect(relay.isLeader).toBe(true);
    await relay.stop();
  });

  it('elects one leader among relays on the same schema; a standby takes over; each event is published once', async () => {
    const store = await migratedStore('relay_pair');
    const other = createEventStore({ pool: env().newPool(5), schema: 'relay_pair' });
    const { stream, subjectFor } = env().newStream('pair');
    const common = { logger: silentLogger, stream, subjectFor, leaderRetryMs: 100, pollIntervalMs: 200, batchSize: 16 };
    const relays: OutboxRelay[] = await Promise.all([
      startOutboxRelay({ ...common, store, nats: nc }),
      startOutboxRelay({ ...common, store: other, nats: await env().natsConnection() }),
    ]);
    const leaders = () => relays.filter((r) => r.isLeader);
    expect(leaders()).toHaveLength(1);

    await appendConcurrently(store, 20, 2);
    await Promise.all(relays.map((r) => r.flush(10_000)));
    expect(leaders()).toHaveLength(1);
    let published = await readJetStream(nc, stream.name);
    expect(published.map((m) => m.msgId)).toEqual(ids(await globalOrder(store, 40)));

    // The leader's database session dies: leadership is taken again, by one relay.
    const { rows: killed } = await store.pool.query<{ pid: number }>(
      `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-relay:relay_pair'
          AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
    );
    expect(killed).toHaveLength(1);
    await appendConcurrently(store, 10, 1);
    await eventually(
      () => Promise.resolve(leaders().length),
      (n) => n === 1,
    );
    expect(leaders()).toHaveLength(1);
    await Promise.all(relays.map((r) => r.flush(10_000)));

    // The leader stops: the standby takes over.
    const leader = leaders()[0]!;
    const standby = relays.find((r) => r !== leader)!;
    await leader.stop();
    await appendConcurrently(store, 10, 1);
    await eventually(
      () => Promise.resolve(standby.isLeader),
      (isLeader) => isLeader,
    );
    expect(standby.isLeader).toBe(true);
    await standby.flush(10_000);

    published = await readJetStream(nc, stream.name);
    const expected = await globalOrder(store, 60);
    expect(expected).toHaveLength(60);
    expect(published.map((m) => m.msgId)).toEqual(ids(expected));
    await standby.stop();
  });

  it('publishes once after a crash between publish and checkpoint, and catches up on events committed while no relay ran', async () => {
    const schema = 'relay_crash';
    const store = await migratedStore(schema);
    const { stream, subjectFor, prefix } = env().newStream('crash');
    const committed = await appendConcurrently(store, 5, 1);

    const child = spawn(process.execPath, [fileURLToPath(new URL('./test-fixtures/crash-relay.mjs', import.meta.url))], {
      env: {
        ...process.env,
        DATABASE_URL: env().db.url,
        NATS_URL: env().natsUrl,
        SCHEMA: schema,
        STREAM_NAME: stream.name,
        SUBJECT_PREFIX: prefix,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });

    // The first event (and, the publishes being pipelined, maybe more of the batch) reached
    // JetStream, in order, but no checkpoint was ever saved.
    const expected = await globalOrder(store, committed.length);
    expect(ids(expected).sort()).toEqual(ids(committed).sort());
    const beforeRestart = (await readJetStream(nc, stream.name)).map((m) => m.msgId);
    expect(beforeRestart.length).toBeGreaterThanOrEqual(1);
    expect(beforeRestart).toEqual(ids(expected).slice(0, beforeRestart.length));
    expect((await store.pool.query(`SELECT * FROM ${schema}.outbox_checkpoint`)).rows).toEqual([]);

    const common = { store, nats: nc, logger: silentLogger, stream, subjectFor, leaderRetryMs: 50, pollIntervalMs: 200 };
    const relay = await startOutboxRelay(common);
    await relay.flush(10_000);
    await relay.stop();
    expect((await readJetStream(nc, stream.name)).map((m) => m.msgId)).toEqual(ids(expected));

    // Committed while no relay runs: published when one starts.
    await appendConcurrently(store, 3, 1);
    const restarted = await startOutboxRelay(common);
    await restarted.flush(10_000);
    await restarted.stop();
    const all = await globalOrder(store, 8);
    expect(all).toHaveLength(8);
    expect((await readJetStream(nc, stream.name)).map((m) => m.msgId)).toEqual(ids(all));
  });
});

describe('outbox relay and poison events', () => {
  it('records an event no retry can publish (over max_payload) as a dead letter and publishes the ones behind it', async () => {
    const store = await migratedStore('relay_poison');
    const { stream, subjectFor } = env().newStream('poison');
    const given: string[] = [];
    const relay = await startOutboxRelay({
      store,
      nats: nc,
      logger: silentLogger,
      stream,
      subjectFor,
      onDeadLetter: (e) => given.push(e.eventId),
    });
    try {
      const maxPayload = nc.info!.max_payload;
      const [small] = newEvents(1, 'Small', 1);
      const [huge] = newEvents(1, 'Huge', 1);
      const [after] = newEvents(1, 'After', 1);
      const poison = { ...huge!, data: { text: 'x'.repeat(maxPayload + 1) } };
      const { recorded } = await store.transaction((tx) => tx.append('poison-1', [small!, poison, after!], { expectedVersion: 'any' }));
      // The relay pipelines a batch's publishes, so the event behind the poison one may be in the
      // stream before the poison one is recorded as a dead letter: wait for both.
      const published = await eventually(
        () => readJetStream(nc, stream.name),
        (msgs) => msgs.length >= 2 && given.length >= 1,
      );
      expect(published.map((m) => m.msgId)).toEqual([recorded[0]!.eventId, recorded[2]!.eventId]);
      expect(given).toEqual([recorded[1]!.eventId]);
      const { rows } = await store.pool.query<{ source: string; reason: string }>('SELECT source, reason FROM relay_poison.dead_letters');
      expect(rows).toEqual([{ source: 'outbox', reason: expect.stringContaining('max_payload') as string }]);
    } finally {
      await relay.stop();
    }
  });
});
