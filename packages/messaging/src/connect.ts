import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Connects with the settings every process here uses: endless reconnects, a name for monitoring. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({
    servers: url.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  });
}
