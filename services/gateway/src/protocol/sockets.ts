import type { NatsConnection } from '@nats-io/transport-node';
import type { RawData, WebSocket } from 'ws';
import { isProjectClientEvent, projectClientEvents, subjects, type ConnectionClosedNotice } from '@siteflow/contracts';
import type { SessionUser } from '../auth/tokens.js';
import { CloseCode, Connection, type ConnectionDeps } from './connection.js';
import { decodeFrame, type Decoded } from './frames.js';

const encoder = new TextEncoder();

/**
 * The gateway's open sockets: each gets a `Connection` and is released in one place when it goes
 * (its socket closed, or the gateway stops and it did not answer). Counts sockets per user for
 * `MAX_CONNECTIONS_PER_USER` and closes idle sockets and expired sessions.
 */
export class Sockets {
  private readonly open = new Set<Connection>();
  private readonly byId = new Map<string, Connection>();
  private readonly perUser = new Map<number, number>();
  /**
   * Each socket's Connection, for its listeners: every socket has the same three listener functions
   * (`listenersOf`), where closures made per socket would cost each idle socket their context.
   */
  private readonly byWs = new WeakMap<WebSocket, Connection>();
  private readonly listeners = listenersOf(this);

  constructor(private readonly deps: ConnectionDeps & { nats: NatsConnection; newConnectionId: () => string }) {}

  get connections(): ReadonlySet<Connection> {
    return this.open;
  }

  /** False when the user already holds `MAX_CONNECTIONS_PER_USER` sockets on this gateway. */
  hasRoomFor(user: SessionUser): boolean {
    return (this.perUser.get(user.id) ?? 0) < this.deps.config.MAX_CONNECTIONS_PER_USER;
  }

  /** A socket that passed the handshake: its frames go to a new `Connection`. */
  accept(ws: WebSocket, user: SessionUser): Connection {
    const conn = new Connection(this.deps.newConnectionId(), user, ws, this.deps);
    this.perUser.set(user.id, (this.perUser.get(user.id) ?? 0) + 1);
    this.open.add(conn);
    this.byId.set(conn.id, conn);
    this.byWs.set(ws, conn);
    /* eslint-disable @typescript-eslint/unbound-method -- unbound on purpose: ws calls each listener with the socket as `this` */
    ws.on('message', this.listeners.message);
    ws.on('error', this.listeners.error);
    ws.on('close', this.listeners.close);
    /* eslint-enable @typescript-eslint/unbound-method */
    return conn;
  }

  /** A frame of `ws`'s (its 'message' listener). */
  onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = this.byWs.get(ws);
    if (!conn) return;
    try {
      if (isBinary) {
        conn.close(CloseCode.unsupportedData, 'binary frames are not supported');
        return;
      }
      // ws hands text frames over as a Buffer (binaryType 'nodebuffer'); no copy needed.
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
      const text = bytes.toString('utf8');
      if (bytes.length <= this.deps.config.MAX_FRAME_BYTES) {
        conn.onFrame(text);
        return;
      }
      // A large frame (a document's save) is decoded once, for its bound and for the connection.
      const decoded = decodeFrame(text);
      if (!allowedLargeFrame(decoded, bytes.length)) {
        conn.close(CloseCode.tooBig, 'frame too large');
        return;
      }
      conn.onFrame(text, decoded);
    } catch (err) {
      this.deps.logger.error({ err, connection: conn.id, user: conn.user.id }, 'frame handling failed');
    }
  }

  /** `ws` failed (its 'error' listener; its 'close' follows). */
  onError(ws: WebSocket, err: Error): void {
    this.deps.logger.debug({ err, connection: this.byWs.get(ws)?.id }, 'socket error');
  }

  /** `ws` closed (its 'close' listener). */
  onClose(ws: WebSocket): void {
    const conn = this.byWs.get(ws);
    if (conn) this.release(conn);
  }

  get(connectionId: string): Connection | undefined {
    return this.byId.get(connectionId);
  }

  /**
   * A connection is gone: it leaves its rooms and the services are told, once, to release what it
   * held (edit locks).
   */
  release(conn: Connection): void {
    if (!this.open.delete(conn)) return;
    this.byId.delete(conn.id);
    const left = (this.perUser.get(conn.user.id) ?? 1) - 1;
    if (left > 0) this.perUser.set(conn.user.id, left);
    else this.perUser.delete(conn.user.id);
    const projectIds = conn.joinedTopics.flatMap((t) => (t.startsWith('project:') ? [Number(t.slice(8))] : []));
    conn.dispose();
    try {
      const notice: ConnectionClosedNotice = { connection_id: conn.id, user_id: conn.user.id, project_ids: projectIds };
      this.deps.nats.publish(subjects.connectionClosed, encoder.encode(JSON.stringify(notice)));
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not announce closed connection');
    }
  }

  /** Idle sockets (no frame for IDLE_TIMEOUT_MS, e.g. no heartbeat) and expired sessions are closed. */
  closeIdleAndExpired(now: number): void {
    for (const c of this.open) {
      if (now - c.lastFrameAt > this.deps.config.IDLE_TIMEOUT_MS) c.close(CloseCode.goingAway, 'idle timeout');
      else if (c.user.expiresAt <= now) c.close(CloseCode.policyViolation, 'session expired');
    }
  }

  /**
   * Gateway shutdown: every socket is sent a close frame. Clients answer it at once; one that does
   * not (frozen, its network gone) would be closed by ws only after 30 s, long after the caller
   * drained NATS, and its locks would stay held until their lease lapses: after `graceMs` it is
   * released here instead. Resolves to how many did not answer.
   */
  async closeAll(graceMs: number, pushGraceMs = 0): Promise<number> {
    // Pushes in flight are answered first (bounded), then every socket is closed.
    await Promise.all([...this.open].map((c) => c.finishPushes(pushGraceMs)));
    for (const c of this.open) c.close(CloseCode.goingAway, 'server shutting down');
    const graceEnds = Date.now() + graceMs;
    while (this.open.size > 0 && Date.now() < graceEnds) await new Promise((resolve) => setTimeout(resolve, 10));
    const unanswered = [...this.open];
    for (const c of unanswered) this.release(c);
    return unanswered.length;
  }
}

/** The listeners every socket of `sockets` shares: ws calls each with the socket as `this`. */
function listenersOf(sockets: Sockets) {
  return {
    message: function (this: WebSocket, data: RawData, isBinary: boolean): void {
      sockets.onMessage(this, data, isBinary);
    },
    error: function (this: WebSocket, err: Error): void {
      sockets.onError(this, err);
    },
    close: function (this: WebSocket): void {
      sockets.onClose(this);
    },
  };
}

/** A frame above the ordinary bound is allowed only for an event whose own bound covers it. */
function allowedLargeFrame(d: Decoded, bytes: number): boolean {
  if (d.kind !== 'frame' || !isProjectClientEvent(d.event)) return false;
  const bound = projectClientEvents[d.event].maxFrameBytes;
  return bound !== undefined && bytes <= bound;
}
