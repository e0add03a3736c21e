import { withoutIdempotencyKey, type EventStore, type EventStoreTx, type NewEvent } from '@siteflow/eventstore';
import type { QueryConfig, QueryResult } from 'pg';
import { retryOnConcurrency } from './handle.js';
import { SerialByKey } from './serial.js';

/**
 * One command against one event stream, the one way every service changes state:
 *
 *     lock the stream → load the state at its version → decide → append with that expected version
 *     → project the read models → reply
 *
 * all in one transaction. First the command's streams are reserved (`tx.reserveStreams`: advisory
 * locks, which take no transaction id) — its own and the others it writes (`alsoWrites`); then
 * locking the stream row (`tx.lockStream`) is the transaction's first write, so writers of one stream
 * queue instead of failing and retrying, what `load` reads after it is exact, and the relay's
 * `transaction_id` order is each stream's version order (docs/consistency.md, rule 3). A stream that
 * does not exist yet has no row: two commands creating it race, the second append fails with a
 * ConcurrencyError and the whole transaction runs again.
 *
 * `handle()` wraps it (parse, idempotency key, metrics, error replies); the transaction this runs is
 * the one an idempotency key is recorded in, with `reply`'s value as the outcome.
 */
export interface StreamCommand<S, E, R> {
  /** The stream the events are appended to. */
  streamId: string;
  /**
   * The other existing streams this command's transaction writes (a removed member's documents),
   * read before anything is written. They are reserved with `streamId`, sorted, before its first
   * write (`tx.reserveStreams`), so each of their writers is ordered with this one (docs/consistency.md,
   * rule 3). Streams the transaction creates need not be named. Writing an existing stream not named
   * here throws StreamNotReserved, and the whole transaction runs again (this is read again).
   */
  alsoWrites?(tx: EventStoreTx): readonly string[] | Promise<readonly string[]>;
  /**
   * The decision state at `version` (the locked stream's), from the read models (production) or by
   * folding the stream's events; both must agree (each service has a test that they do). May throw
   * an AppError (e.g. `not_found` for an aggregate outside the caller's project).
   */
  load(tx: EventStoreTx, version: number, first: QueryResult | null): Promise<S>;
  /**
   * The one statement `load` reads, if it reads one whatever the version: sent with BEGIN and the
   * stream's lock, after the lock, in one round trip (`first`: its result). Without it, or when
   * the command runs inside another's transaction, it is queried on its own.
   */
  first?(): QueryConfig<unknown[]>;
  /** The decider: the events the command leads to (none: nothing is written). `now` is taken once the stream is locked. */
  decide(state: S, context: { now: Date; tx: EventStoreTx }): E[] | Promise<E[]>;
  evolve(state: S, event: E): S;
  /** How an event is stored and published, given the state it leads to (its broadcast shows that state). */
  toNewEvent(event: E, after: S): NewEvent;
  /** Checked before anything is written (e.g. that each event can be published); throws to refuse. */
  accept?(stored: NewEvent[]): void;
  /** Brings the read models to `after`, in the same transaction, after the append (skipped when nothing happened). */
  project?(tx: EventStoreTx, change: StreamChange<S, E>): Promise<void>;
  /**
   * `project` for many changes at once, for a group commit (StreamCommandBatcher): the commands of
   * a batch that share this function (the same function object) are projected in one call.
   */
  projectMany?: (tx: EventStoreTx, changes: StreamChange<S, E>[]) => Promise<void>;
  /**
   * The command's reply, computed in the transaction: it is what an idempotency key records, so it
   * is kept small (a saved document's state carries its whole text).
   */
  reply(change: StreamChange<S, E>): R;
}

/** What a command did: the state before and after, its events and where they were stored. */
export interface StreamChange<S, E> {
  before: S;
  after: S;
  events: E[];
  /** The stream's version after the command (unchanged when it decided nothing). */
  version: number;
  now: Date;
}

/**
 * Queues the stream's commands in this process before they queue on its row (a burst holds one pool
 * connection, not one per waiter: the database's connection limit is shared by every instance), then
 * runs the command in a transaction of its own, again when a concurrent creator of the stream won.
 */
