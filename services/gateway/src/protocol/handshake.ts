import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { projectClientEvents, type ClientEventRoute } from '@siteflow/contracts';
import type { SessionUser, TokenService } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';

export const SOCKET_PATH = '/socket/websocket';
/** The largest frame any event may carry (document saves); ordinary events are bounded lower. */
export const LARGEST_FRAME = Math.max(...Object.values(projectClientEvents).map((r: ClientEventRoute) => r.maxFrameBytes ?? 0));

export interface HandshakeDeps {
  config: Pick<GatewayConfig, 'MAX_FRAME_BYTES' | 'ALLOWED_ORIGINS'>;
  tokens: Pick<TokenService, 'verify'>;
  logger: Logger;
  now: () => number;
  /** False when the user holds as many sockets here as allowed (429). */
  hasRoomFor(user: SessionUser): boolean;
  /** The socket is open: from here on it is the caller's. */
  accept(ws: WebSocket, user: SessionUser): void;
}

/** The HTTP status line of each refusal at the handshake. */
const REFUSALS = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
} as const;

/**
 * The Phoenix socket's handshake on the HTTP server's upgrades: the path, `vsn`, the browser's
 * origin and the session token are checked before a WebSocket exists (docs/protocol.md,
 * "Connecting"). Returns a function that stops accepting.
 */
export function acceptSocketUpgrades(server: Server, deps: HandshakeDeps): () => void {
  const { config, tokens, logger, now } = deps;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(config.MAX_FRAME_BYTES, LARGEST_FRAME),
    perMessageDeflate: false,
    clientTracking: false,
  });
  const refuse = (socket: Duplex, status: keyof typeof REFUSALS) => {
    socket.end(`HTTP/1.1 ${status} ${REFUSALS[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A function of no closure: a listener made here would keep this upgrade's request (its
    // headers, the URL with the token) and head buffer alive as long as the socket lives.
    socket.on('error', destroyOnError);
    const url = new URL(req.url ?? '/', 'http://gateway');
    const token = url.searchParams.get('token');
    const refused = requestRefusal(url, req, config.ALLOWED_ORIGINS);
    if (refused !== null || !token) {
      refuse(socket, refused ?? 403);
      return;
    }
    tokens.verify(token).then(
      (user) => {
        if (!user || user.expiresAt <= now()) refuse(socket, 403);
        else if (!deps.hasRoomFor(user)) refuse(socket, 429);
        else if (!socket.destroyed) wss.handleUpgrade(req, socket, head, (ws) => deps.accept(ws, user));
      },
      (err: unknown) => {
        logger.error({ err }, 'token verification failed');
        refuse(socket, 500);
      },
    );
  });
  return () => wss.close();
}

/** An upgraded socket's error listener: `this` is the socket. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** What is wrong with an upgrade request before its token is read, as its HTTP status; null when nothing. */
function requestRefusal(url: URL, req: IncomingMessage, allowedOrigins: readonly string[] | null): 400 | 403 | 404 | null {
  if (url.pathname !== SOCKET_PATH) return 404;
  const vsn = url.searchParams.get('vsn');
  if (vsn !== null && !vsn.startsWith('2.')) return 400;
  if (!originAllowed(req.headers.origin, req.headers.host, allowedOrigins)) return 403;
  return null;
}

/**
 * Cross-site WebSocket hijacking: a browser page from another origin may not use a user's session.
 * Allowed: no Origin (not a browser: the token alone decides), one of `allowed` when set, else
 * the gateway's own host.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[] | null): boolean {
  if (origin === undefined) return true;
  if (allowed) return allowed.includes(origin.replace(/\/$/, ''));
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
