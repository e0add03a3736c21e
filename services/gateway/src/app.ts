import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { TokenService } from './auth/tokens.js';
import type { GatewayConfig } from './config.js';
import { buildHttpServer } from './http/http-server.js';
import { GatewayMetrics } from './metrics.js';
import type { Connection } from './protocol/connection.js';
import { acceptSocketUpgrades } from './protocol/handshake.js';
import { Sockets } from './protocol/sockets.js';
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

/** How long a stopping gateway waits for its sockets to answer the close frame. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Builds the gateway from its parts: the HTTP server (`http/`), the socket handshake and the open
 * sockets (`protocol/`), rooms and presence. `main.ts` only wires and listens.
 */
export async function buildApp(deps: GatewayDeps): Promise<Gateway> {
  const { config, logger, nats, tokens } = deps;
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? new GatewayMetrics();
  const http = await buildHttpServer({ config, logger, nats, tokens, metrics });

  const rooms = new Rooms(nats, logger.child({ component: 'rooms' }), {
    ms: config.SNAPSHOT_SHARE_MS,
    maxLog: config.SNAPSHOT_SHARE_MAX_LOG,
  });
  const presence = new PresenceTracker(nats, logger.child({ component: 'presence' }), {
    gatewayId: config.INSTANCE_ID,
    refreshMs: config.PRESENCE_REFRESH_MS,
    timeoutMs: config.PUSH_TIMEOUT_MS,
    observeRequest: (subject, outcome, seconds) => metrics.observeRequest(subject, outcome, seconds),
  });
  presence.start();
  const socketLogger = logger.child({ component: 'socket' });
  const sockets = new Sockets({
    config,
    logger: socketLogger,
    nats,
    rooms,
    now,
    presence,
    metrics,
    newConnectionId: deps.newConnectionId ?? (() => randomUUID()),
  });
  metrics.watch({ sockets: () => sockets.connections, rooms: () => rooms.snapshotStats() });
  const stopAccepting = acceptSocketUpgrades(http.server, {
    config,
    tokens,
    logger: socketLogger,
    now,
    hasRoomFor: (user) => sockets.hasRoomFor(user),
    accept: (ws, user) => sockets.accept(ws, user),
  });

  const sweep = setInterval(
    () => sockets.closeIdleAndExpired(now()),
    Math.min(5_000, Math.max(250, Math.floor(config.IDLE_TIMEOUT_MS / 4))),
  );
  sweep.unref();
  const stopWatching = rejoinAfterReconnect(nats, rooms, sockets, logger);

  return {
    http,
    rooms,
    presence,
    connections: sockets.connections,
    metrics,
    async close() {
      stopWatching();
      clearInterval(sweep);
      // Untrack every socket's presence now, while NATS is still there (not when each close handshake
      // ends); its replies are awaited (bounded) while the sockets close.
      const untracked = presence.close();
      stopAccepting();
      // A socket's 'close' publishes its connection.closed notice (documents releases its locks).
      const unanswered = await sockets.closeAll(CLOSE_GRACE_MS, config.SHUTDOWN_PUSH_GRACE_MS);
      await untracked;
      // The server has every notice once this returns; only then may the caller drain NATS.
      await nats.flush();
      // The HTTP server waits for every upgraded socket: unanswered ones end with the process.
      if (unanswered === 0) await http.close();
      else {
        socketLogger.warn({ sockets: unanswered }, 'sockets did not answer the close frame; left to end with the process');
        void http.close().catch(() => undefined);
      }
    },
  };
}

/** After a NATS reconnect the gateway cannot know what it missed: every client rejoins. Returns a stop function. */
function rejoinAfterReconnect(nats: NatsConnection, rooms: Rooms, sockets: Sockets, logger: Logger): () => void {
  const stopped = new AbortController();
  void (async () => {
    for await (const s of nats.status()) {
      if (stopped.signal.aborted) break;
      if (s.type === 'reconnect') {
        const evicted = rooms.evictAll();
        logger.warn({ joins: evicted.length }, 'NATS reconnected: asking clients to rejoin');
        for (const e of evicted) sockets.get(e.clientId)?.forceRejoin(e.topic, e.joinRef);
      }
    }
  })().catch((err: unknown) => logger.error({ err }, 'NATS status watcher stopped'));
  return () => stopped.abort();
}