export function runStreamCommand<S, E, R>(
  store: EventStore,
  command: StreamCommand<S, E, R>,
  /** `readAhead`: the command folds its own stream (`tx.readStream`): it is read with BEGIN and the lock. */
  opts: { readAhead?: boolean } = {},
): Promise<R> {
  // Without other streams to reserve first (in sorted order with this one), the stream is locked in
  // BEGIN's round trip.
  return perStream.run(`${store.schema}:${command.streamId}`, () =>
    retryOnConcurrency(() => {
      // The command is the whole transaction, so its append rides with COMMIT (one round trip fewer).
      if (command.alsoWrites) return store.transaction((tx) => decideInTransaction(tx, command, null, { appendAtCommit: true }));
      const first = command.first?.();
      return store.transaction((tx) => decideInTransaction(tx, command, first ? tx.first : null, { appendAtCommit: true }), {
        lockStream: command.streamId,
        ...(first ? { first } : {}),
        ...(opts.readAhead ? { readStream: true } : {}),
      });
    }),
  );
}

const perStream = new SerialByKey<string>();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commands of any state and event types share a batch; each keeps its own types at run()
type AnyCommand = StreamCommand<any, any, unknown>;

interface Batched {
  command: AnyCommand;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export interface BatcherOptions {
  /** Commands in one transaction at most. */
  maxBatch: number;
  /** Transactions at once at most. */
  concurrency: number;
  /**
   * Read every stream of a batch in one statement before its commands run: for commands whose
   * `load` folds their own stream (`tx.readStream`), which is then answered without a query.
   */
  readAhead?: boolean;
}

/**
 * Group commit for many small commands of independent streams (presence's sessions: one per join):
 * commands that arrive while a transaction of theirs runs wait and then run together in the next
 * one, each through the same pipeline (`decideInTransaction`), their streams reserved together
 * first (sorted, before the first write: docs/consistency.md, rule 3). One BEGIN/COMMIT and one
 * flush of the log for many, instead of one each. If the batch fails, each of its commands runs
 * again alone, so one command's refusal is never another's. At most `concurrency` transactions at
 * once, of at most `maxBatch` commands. Not for commands under an idempotency key (a batch runs
 * outside any); nothing here needs one.
 */
export class StreamCommandBatcher {
  private readonly pending: Batched[] = [];
  private running = 0;
  /** Transactions run, and commands run in them (for tests and operators). */
  readonly stats = { transactions: 0, commands: 0 };

  constructor(
    private readonly store: EventStore,
    private readonly opts: BatcherOptions = { maxBatch: 64, concurrency: 2 },
  ) {}

  run<S, E, R>(command: StreamCommand<S, E, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ command, resolve: (v) => resolve(v as R), reject });
      if (this.running < this.opts.concurrency) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.opts.maxBatch);
        await withoutIdempotencyKey(() => this.runBatch(batch));
      }
    } finally {
      this.running--;
    }
  }

  private async runBatch(batch: Batched[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await retryOnConcurrency(() =>
          this.store.transaction(async (tx) => {
            // Each stream's first command runs in the batch's phases (decideManyInTransaction); a
            // stream's later commands then run one by one, after it, as they arrived.
            const seen = new Set<string>();
            const firsts: number[] = [];
            const later: number[] = [];
            batch.forEach((b, i) => {
              const single = seen.has(b.command.streamId) || b.command.alsoWrites !== undefined;
              (single ? later : firsts).push(i);
              seen.add(b.command.streamId);
            });
            await tx.reserveStreams(batch.map((b) => b.command.streamId));
            const out: unknown[] = new Array(batch.length);
            const decided = await decideManyInTransaction(
              tx,
              firsts.map((i) => batch[i]?.command).filter((c) => c !== undefined),
              this.opts.readAhead === true,
            );
            firsts.forEach((i, k) => (out[i] = decided[k]));
            for (const i of later) {
              const command = batch[i]?.command;
              if (command) out[i] = await decideInTransaction(tx, command);
            }
            return out;
          }),
        );
        this.stats.transactions++;
        this.stats.commands += batch.length;
        batch.forEach((b, i) => b.resolve(results[i]));
        return;
      } catch {
        // One of them (or the database) failed: each on its own, so each gets its own outcome.
      }
    }
    await Promise.all(
      batch.map((b) =>
        runStreamCommand(this.store, b.command, { readAhead: this.opts.readAhead === true }).then((r) => {
          this.stats.transactions++;
          this.stats.commands++;
          b.resolve(r);
        }, b.reject),
      ),
    );
  }
}

/**
 * The pipeline for commands of distinct streams (none with `alsoWrites`) in one transaction, in
 * phases, with the same outcome as decideInTransaction for each in turn: their streams reserved and
 * locked in two statements (and read in one, `readAhead`, for commands that fold their stream),
 * each loaded and decided, every event appended in one statement, then each projected (commands
 * sharing a `projectMany` together) and answered. A group commit's database work is then a few
 * statements, not a few per command.
 */
