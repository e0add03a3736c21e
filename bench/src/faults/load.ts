import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PhxClient } from '../phx-client.js';
import { actInRoom, markerOf } from '../room.js';
import type { BenchUser } from '../users.js';

/** One push and what became of it, as the client saw it. Times are `performance.now()`. */
export interface PushRecord {
  client: number;
  /** The client's join the push was sent in. */
  session: number;
  event: string;
  marker: string | undefined;
  sentAt: number;
  answeredAt: number | undefined;
  /** `ok`, `error`, `timeout` (no reply within the bound) or `closed` (the socket closed first). */
  status: string;
  code: string | undefined;
  /** The ok reply's payload (null otherwise). */
  response: PushResponse | null;
  /** A second try of a chat message after `unavailable` or no reply, as a person presses send again. */
  retry: boolean;
}

/** The fields of an ok reply that the measure reads (which ones a reply has depends on the push). */
export interface PushResponse {
  /** chat:message: the message's id. */
  id?: string;
  /** document:save: false when nothing changed. */
  saved?: boolean;
  document_id?: number;
  version?: number;
  /** checklist:toggle: the item as it is now. */
  item?: { id: number; checked: boolean; checked_by: number | null; checked_at: string };
  code?: string;
}

/** What a push answered: the socket's reply, or `timeout` / `closed`. */
interface Answer {
  status: string;
  response: PushResponse | null;
}

/** The parts of a join's snapshot the load keeps. */
interface JoinSnapshot {
  checklist?: { items?: Array<{ id: number }> };
  chat?: { messages?: Array<{ id: string }> };
  documents?: Array<{ id: number; version: number }>;
}

type Metas = Record<string, { metas: Meta[] }>;
type Payload = Record<string, unknown>;

export interface Receipt {
  client: number;
  session: number;
  id: string;
  marker: string | undefined;
  at: number;
}

/** A time something was true that should not have been: a connected user shown offline, or a ghost. */
export interface Episode {
  kind: 'offline' | 'ghost';
  observer: number;
  subject: number;
  start: number;
  end: number | undefined;
}

/** A version a client did not receive in a join although it received a later one of the same stream. */
export interface Gap {
  kind: 'chat' | 'document';
  client: number;
  session: number;
  /** The document, for a document's version. */
  documentId?: number;
  version: number;
}

export interface LockLoss {
  client: number;
  documentId: number;
  at: number;
  why: string;
}

export interface LoadOptions {
  socketUrl: string;
  users: BenchUser[];
  actEveryMs: number;
  /** A push with no reply within this is unanswered. */
  replyBoundMs: number;
  /** Retry a chat message once after `unavailable` or no reply. */
  retry: boolean;
  /**
   * Give every write (chat message, toggle, save) a fresh `idempotency_key` and send it again with
   * the same key, as docs/protocol.md asks of clients; without, a resend is a new command.
   */
  idempotencyKeys: boolean;
}

type Meta = { phx_ref: string };

const WRITES = new Set(['chat:message', 'checklist:toggle', 'document:save']);

/**
 * A room member as a person with the web app would be one: reconnects when the socket closes,
 * rejoins when told to (`phx_error`), keeps what the room shows (presence, documents' versions),
 * acts as the bench's room load does, and sends a chat message again when it was not acknowledged.
 * The first member of each room (its admin) also holds an edit lock throughout, renewing it, and
 * takes it again (take over) after a reconnect.
 */
