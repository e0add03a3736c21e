/**
 * How a gateway lets `project:` joins in when many come at once (a gateway died and its sockets
 * all come back here): at most `maxRunning` are worked on at once (each is a membership read, a
 * snapshot and a presence track); the others wait in line, grouped by room, so that when a room's
 * turn comes all its waiting joins start together and share one snapshot read
 * (Room.addJoiningWithSnapshot; at most `maxRunning` of a room per turn, so one turn may take the
 * gateway up to twice `maxRunning`). Only when `maxQueued` are already waiting is a join refused
 * (`rate_limited`, retry after), and a join that waited `maxWaitMs` without its turn is refused the
 * same way rather than left to the client's own join timeout. A waiting join costs nothing; a
 * refused one costs a reply and the client's retry (profiled: 13 % of the gateway's busy time in a
 * storm that refused instead of queueing).
 */
export interface JoinAdmissionLimits {
  maxRunning: number;
  maxQueued: number;
  maxWaitMs: number;
}

/** A join waiting for its turn. */
export interface QueuedJoin {
  /** Starts the join; the returned promise settles when it is done (the turn is given back then). */
  start(): Promise<unknown>;
  /** Refused after waiting too long: answer `rate_limited`. */
  refuse(): void;
  /** True when nobody wants it any more (socket closed, a newer join of the topic): dropped unanswered. */
  abandoned(): boolean;
}

interface Waiting {
  join: QueuedJoin;
  since: number;
}

/** Joins finished per bucket of this many ms, over the last FINISH_BUCKETS of them: the line's drain rate. */
const FINISH_BUCKET_MS = 500;
const FINISH_BUCKETS = 10;

export class JoinAdmission {
  private running = 0;
  /** Waiting joins by room, rooms in the order their first join arrived. */
  private readonly waiting = new Map<string, Waiting[]>();
  private queued = 0;
  /** Joins finished per FINISH_BUCKET_MS, the newest last, and the bucket the newest is. */
  private readonly finished: number[] = new Array<number>(FINISH_BUCKETS).fill(0);
  private finishedBucket = 0;
  /** When the line last went from idle (nothing running or waiting) to busy: its rate is measured from then. */
  private busySince = 0;

  constructor(
    private readonly limits: JoinAdmissionLimits,
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * When a refused join should come back: when the joins ahead of it (running and waiting, at the
   * rate joins finished over the last 5 s) will be down to half of `maxWaitMs` of work, but never
   * later than that half itself, spread by ±25 %. So the refused come back to a line with room,
   * and never stay away while it runs dry: told to come back after the whole drain time, they did,
   * and 10,000 sockets took 136 s instead of 56 s. While the line is short or nothing has finished
   * yet: `minMs` × [1, 2), at random.
   */
  retryAfterMs(minMs: number): number {
    const waitMs = this.expectedWaitMs();
    const backMs = waitMs === null ? 0 : waitMs - this.limits.maxWaitMs / 2;
    if (backMs <= minMs) return Math.round(minMs * (1 + this.random()));
    return Math.round(Math.min(this.limits.maxWaitMs / 2, backMs) * (0.75 + this.random() / 2));
  }

  /** How long a join offered now would wait for its turn, from the rate joins finished at; null while nothing finished lately. */
  private expectedWaitMs(): number | null {
    const rate = this.finishRatePerMs();
    return rate > 0 ? (this.running + this.queued) / rate : null;
  }

  /**
   * Joins finished per ms over the last 5 s, or over the time the line has been busy if that is
   * shorter: a storm's first second is not averaged with four idle ones before it (which made a
   * gateway that served 1,000 joins a second think it served 40, refuse 9,800 of 10,000 joins it
   * would have served in time, and idle while they stayed away). 0 (unknown) for the first
   * FINISH_BUCKET_MS of a busy spell: too few joins have finished to tell.
   */
  private finishRatePerMs(): number {
    this.rollBuckets();
    const span = Math.min(FINISH_BUCKETS * FINISH_BUCKET_MS, this.now() - this.busySince);
    if (span < FINISH_BUCKET_MS) return 0;
    const total = this.finished.reduce((a, b) => a + b, 0);
    return total / span;
  }

  /** Moves the window to now: buckets of the time that passed start empty. */
  private rollBuckets(): void {
    const bucket = Math.floor(this.now() / FINISH_BUCKET_MS);
    const passed = Math.min(FINISH_BUCKETS, bucket - this.finishedBucket);
    if (passed <= 0) return;
    this.finished.splice(0, passed);
    for (let i = 0; i < passed; i++) this.finished.push(0);
    this.finishedBucket = bucket;
  }

  /** Joins being worked on, and waiting. */
  get counts(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued };
  }

  /**
   * Starts `join` now if there is room, else puts it in line with the other joins of its room.
   * Returns false, starting nothing, when the line is full, or is longer than the joins that finish
   * in `maxWaitMs` at the rate they have been finishing: refuse it (`rate_limited`, retryAfterMs).
   */
  offer(room: string, join: QueuedJoin): boolean {
    if (this.running === 0 && this.queued === 0) {
      // Idle until now: the rate is measured afresh, from this busy spell.
      this.busySince = this.now();
      this.finished.fill(0);
    }
    if (this.running < this.limits.maxRunning && this.queued === 0) {
      this.run(join);
      return true;
    }
    if (this.queued >= this.limits.maxQueued) return false;
    // It would wait past maxWaitMs and be refused then: refused now, with a retry-after for when there is room.
    const waitMs = this.expectedWaitMs();
    if (waitMs !== null && waitMs > this.limits.maxWaitMs) return false;
    const line = this.waiting.get(room);
    if (line) line.push({ join, since: this.now() });
    else this.waiting.set(room, [{ join, since: this.now() }]);
    this.queued++;
    return true;
  }

  private run(join: QueuedJoin): void {
    this.running++;
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      this.running--;
      this.rollBuckets();
      this.finished[FINISH_BUCKETS - 1] = (this.finished[FINISH_BUCKETS - 1] ?? 0) + 1;
      this.next();
    };
    join.start().then(release, release);
  }

  /**
   * While there is room: the room first in line starts its waiting joins together (at most
   * maxRunning of them; the rest keep the front of the line), so they share one snapshot read.
   */
  private next(): void {
    while (this.running < this.limits.maxRunning && this.queued > 0) {
      const first = this.waiting.entries().next();
      if (first.done) return;
      const [room, line] = first.value;
      const batch = line.splice(0, this.limits.maxRunning);
      if (line.length === 0) this.waiting.delete(room);
      this.queued -= batch.length;
      const now = this.now();
      for (const w of batch) {
        if (w.join.abandoned()) continue;
        if (now - w.since > this.limits.maxWaitMs) w.join.refuse();
        else this.run(w.join);
      }
    }
  }
}