async function decideManyInTransaction(tx: EventStoreTx, commands: AnyCommand[], readAhead: boolean): Promise<unknown[]> {
  if (commands.length === 0) return [];
  const versions = await tx.lockStreams(commands.map((c) => c.streamId));
  if (readAhead) await tx.readStreams(commands.map((c) => c.streamId));
  const decided = [];
  for (const command of commands) {
    const version = versions.get(command.streamId) ?? 0;
    const before: unknown = await command.load(tx, version, await firstOf(tx, command, null));
    const now = new Date();
    const events: unknown[] = await command.decide(before, { now, tx });
    let after = before;
    const stored = events.map((e) => {
      after = command.evolve(after, e);
      return command.toNewEvent(e, after);
    });
    if (stored.length > 0) command.accept?.(stored);
    decided.push({ command, version, before, after, events, stored, now });
  }
  const writing = decided.filter((d) => d.events.length > 0);
  const appended = await tx.appendToStreams(
    writing.map((d) => ({ streamId: d.command.streamId, events: d.stored, expectedVersion: d.version, now: d.now })),
  );
  const changes = new Map<(typeof decided)[number], StreamChange<unknown, unknown>>();
  writing.forEach((d, i) => {
    const result = appended[i];
    if (!result) throw new Error(`no append result for stream ${d.command.streamId}`);
    changes.set(d, {
      before: d.before,
      after: d.after,
      events: d.events,
      version: result.nextVersion,
      now: d.now,
    });
  });
  const together = new Map<NonNullable<AnyCommand['projectMany']>, StreamChange<unknown, unknown>[]>();
  for (const d of writing) {
    const change = changes.get(d);
    if (!change) continue;
    const { projectMany } = d.command;
    if (projectMany) {
      const group = together.get(projectMany);
      if (group) group.push(change);
      else together.set(projectMany, [change]);
    } else if (d.command.project) {
      await d.command.project(tx, change);
    }
  }
  for (const [projectMany, group] of together) await projectMany(tx, group);
  return decided.map((d) =>
    d.command.reply(changes.get(d) ?? { before: d.before, after: d.before, events: [], version: d.version, now: d.now }),
  );
}

/**
 * The pipeline inside a transaction the caller owns, for a command that is part of another one (a
 * new project's documents, a removed member's locks). It reserves the command's streams, then locks
 * its stream. Inside another command it writes a stream that one reserved (its `alsoWrites`) or one
 * created in the transaction; an existing stream reserved late throws StreamNotReserved
 * (docs/consistency.md, rule 3).
 */
export async function decideInTransaction<S, E, R>(
  tx: EventStoreTx,
  command: StreamCommand<S, E, R>,
  first: QueryResult | null = null,
  /**
   * Send the append in COMMIT's round trip (`tx.appendAtCommit`): for a transaction that is this
   * command alone, whose caller does nothing after it but commit. Inside another command's
   * transaction, the append is sent at once.
   */
  opts: { appendAtCommit?: boolean } = {},
): Promise<R> {
  const others = command.alsoWrites ? await command.alsoWrites(tx) : [];
  // lockStream reserves its own stream (in the same statement); others are reserved with it first.
  if (others.length > 0) await tx.reserveStreams([command.streamId, ...others]);
  const version = await tx.lockStream(command.streamId);
  const before: S = await command.load(tx, version, await firstOf(tx, command, first));
  const now = new Date();
  const events = await command.decide(before, { now, tx });
  if (events.length === 0) return command.reply({ before, after: before, events, version, now });

  let after = before;
  const stored = events.map((e) => {
    after = command.evolve(after, e);
    return command.toNewEvent(e, after);
  });
  command.accept?.(stored);
  const { nextVersion } = opts.appendAtCommit
    ? await tx.appendAtCommit(command.streamId, stored, { expectedVersion: version, now })
    : await tx.append(command.streamId, stored, { expectedVersion: version === 0 ? 'no_stream' : version, now });
  const change: StreamChange<S, E> = { before, after, events, version: nextVersion, now };
  if (command.project) await command.project(tx, change);
  return command.reply(change);
}

/** The result of the command's `first` statement: as given (read with BEGIN), or queried now; null without one. */
async function firstOf(tx: EventStoreTx, command: AnyCommand, given: QueryResult | null): Promise<QueryResult | null> {
  if (!command.first) return null;
  return given ?? (await tx.client.query(command.first()));
}
