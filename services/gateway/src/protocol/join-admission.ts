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

export class JoinAdmission {
  private running = 0;
  /** Waiting joins by room, rooms in the order their first join arrived. */
  private readonly waiting = new Map<string, Waiting[]>();
  private queued = 0;

  constructor(
    private readonly limits: JoinAdmissionLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Joins being worked on, and waiting. */
  get counts(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued };
  }

  /**
   * Starts `join` now if there is room, else puts it in line with the other joins of its room.
   * Returns false, starting nothing, when the line is full: refuse it (`rate_limited`).
   */
  offer(room: string, join: QueuedJoin): boolean {
    if (this.running < this.limits.maxRunning && this.queued === 0) {
      this.run(join);
      return true;
    }
    if (this.queued >= this.limits.maxQueued) return false;
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
