import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  isProjectClientEvent,
  projectClientEvents,
  subjects,
  type ClientEventRoute,
  type ConnectionClosedNotice,
} from '@siteflow/contracts';
import type { TokenService } from './auth/tokens.js';
import type { GatewayConfig } from './config.js';
import { registerRoutes } from './http/routes.js';
import { GatewayMetrics } from './metrics.js';
import { CloseCode, Connection } from './protocol/connection.js';
import { decodeFrame } from './protocol/frames.js';
import { PresenceTracker } from './presence/presence-tracker.js';
import { Rooms } from './rooms/rooms.js';

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  nats: NatsConnection;
  tokens: TokenService;
  now?: () => number;
  newConnectionId?: () => string;
  /** Default: a registry of its own per gateway. */
  metrics?: GatewayMetrics;
}

export interface Gateway {
  http: FastifyInstance;
  rooms: Rooms;
  presence: PresenceTracker;
  connections: ReadonlySet<Connection>;
  metrics: GatewayMetrics;
  /** Stops accepting, closes every socket (1001), closes HTTP. Does not close NATS (the caller's). */
  close(): Promise<void>;
}

const SOCKET_PATH = '/socket/websocket';
/** The largest frame any event may carry (document saves); ordinary events are bounded lower. */
const LARGEST_FRAME = Math.max(...Object.values(projectClientEvents).map((r: ClientEventRoute) => r.maxFrameBytes ?? 0));

