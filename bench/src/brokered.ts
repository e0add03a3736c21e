import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nextMessage } from './util.js';

// From bench/src (tests) and bench/dist alike: the compiled floor.
const FLOOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'brokered-floor.js');

export type BrokeredTarget = 'brokered' | 'brokered-tx';

/**
 * Starts the brokered floors (`brokered-floor.ts`): one bare service, and a front for each shape
 * (`brokered`: one round trip to Postgres a push, `brokered-tx`: two, as a command's). Resolves
 * once the service subscribes and both fronts listen.
 */
export async function startBrokeredFloors(
  natsUrl: string,
  databaseUrl: string,
): Promise<{ ports: Record<BrokeredTarget, number>; pids(): number[]; kill(): void }> {
  const children: ChildProcess[] = [];
  const start = (env: Record<string, string>) => {
    const child = fork(FLOOR, { env: { ...process.env, NATS_URL: natsUrl, ...env } });
    children.push(child);
    return child;
  };
  try {
    const service = start({ ROLE: 'service', DATABASE_URL: databaseUrl });
    await nextMessage<{ ready: boolean }>(service, (m) => m.ready === true);
    const portOf = async (roundTrips: string) =>
      (await nextMessage<{ port: number }>(start({ ROLE: 'front', PORT: '0', ROUND_TRIPS: roundTrips }), (m) => typeof m.port === 'number'))
        .port;
    const [one, two] = await Promise.all([portOf('1'), portOf('2')]);
    return {
      ports: { brokered: one, 'brokered-tx': two },
      pids: () => children.map((c) => c.pid ?? -1),
      kill: () => children.forEach((c) => c.kill()),
    };
  } catch (err) {
    children.forEach((c) => c.kill());
    throw err;
  }
}
