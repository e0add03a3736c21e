import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { POSTGRES_STOP_SIGNAL } from './embedded-postgres.js';

/** What a process of the stack is. */
export type StackRole = 'service' | 'gateway' | 'nats' | 'postgres';

/** Where a process answers; only the kinds it has. */
export interface StackUrls {
  /** HTTP and WebSocket (the gateway). */
  http?: string;
  /** Prometheus metrics. */
  metrics?: string;
  /** NATS clients. */
  nats?: string;
  /** nats-server's HTTP monitoring (/varz, /connz, /jsz). */
  monitoring?: string;
  /** Postgres clients (with the password: the file is readable by its owner only). */
  postgres?: string;
}

export interface StackProcess {
  name: string;
  role: StackRole;
  /** The current pid: a restarted process is written again with its new one. */
  pid: number;
  urls: StackUrls;
}

/**
 * The signal that stops a process of the stack gracefully, as `npm start`'s own stop does: for
 * Postgres SIGINT, its fast shutdown (SIGTERM is its smart shutdown, which waits for every client
 * session to end, and the services' pools keep theirs open: it was killed after 30 s); SIGTERM for
 * the others.
 */
export function gracefulStopSignal(role: StackRole): NodeJS.Signals {
  return role === 'postgres' ? POSTGRES_STOP_SIGNAL : 'SIGTERM';
}

/**
 * `.data/stack.json` while `npm start` runs: every process it runs and where each answers, for
 * people, the fault suite and the cluster. Removed when `npm start` stops.
 */
export interface StackFile {
  /** The `npm start` process (its supervisor), which restarts the others. */
  supervisorPid: number;
  startedAt: string;
  /** The NATS and Postgres the services use (also when they came from NATS_URL / DATABASE_URL). */
  natsUrl: string;
  databaseUrl: string;
  processes: StackProcess[];
}

/** Replaces the file in one step (readers never see half of it), readable by its owner only. */
export async function writeStackFile(file: string, stack: StackFile): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(stack, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

export function readStackFile(file: string): StackFile {
  return JSON.parse(readFileSync(file, 'utf8')) as StackFile;
}

export async function removeStackFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** The URL (or comma-separated URLs) with each password replaced by `***`, for printing. */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((part) => part.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@'))
    .join(',');
}