/** Builds the gateway: HTTP routes, the Phoenix socket, rooms. `main.ts` only wires and listens. */
export async function buildApp(deps: GatewayDeps): Promise<Gateway> {
  const { config, logger, nats, tokens } = deps;
  const now = deps.now ?? Date.now;
  const newConnectionId = deps.newConnectionId ?? (() => randomUUID());

  const http = Fastify({
    // Requests are not logged, and a request fastify logs for an error shows its path without the
    // query string (where a token may travel).
    loggerInstance: logger.child(
      { component: 'http' },
      { serializers: { req: (req: { method?: string; url?: string }) => ({ method: req.method, path: req.url?.split('?')[0] }) } },
    ) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
  });
  registerRoutes(http, { config, nats, tokens });
  const metrics = deps.metrics ?? new GatewayMetrics();
  // Prometheus text format on the gateway's own port, registered before the web app so no client route shadows it.
  http.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  if (config.WEB_DIST && existsSync(config.WEB_DIST)) {
    // The build writes .br/.gz beside each text asset (web/vite.config.ts): sent as the browser
    // accepts, never compressed per request. Names under assets/ carry their content hash, so
    // they never change (cached for a year); index.html names the current ones, so it is
    // revalidated on every load and a deploy is seen at once.
    await http.register(fastifyStatic, {
      root: config.WEB_DIST,
      prefix: '/',
      wildcard: false,
      preCompressed: true,
      cacheControl: false,
      setHeaders: (res, filePath) => {
        const hashed = !/[\\/]index\.html(\.br|\.gz)?$/.test(filePath) && /[\\/]assets[\\/][^\\/]+$/.test(filePath);
        res.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
        res.setHeader('vary', 'accept-encoding');
      },
    });
    // The web app routes on the client: unknown GETs outside the API and the assets get its
    // index.html (a missing asset, such as a source map not built, is a 404, not a page). A path
    // naming a file (`/nope.js`, `/favicon.ico`) is never a client route: a 404, not the app.
    http.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0]!;
      const namesAFile = /\.[A-Za-z0-9]+$/.test(path.slice(path.lastIndexOf('/') + 1));
      if (req.method === 'GET' && !namesAFile && !path.startsWith('/api/') && !path.startsWith('/socket') && !path.startsWith('/assets/'))
        return reply.sendFile('index.html');
      return reply.code(404).send({ code: 'not_found', message: 'no such route' });
    });
  }

  const rooms = new Rooms(nats, logger.child({ component: 'rooms' }));
  metrics.watch({ sockets: () => connections, rooms: () => rooms.snapshotStats() });
  const presence = new PresenceTracker(nats, logger.child({ component: 'presence' }), {
    gatewayId: config.INSTANCE_ID,
    refreshMs: config.PRESENCE_REFRESH_MS,
    timeoutMs: config.PUSH_TIMEOUT_MS,
  });
  presence.start();
  const connections = new Set<Connection>();
  const byId = new Map<string, Connection>();
  const perUser = new Map<number, number>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(config.MAX_FRAME_BYTES, LARGEST_FRAME),
    perMessageDeflate: false,
    clientTracking: false,
  });
  const socketLogger = logger.child({ component: 'socket' });
  const encoder = new TextEncoder();

  const refuse = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  http.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== SOCKET_PATH) return refuse(socket, 404, 'Not Found');
    const vsn = url.searchParams.get('vsn');
    if (vsn !== null && !vsn.startsWith('2.')) return refuse(socket, 400, 'Bad Request');
    if (!originAllowed(req.headers.origin, req.headers.host)) return refuse(socket, 403, 'Forbidden');
    const token = url.searchParams.get('token');
    if (!token) return refuse(socket, 403, 'Forbidden');
    tokens.verify(token).then(
      (user) => {
        if (!user || user.expiresAt <= now()) return refuse(socket, 403, 'Forbidden');
        if ((perUser.get(user.id) ?? 0) >= config.MAX_CONNECTIONS_PER_USER) return refuse(socket, 429, 'Too Many Requests');
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, user));
      },
      (err) => {
        socketLogger.error({ err }, 'token verification failed');
        refuse(socket, 500, 'Internal Server Error');
      },
    );
  });

  /** Cross-site WebSocket hijacking: a browser page from another origin may not use a user's session. */
  function originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true; // not a browser: the token alone decides
    if (config.ALLOWED_ORIGINS) return config.ALLOWED_ORIGINS.includes(origin.replace(/\/$/, ''));
    try {
      return host !== undefined && new URL(origin).host === host;
    } catch {
      return false;
    }
  }

  function accept(ws: WebSocket, user: NonNullable<Awaited<ReturnType<TokenService['verify']>>>): void {
    const conn = new Connection(newConnectionId(), user, ws, { config, logger: socketLogger, nats, rooms, now, presence, metrics });
    perUser.set(user.id, (perUser.get(user.id) ?? 0) + 1);
    connections.add(conn);
    byId.set(conn.id, conn);
    ws.on('message', (data, isBinary) => {
      try {
        if (isBinary) {
          conn.close(CloseCode.unsupportedData, 'binary frames are not supported');
          return;
        }
        // ws hands text frames over as a Buffer (binaryType 'nodebuffer'); no copy needed.
        const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
        if (Buffer.byteLength(text) > config.MAX_FRAME_BYTES && !allowedLargeFrame(text)) {
          conn.close(CloseCode.tooBig, 'frame too large');
          return;
        }
        conn.onFrame(text);
      } catch (err) {
        socketLogger.error({ err, connection: conn.id }, 'frame handling failed');
      }
    });
    ws.on('error', (err) => socketLogger.debug({ err, connection: conn.id }, 'socket error'));
    ws.on('close', () => release(conn));
  }

  /**
   * A connection is gone (its socket closed, or the gateway stops and it did not answer): it
   * leaves its rooms and the services are told, once, to release what it held (edit locks).
   */
  function release(conn: Connection): void {
    if (!connections.delete(conn)) return;
    byId.delete(conn.id);
    const left = (perUser.get(conn.user.id) ?? 1) - 1;
    if (left > 0) perUser.set(conn.user.id, left);
    else perUser.delete(conn.user.id);
    const projectIds = conn.joinedTopics.flatMap((t) => (t.startsWith('project:') ? [Number(t.slice(8))] : []));
    conn.dispose();
    try {
      const notice: ConnectionClosedNotice = { connection_id: conn.id, user_id: conn.user.id, project_ids: projectIds };
      nats.publish(subjects.connectionClosed, encoder.encode(JSON.stringify(notice)));
    } catch (err) {
      socketLogger.warn({ err }, 'could not announce closed connection');
    }
  }

  /** A frame above the ordinary bound is allowed only for an event whose own bound covers it. */
  function allowedLargeFrame(text: string): boolean {
    const d = decodeFrame(text);
    if (d.kind !== 'frame' || !isProjectClientEvent(d.event)) return false;
    const route: ClientEventRoute = projectClientEvents[d.event];
    return route.maxFrameBytes !== undefined && Buffer.byteLength(text) <= route.maxFrameBytes;
  }

  // Idle sockets (no frame for IDLE_TIMEOUT_MS, e.g. no heartbeat) and expired sessions are closed.
  const sweep = setInterval(
    () => {
      const t = now();
      for (const c of connections) {
        if (t - c.lastFrameAt > config.IDLE_TIMEOUT_MS) c.close(CloseCode.goingAway, 'idle timeout');
        else if (c.user.expiresAt <= t) c.close(CloseCode.policyViolation, 'session expired');
      }
    },
    Math.min(5_000, Math.max(250, Math.floor(config.IDLE_TIMEOUT_MS / 4))),
  );
  sweep.unref();

  // After a NATS reconnect the gateway cannot know what it missed: every client rejoins.
  let watching = true;
  void (async () => {
    for await (const s of nats.status()) {
      if (!watching) break;
      if (s.type === 'reconnect') {
        const evicted = rooms.evictAll();
        logger.warn({ joins: evicted.length }, 'NATS reconnected: asking clients to rejoin');
        for (const e of evicted) byId.get(e.clientId)?.forceRejoin(e.topic, e.joinRef);
      }
    }
  })().catch((err) => logger.error({ err }, 'NATS status watcher stopped'));

  return {
    http,
    rooms,
    presence,
    connections,
    metrics,
    async close() {
      watching = false;
      clearInterval(sweep);
      // Untrack every socket's presence now, while NATS is still there (not when each close handshake
      // ends); its replies are awaited (bounded) while the sockets close.
      const untracked = presence.close();
      for (const c of connections) c.close(CloseCode.goingAway, 'server shutting down');
      wss.close();
      // A socket's 'close' publishes its connection.closed notice (documents releases its locks).
      // Clients answer the close frame at once; one that does not (frozen, its network gone) would
      // be closed by ws only after 30 s, long after the caller drained NATS, and its locks would
      // stay held until their lease lapses: after a short grace it is announced here instead.
      const graceEnds = Date.now() + 1_000;
      while (connections.size > 0 && Date.now() < graceEnds) await new Promise((resolve) => setTimeout(resolve, 10));
      const unanswered = [...connections];
      for (const c of unanswered) release(c);
      await untracked;
      // The server has every notice once this returns; only then may the caller drain NATS.
      await nats.flush();
      // The HTTP server waits for every upgraded socket: unanswered ones end with the process.
      if (unanswered.length === 0) await http.close();
      else {
        socketLogger.warn({ sockets: unanswered.length }, 'sockets did not answer the close frame; left to end with the process');
        void http.close().catch(() => undefined);
      }
    },
  };
}
