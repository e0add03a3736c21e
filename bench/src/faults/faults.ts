import { setTimeout as sleep } from 'node:timers/promises';
import { gracefulStopSignal } from '@siteflow/devstack';
import pg from 'pg';
import type { NpmStartRun } from '@siteflow/testing';

/** What a fault reports back: when it ended (a kill ends at once; a pause at SIGCONT), and anything noticed on the way. */
export interface Injected {
  endedAt: number;
  notes: string[];
}

export interface Fault {
  /** `kill:chat`, `stop:nats:8`, `restart:rolling`, `open-transaction:60`. */
  name: string;
  describe: string;
  inject(run: NpmStartRun): Promise<Injected>;
}

/** The processes `npm start` runs, by their names in stack.json. */
export const PROCESSES = ['chat', 'documents', 'presence', 'checklist', 'gateway', 'nats', 'postgres'] as const;

export const ALL_FAULTS = [
  ...PROCESSES.map((p) => `kill:${p}`),
  ...['nats', 'postgres', 'presence'].flatMap((p) => [`stop:${p}:8`, `stop:${p}:15`]),
  'restart:rolling',
  'open-transaction:60',
];

/**
 * Each process runs in a process group of its own (the supervisor spawns them detached), so a
 * signal to the group reaches all of a process: Postgres's backends with its postmaster (a
 * postmaster killed alone would leave its backends serving the old connections).
 */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    process.kill(pid, signal);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops one process as an operator's graceful restart would, waits until `npm start` has started it
 * again and `/readyz?full` answers 200. A process still running 30 s after its signal is killed, and
 * the notes say so.
 */
async function restartOne(run: NpmStartRun, target: string, notes: string[]): Promise<void> {
  const { pid, role } = run.process(target);
  // As `npm start` stops it: Postgres's SIGTERM (smart shutdown) would wait for the services' sessions.
  const signal = gracefulStopSignal(role);
  const began = performance.now();
  process.kill(pid, signal);
  const deadline = began + 30_000;
  while (isAlive(pid) && performance.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    notes.push(`${target} did not exit within 30 s of ${signal}: killed`);
    signalGroup(pid, 'SIGKILL');
  } else notes.push(`${target} stopped in ${((performance.now() - began) / 1000).toFixed(1)} s (${signal})`);
  await run.waitForRestart(target, pid, 60_000);
  // The loop's own answer decides: a second look could fail by itself (a 2 s bound on a loaded machine).
  const readyBy = performance.now() + 60_000;
  let ready = await run.ready();
  while (!ready && performance.now() < readyBy) {
    await sleep(250);
    ready = await run.ready();
  }
  notes.push(
    ready
      ? `ready again ${((performance.now() - began) / 1000).toFixed(1)} s after ${target}'s ${signal}`
      : `not ready within 60 s after restarting ${target}`,
  );
}

export function faultNamed(name: string): Fault {
  const [kind, target, arg] = name.split(':');
  const processName = PROCESSES.find((p) => p === target);
  if (kind === 'kill' && processName) {
    return {
      name,
      describe: `kill -9 ${processName}`,
      inject(run) {
        signalGroup(run.process(processName).pid, 'SIGKILL');
        return Promise.resolve({ endedAt: performance.now(), notes: [] });
      },
    };
  }
  if (kind === 'stop' && (processName === 'nats' || processName === 'postgres' || processName === 'presence') && Number(arg) > 0) {
    const seconds = Number(arg);
    return {
      name,
      describe: `SIGSTOP ${processName} ${seconds} s`,
      async inject(run) {
        const pid = run.process(processName).pid;
        signalGroup(pid, 'SIGSTOP');
        try {
          await sleep(seconds * 1000);
        } finally {
          signalGroup(pid, 'SIGCONT');
        }
        return { endedAt: performance.now(), notes: [] };
      },
    };
  }
  if (name === 'restart:rolling') {
    return {
      name,
      describe: 'rolling restart of every process (SIGTERM; Postgres: SIGINT)',
      async inject(run) {
        const notes: string[] = [];
        for (const target of PROCESSES) await restartOne(run, target, notes);
        return { endedAt: performance.now(), notes };
      },
    };
  }
  if (kind === 'restart' && processName) {
    return {
      name,
      describe: `graceful restart of ${processName} (${processName === 'postgres' ? 'SIGINT' : 'SIGTERM'})`,
      async inject(run) {
        const notes: string[] = [];
        await restartOne(run, processName, notes);
        return { endedAt: performance.now(), notes };
      },
    };
  }
  if (kind === 'open-transaction' && Number(target) > 0) {
    const seconds = Number(target);
    return {
      name,
      describe: `a transaction left open ${seconds} s`,
      async inject(run) {
        // An outsider's session (an idle psql, a stuck client): our services' own bounds do not apply to it.
        const client = new pg.Client({
          connectionString: run.stack().databaseUrl,
          application_name: 'fault-suite idle transaction',
          connectionTimeoutMillis: 10_000,
        });
        client.on('error', () => undefined);
        await client.connect();
        try {
          await client.query('BEGIN');
          // A transaction id of its own: that is what holds the relays' horizon back.
          await client.query('SELECT pg_current_xact_id()');
          await sleep(seconds * 1000);
          await client.query('ROLLBACK');
        } finally {
          await client.end().catch(() => undefined);
        }
        return { endedAt: performance.now(), notes: [] };
      },
    };
  }
  throw new Error(`unknown fault "${name}"; known: ${ALL_FAULTS.join(', ')}`);
}
