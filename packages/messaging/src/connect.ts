import { connect, type NatsConnection } from '@nats-io/transport-node';
import { settleAnsweredRequestsQuietly } from './answered-requests.js';

/** Connection options taken from a NATS URL. */
export interface NatsUrlOptions {
  servers: string[];
  user?: string;
  pass?: string;
  /** `_INBOX_<user>` when the URL names a user (see `inboxPrefixFor`). */
  inboxPrefix?: string;
}

/**
 * Server list and credentials from a NATS URL. Like DATABASE_URL, NATS_URL may carry a user and
 * password (`nats://chat:secret@nats:4222`, comma-separated for a cluster); nats.js wants them as
 * options, so they are taken out of the server list here. A named user also gets inboxes of its
 * own (`inboxPrefixFor`).
 */
export function natsOptionsFromUrl(url: string): NatsUrlOptions {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((server) => {
      const withScheme = server.includes('://') ? server : `nats://${server}`;
      const u = new URL(withScheme);
      if (u.username) {
        user = decodeURIComponent(u.username);
        pass = decodeURIComponent(u.password);
      }
      return `${u.protocol}//${u.host}`;
    });
  if (user === undefined) return { servers };
  const inboxPrefix = inboxPrefixFor(user);
  return inboxPrefix === undefined ? { servers, user, pass: pass ?? '' } : { servers, user, pass: pass ?? '', inboxPrefix };
}

/**
 * Where replies to a user's requests (and its JetStream deliveries) arrive: `_INBOX_<user>.…`
 * instead of the shared `_INBOX.…`, so the server can let each user subscribe to its own inboxes
 * only (infra/nats/auth.conf) and no user reads the replies meant for another. Undefined for a
 * name that is not a plain subject token (then nats.js's default `_INBOX` is used).
 */
export function inboxPrefixFor(user: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,64}$/.test(user) ? `_INBOX_${user}` : undefined;
}

/**
 * Connects with the settings every process here uses: endless reconnects, a name for monitoring,
 * and no async stack traces: nats.js otherwise builds an Error for every request to keep the
 * caller's stack for a failure it might have (4 % of the gateway's CPU in a join storm, profiled;
 * README, Benchmarks), and every failure here becomes a coded reply that names its subject anyway.
 */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  settleAnsweredRequestsQuietly();
  return connect({
    ...natsOptionsFromUrl(url),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    noAsyncTraces: true,
  });
}