class Member {
  socket: PhxClient | null = null;
  joined = false;
  joinedAt = 0;
  session = 0;
  /** Presence as this client sees it: user id → metas; null until `presence_state` of this join. */
  view: Map<string, Meta[]> | null = null;
  items: number[] = [];
  /** Per document: versions this client has seen in the current session (snapshot, broadcasts, own saves). */
  docVersions = new Map<number, { base: number; seen: Set<number> }>();
  docGaps: Gap[] = [];
  /** The join whose snapshot `docVersions` started from. */
  docSession = 0;
  docDuplicates = 0;
  /** Ids of the chat messages in each session's snapshot. */
  snapshotMessages = new Map<number, string[]>();
  holdsLock = false;
  lockSession = -1;
  lastHeartbeat = 0;
  pendingRetry: { text: string; key: string | undefined } | null = null;
  /**
   * Frames of the topic that arrived while a join was waiting for its reply's handling: the reply,
   * `presence_state` and the broadcasts the gateway held back during the join arrive in one read,
   * and are dispatched before the awaited reply resumes `join`. They are handled once the join has
   * taken its snapshot, in order, as the stock client's `receive('ok')` (called on the reply) does.
   * Handled at once, a document's version flushed right after the reply went to the previous join's
   * view and showed as a gap in this one.
   */
  queued: Array<{ event: string; payload: unknown; at: number }> | null = null;
  suspectedLoss: { at: number; why: string } | null = null;

  constructor(
    readonly index: number,
    readonly user: BenchUser,
    /** The room's admin holds the lock of the room's first document. */
    readonly holder: boolean,
  ) {}

  /** The document whose lock this member holds throughout (holders only), and those it edits now and then. */
  heldDocument: number | undefined;
  documents: number[] = [];

  get topic(): string {
    return `project:${this.user.projectId}`;
  }
}

export class FaultLoad {
  readonly pushes: PushRecord[] = [];
  readonly receipts: Receipt[] = [];
  readonly episodes: Episode[] = [];
  readonly lockLosses: LockLoss[] = [];
  readonly members: Member[];
  /** Marker → when its first push was sent. */
  readonly firstSent = new Map<string, number>();
  private stopping = false;
  private loops: Promise<void>[] = [];
  private sampler: NodeJS.Timeout | undefined;
  private readonly open = new Map<string, Episode>();
  private seq = 0;

  constructor(private readonly opts: LoadOptions) {
    const firstOfProject = new Set<number>();
    this.members = opts.users.map((user, i) => {
      const holder = !firstOfProject.has(user.projectId);
      firstOfProject.add(user.projectId);
      return new Member(i, user, holder);
    });
  }

  /** Connects and joins everyone, then acts until `stop()`. Resolves once all have joined once. */
  async start(timeoutMs: number): Promise<void> {
    this.loops = this.members.map((m) => this.live(m));
    this.sampler = setInterval(() => this.sample(), 250);
    const deadline = performance.now() + timeoutMs;
    while (this.members.some((m) => !m.joined || (m.holder && !m.holdsLock))) {
      if (performance.now() > deadline)
        throw new Error(
          `load: ${this.members.filter((m) => !m.joined).length} of ${this.members.length} members not joined within ${timeoutMs} ms`,
        );
      await sleep(100);
    }
  }

  /** Read through a call: `stop()` may set it while a member's loop awaits. */
  private isStopping(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    if (this.sampler) clearInterval(this.sampler);
    this.sample();
    for (const m of this.members) m.socket?.close();
  }

  get projects(): number[] {
    return [...new Set(this.opts.users.map((u) => u.projectId))];
  }

  /** Everyone joined, each room shown exactly as it is to every member, every lock held. */
  settled(): boolean {
    if (!this.members.every((m) => m.joined && m.view && (m.heldDocument === undefined || m.holdsLock))) return false;
    for (const observer of this.members) {
      const view = observer.view;
      if (!view) return false;
      for (const subject of this.roomOf(observer)) {
        if ((view.get(String(subject.user.id))?.length ?? 0) !== 1) return false;
      }
    }
    return true;
  }

