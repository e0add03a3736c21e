import WebSocket from 'ws';

/**
 * A JSON value as the server sent it. Callers read what they expect from it (the bench's own
 * scenarios assert a shape where they read one); `any` so the fault suite's load can read replies
 * loosely.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- wire data, shaped by each reader (see above)
export type Wire = any;
export type Frame = [string | null, string | null, string, string, Wire];
export type Reply = { status: string; response: Wire };

/**
 * A minimal Phoenix Channels v2 client on `ws`: a few hundred bytes of state per socket, so tens of
 * thousands fit in one process (the stock `phoenix` client keeps timers and closures per channel).
 */
export class PhxClient {
  private ws!: WebSocket;
  private ref = 0;
  private readonly pending = new Map<string, (reply: Reply) => void>();
  private readonly joinRefs = new Map<string, string>();
  private heartbeat: NodeJS.Timeout | null = null;
  onEvent: ((topic: string, event: string, payload: Wire, at: number) => void) | null = null;
  /** The socket closed (the server went away or `close()`): pushes still waiting were answered `closed`. */
  onClose: ((code: number) => void) | null = null;

  static async connect(socketUrl: string, token: string, opts: { heartbeatMs?: number } = {}): Promise<PhxClient> {
    const c = new PhxClient();
    await c.open(socketUrl, token, opts.heartbeatMs ?? 30_000);
    return c;
  }

  private open(socketUrl: string, token: string, heartbeatMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${socketUrl}/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
      this.ws.once('open', () => {
        this.heartbeat = setInterval(() => this.send(null, 'phoenix', 'heartbeat', {}), heartbeatMs);
        this.heartbeat.unref();
        resolve();
      });
      // Before 'open' an error fails the connect; after it, the 'close' that follows says it all.
      this.ws.on('error', reject);
      this.ws.on('message', (data) => this.onMessage(data as Buffer));
      this.ws.on('close', (code) => {
        if (this.heartbeat) clearInterval(this.heartbeat);
        const waiting = [...this.pending.values()];
        this.pending.clear();
        for (const done of waiting) done({ status: 'closed', response: null });
        this.onClose?.(code);
      });
    });
  }

  private onMessage(data: Buffer): void {
    const at = performance.now();
    const frame = JSON.parse(data.toString()) as Frame;
    const [, ref, topic, event] = frame;
    if (event === 'phx_reply' && ref !== null) {
      const done = this.pending.get(ref);
      if (done) {
        this.pending.delete(ref);
        done(frame[4] as Reply);
      }
      return;
    }
    this.onEvent?.(topic, event, frame[4], at);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  private send(joinRef: string | null, topic: string, event: string, payload: unknown): string {
    const ref = String(++this.ref);
    if (this.isOpen) this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
    return ref;
  }

  /** Resolves with the reply, `{status: 'timeout'}` after `timeoutMs`, or `{status: 'closed'}` when the socket is (or gets) closed first. */
  request(topic: string, event: string, payload: unknown, timeoutMs = 10_000, isJoin = false): Promise<Reply> {
    return new Promise((resolve) => {
      if (!this.isOpen) {
        resolve({ status: 'closed', response: null });
        return;
      }
      if (isJoin) this.joinRefs.set(topic, String(this.ref + 1));
      const ref = this.send(this.joinRefs.get(topic) ?? null, topic, event, payload);
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        resolve({ status: 'timeout', response: null });
      }, timeoutMs);
      this.pending.set(ref, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  async join(topic: string, timeoutMs = 30_000): Promise<Wire> {
    const reply = await this.request(topic, 'phx_join', {}, timeoutMs, true);
    if (reply.status !== 'ok') throw new Error(`join ${topic} failed: ${JSON.stringify(reply)}`);
    return reply.response;
  }

  push(topic: string, event: string, payload: unknown, timeoutMs?: number) {
    return this.request(topic, event, payload, timeoutMs);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws.terminate();
  }
}
