import { connect, type NatsConnection } from '@nats-io/transport-node';

/**
 * Server list and credentials from a NATS URL. Like DATABASE_URL, NATS_URL may carry a user and
 * password (`nats://chat:secret@nats:4222`, comma-separated for a cluster); nats.js wants them as
 * options, so they are taken out of the server list here.
 */
export function natsOptionsFromUrl(url: string): { servers: string[]; user?: string; pass?: string } {
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
  return user === undefined ? { servers } : { servers, user, pass: pass ?? '' };
}

/** Connects with the settings every process here uses: endless reconnects, a name for monitoring. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({
    ...natsOptionsFromUrl(url),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  });
}