  /** What keeps `settled()` false, for a fault that did not recover. */
  whyUnsettled(): string {
    const why: string[] = [];
    for (const m of this.members) {
      if (!m.joined) why.push(`${m.user.username} not joined`);
      else if (!m.view) why.push(`${m.user.username} has no presence_state`);
      else if (m.heldDocument !== undefined && !m.holdsLock) why.push(`${m.user.username} does not hold its lock`);
      else {
        for (const subject of this.roomOf(m)) {
          const shown = m.view.get(String(subject.user.id))?.length ?? 0;
          if (shown !== 1) why.push(`${m.user.username} shows ${subject.user.username} ${shown} times`);
        }
      }
    }
    return why.slice(0, 12).join('; ') + (why.length > 12 ? ` (and ${why.length - 12} more)` : '');
  }

  /** Pushes not yet answered. */
  inFlight = 0;

  private roomOf(m: Member): Member[] {
    return this.members.filter((o) => o.user.projectId === m.user.projectId);
  }

  private async live(m: Member): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!m.socket || !m.socket.isOpen) await this.connect(m);
        if (!m.joined) await this.join(m);
        failures = 0;
      } catch {
        failures++;
        // A person's client backs off too (the stock client: 10 ms … 5 s).
        await sleep(Math.min(5_000, 250 * 2 ** Math.min(failures, 5)) * (0.5 + Math.random()));
        continue;
      }
      if (m.heldDocument !== undefined && !m.holdsLock) await this.takeLock(m);
      else if (m.heldDocument !== undefined && performance.now() - m.lastHeartbeat > 5_000) await this.heartbeat(m);
      if (this.isStopping() || !m.joined) continue;
      if (m.pendingRetry) {
        const { text, key } = m.pendingRetry;
        m.pendingRetry = null;
        await this.push(m, 'chat:message', key ? { text, idempotency_key: key } : { text }, true);
      } else {
        const marker = `f${(this.seq++).toString(36)}`;
        await actInRoom({ user: m.user, items: m.items, documents: m.documents }, marker, (event, payload) =>
          this.push(m, event, payload as Payload, false),
        );
      }
      await sleep(this.opts.actEveryMs * (0.5 + Math.random()));
    }
  }

  private async connect(m: Member): Promise<void> {
    m.socket?.close();
    m.socket = null;
    m.joined = false;
    m.view = null;
    m.queued = null;
    const socket = await PhxClient.connect(this.opts.socketUrl, m.user.token, { heartbeatMs: 15_000 });
    socket.onEvent = (topic, event, payload, at) => this.onEvent(m, socket, topic, event, payload, at);
    socket.onClose = () => {
      if (m.socket !== socket) return;
      m.joined = false;
      m.view = null;
      m.holdsLock = false;
    };
    m.socket = socket;
  }

  private async join(m: Member): Promise<void> {
    const socket = m.socket;
    if (!socket) throw new Error('no socket');
    const session = ++m.session;
    m.view = null;
    m.queued = [];
    let snapshot: JoinSnapshot;
    try {
      snapshot = (await socket.join(m.topic, this.opts.replyBoundMs)) as JoinSnapshot;
    } catch (err) {
      if (m.session === session) m.queued = null;
      throw err;
    }
    if (m.socket !== socket || m.session !== session) {
      if (m.session === session) m.queued = null;
      throw new Error('superseded');
    }
    m.items = (snapshot.checklist?.items ?? []).map((it) => it.id);
    m.snapshotMessages.set(
      session,
      (snapshot.chat?.messages ?? []).map((msg) => msg.id),
    );
    m.docGaps.push(...gapsOf(m));
    m.docVersions.clear();
    m.docSession = session;
    const documents = [...(snapshot.documents ?? [])].sort((a, b) => a.id - b.id);
    for (const d of documents) m.docVersions.set(d.id, { base: d.version, seen: new Set() });
    // The room's first document is left out of everyone's random edits, so its holder's lock is never contended.
    if (m.holder) m.heldDocument = documents[0]?.id;
    m.documents = documents.slice(1).map((d) => d.id);
    m.joined = true;
    m.joinedAt = performance.now();
    const queued = m.queued;
    m.queued = null;
    for (const { event, payload, at } of queued) this.handle(m, event, payload, at);
  }

  private async takeLock(m: Member): Promise<void> {
    const session = m.session;
    const r = await this.push(m, 'document:start_editing', { document_id: m.heldDocument, take_over: true }, false);
    if (r.status === 'ok' && m.session === session && m.joined) {
      m.holdsLock = true;
      m.lockSession = session;
      m.lastHeartbeat = performance.now();
    }
  }

  private async heartbeat(m: Member): Promise<void> {
    const session = m.session;
    m.lastHeartbeat = performance.now();
    const r = await this.push(m, 'document:heartbeat', { document_id: m.heldDocument }, false);
    const suspected = m.suspectedLoss;
    if (
      r.status === 'error' &&
      r.response?.code === 'not_lock_holder' &&
      m.holdsLock &&
      m.joined &&
      m.session === session &&
      m.lockSession === session
    ) {
      this.lockLosses.push({
        client: m.index,
        documentId: m.heldDocument ?? 0,
        at: suspected?.at ?? performance.now(),
        why: suspected?.why ?? 'heartbeat: not_lock_holder',
      });
      m.holdsLock = false;
    }
    if (r.status === 'ok' || r.status === 'error') m.suspectedLoss = null;
  }

  private async push(m: Member, event: string, sent: Payload, retry: boolean): Promise<Answer> {
    const socket = m.socket;
    if (!socket || !m.joined) return { status: 'closed', response: null };
    let payload = sent;
    const text = typeof payload.text === 'string' ? payload.text : undefined;
    const marker = markerOf(text ?? (typeof payload.content === 'string' ? payload.content : undefined));
    if (this.opts.idempotencyKeys && !retry && WRITES.has(event)) payload = { ...payload, idempotency_key: randomUUID() };
    const record: PushRecord = {
      client: m.index,
      session: m.session,
      event,
      marker,
      sentAt: performance.now(),
      answeredAt: undefined,
      status: 'pending',
      code: undefined,
      response: null,
      retry,
    };
    if (marker && !this.firstSent.has(marker)) this.firstSent.set(marker, record.sentAt);
    this.pushes.push(record);
    this.inFlight++;
    const reply = await socket.push(m.topic, event, payload, this.opts.replyBoundMs);
    const r: Answer = { status: reply.status, response: reply.response as PushResponse | null };
    this.inFlight--;
    record.answeredAt = performance.now();
    record.status = r.status === 'ok' || r.status === 'timeout' || r.status === 'closed' ? r.status : 'error';
    record.code = record.status === 'error' ? (r.response?.code ?? r.status) : undefined;
    if (r.status === 'ok') record.response = r.response;
    const savedVersion = r.response?.version;
    if (event === 'document:save' && r.status === 'ok' && savedVersion !== undefined)
      m.docVersions.get(Number(payload.document_id))?.seen.add(savedVersion);
    const unacknowledged = record.status === 'timeout' || record.status === 'closed' || record.code === 'unavailable';
    if (this.opts.retry && !retry && event === 'chat:message' && unacknowledged && text !== undefined)
      m.pendingRetry = { text, key: typeof payload.idempotency_key === 'string' ? payload.idempotency_key : undefined };
    return r;
  }

  private onEvent(m: Member, socket: PhxClient, topic: string, event: string, payload: unknown, at: number): void {
    if (m.socket !== socket || topic !== m.topic) return;
    if (m.queued) m.queued.push({ event, payload, at });
    else this.handle(m, event, payload, at);
  }

  /** One frame of the member's topic; payloads are taken as the protocol (docs/protocol.md) describes them. */
  private handle(m: Member, event: string, payload: unknown, at: number): void {
    switch (event) {
      case 'phx_error':
      case 'phx_close':
        // The gateway voided this join (it reconnected to NATS): rejoin for a fresh snapshot.
        m.joined = false;
        m.view = null;
        m.holdsLock = false;
        return;
      case 'presence_state':
        m.view = new Map(Object.entries(payload as Metas).map(([k, v]) => [k, [...v.metas]]));
        return;
      case 'presence_diff': {
        if (!m.view) return;
        const diff = payload as { joins: Metas; leaves: Metas };
        for (const [key, { metas }] of Object.entries(diff.leaves)) {
          const refs = new Set(metas.map((x) => x.phx_ref));
          const left = (m.view.get(key) ?? []).filter((x) => !refs.has(x.phx_ref));
          if (left.length) m.view.set(key, left);
          else m.view.delete(key);
        }
        for (const [key, { metas }] of Object.entries(diff.joins)) {
          const refs = new Set(metas.map((x) => x.phx_ref));
          m.view.set(key, [...(m.view.get(key) ?? []).filter((x) => !refs.has(x.phx_ref)), ...metas]);
        }
        return;
      }
      case 'chat:new_message': {
        const message = payload as { id: string; text: string };
        this.receipts.push({ client: m.index, session: m.session, id: message.id, marker: markerOf(message.text), at });
        return;
      }
      case 'document:updated': {
        const update = payload as { document_id: number; version: number };
        const doc = m.docVersions.get(update.document_id);
        if (!doc) return;
        if (doc.seen.has(update.version) || update.version <= doc.base) m.docDuplicates++;
        doc.seen.add(update.version);
        return;
      }
      case 'document:unlocked': {
        // A release of this user's lock that it did not ask for: the next heartbeat (sent at once)
        // tells whether it was this connection's lock or an older one's, arriving late.
        const unlocked = payload as { document_id: number; user_id: number; reason: string };
        if (unlocked.document_id === m.heldDocument && unlocked.user_id === m.user.id && unlocked.reason !== 'released' && m.holdsLock) {
          m.suspectedLoss = { at, why: `unlocked: ${unlocked.reason}` };
          m.lastHeartbeat = 0;
        }
        return;
      }
      default:
    }
  }

  /** Version gaps in documents: versions after a session's snapshot that the client never saw, below the highest it saw. */
  documentGaps(): Gap[] {
    return this.members.flatMap((m) => [...m.docGaps, ...gapsOf(m)]);
  }

  documentDuplicates(): number {
    return this.members.reduce((n, m) => n + m.docDuplicates, 0);
  }

  /** Every 250 ms: for each member and each member of its room, is it shown as it is? */
  private sample(): void {
    const now = performance.now();
    const seen = new Set<string>();
    for (const observer of this.members) {
      if (!observer.joined || !observer.view) continue;
      for (const subject of this.roomOf(observer)) {
        const shown = observer.view.get(String(subject.user.id))?.length ?? 0;
        const connected = subject.joined;
        if (connected && shown === 0) this.mark('offline', observer, subject, now, seen);
        if (shown > (connected ? 1 : 0)) this.mark('ghost', observer, subject, now, seen);
      }
    }
    for (const [key, episode] of this.open) {
      if (!seen.has(key)) {
        episode.end = now;
        this.open.delete(key);
      }
    }
  }

  private mark(kind: Episode['kind'], observer: Member, subject: Member, now: number, seen: Set<string>): void {
    const key = `${kind}:${observer.index}:${subject.index}`;
    seen.add(key);
    if (this.open.has(key)) return;
    const episode: Episode = { kind, observer: observer.index, subject: subject.index, start: now, end: undefined };
    this.open.set(key, episode);
    this.episodes.push(episode);
  }
}

/** The document versions the member's current join lacks below the highest it has. */
function gapsOf(m: Member): Gap[] {
  const gaps: Gap[] = [];
  for (const [documentId, { base, seen }] of m.docVersions) {
    const top = Math.max(base, ...seen);
    for (let version = base + 1; version < top; version++)
      if (!seen.has(version)) gaps.push({ kind: 'document', client: m.index, session: m.docSession, documentId, version });
  }
  return gaps;
}
