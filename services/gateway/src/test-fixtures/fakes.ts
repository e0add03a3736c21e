import type { Msg, NatsConnection, Status, Subscription, SubscriptionOptions } from '@nats-io/transport-node';
import { NoRespondersError } from '@nats-io/transport-node';
import { pino } from 'pino';
import { expect } from 'vitest';
import type { WebSocket } from 'ws';
import type { ReplyEnvelope } from '@siteflow/contracts';
import type { SessionUser } from '../auth/tokens.js';
import { GatewayConfig } from '../config.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const silentLogger = pino({ level: 'silent' });

/** `expect.objectContaining`, typed as the value it stands for (vitest types its matchers `any`). */
export function containing<T extends Record<string, unknown>>(sample: T): T {
  const matcher: unknown = expect.objectContaining<Record<string, unknown>>(sample);
  return matcher as T;
}

/** `expect.stringMatching`, typed as a string. */
export function matching(pattern: RegExp): string {
  return expect.stringMatching(pattern) as string;
}

/** The gateway's configuration as the tests want it: the defaults, an HS256 secret, and `env` on top. */
export function testConfig(env: Record<string, string> = {}): GatewayConfig {
  return GatewayConfig.parse({ JWT_SECRET: 'a-test-secret-that-is-at-least-32-bytes', ...env });
}

export const alice: SessionUser = {
  id: 1,
  username: 'alice',
  role: 'admin',
  avatar_url: '/avatars/alice.svg',
  expiresAt: Date.now() + 3_600_000,
  scopes: [],
};

/** How a fake service answers a request: a reply envelope, or a promise of one (to hold it back). */
export type Responder = (data: unknown) => ReplyEnvelope | Promise<ReplyEnvelope>;

function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * NATS as far as the gateway uses it, in memory: requests go to responders set per subject (Nest's
 * reply packet around the envelope), no responder is `NoRespondersError`; `deliver` hands a
 * message to the subscriptions whose subject matches, synchronously.
 */
export class FakeNats {
  readonly requests: Array<{ subject: string; data: unknown }> = [];
  readonly published: Array<{ subject: string; data: unknown }> = [];
  private readonly responders = new Map<string, Responder>();
  private readonly subs = new Set<{ subject: string; callback: (err: Error | null, msg: Msg) => void; closed: boolean }>();
  closed = false;

  answer(subject: string, responder: Responder): this {
    this.responders.set(subject, responder);
    return this;
  }

  get subscriptions(): string[] {
    return [...this.subs].filter((s) => !s.closed).map((s) => s.subject);
  }

  async request(subject: string, payload: Uint8Array): Promise<Msg> {
    const packet = JSON.parse(decoder.decode(payload)) as { id: string; data: unknown };
    this.requests.push({ subject, data: packet.data });
    const responder = this.responders.get(subject);
    if (!responder) throw new NoRespondersError(subject);
    const response = await responder(packet.data);
    return this.msg(subject, { id: packet.id, response, isDisposed: true });
  }

  publish(subject: string, payload?: Uint8Array | string): void {
    const data = payload === undefined ? undefined : typeof payload === 'string' ? payload : decoder.decode(payload);
    this.published.push({ subject, data: typeof data === 'string' ? (JSON.parse(data) as unknown) : data });
  }

  subscribe(subject: string, opts?: SubscriptionOptions): Subscription {
    const callback = opts?.callback;
    if (!callback) throw new Error('FakeNats supports callback subscriptions only');
    const sub = { subject, callback, closed: false };
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        sub.closed = true;
        this.subs.delete(sub);
      },
    } as unknown as Subscription;
  }

  /** A message on `subject` (JSON of `body`, or raw text) to every matching subscription. */
  deliver(subject: string, body: unknown): void {
    const msg = this.msg(subject, body);
    for (const s of [...this.subs]) if (!s.closed && matches(s.subject, subject)) s.callback(null, msg);
  }

  flush(): Promise<void> {
    return this.closed ? Promise.reject(new Error('closed')) : Promise.resolve();
  }

  isClosed(): boolean {
    return this.closed;
  }

  isDraining(): boolean {
    return false;
  }

  async *status(): AsyncIterable<Status> {
    // No status changes: ends when the connection is closed by the test.
    await new Promise<void>(() => undefined);
    yield* [];
  }

  asConnection(): NatsConnection {
    return this as unknown as NatsConnection;
  }

  private msg(subject: string, body: unknown): Msg {
    const data = typeof body === 'string' ? encoder.encode(body) : encoder.encode(JSON.stringify(body));
    return { subject, data, json: () => JSON.parse(decoder.decode(data)) as unknown, string: () => decoder.decode(data) } as unknown as Msg;
  }
}

/** A socket as a `Connection` uses it: what it was sent, and whether it was closed. */
export class FakeSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: unknown[] = [];
  closedWith: { code: number; reason: string } | null = null;
  terminated = false;

  send(data: string | Buffer): void {
    this.sent.push(JSON.parse(typeof data === 'string' ? data : data.toString('utf8')) as unknown);
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }

  /** Frames sent so far, and forgets them. */
  take(): unknown[] {
    return this.sent.splice(0);
  }
}
