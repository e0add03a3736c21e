import { connect } from '@nats-io/transport-node';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import pg from 'pg';
import { redactUrl } from './stack-file.js';

export interface ReachabilityOptions {
  /** How long to keep trying before giving up. */
  timeoutMs: number;
  /** Told once, on the first failed attempt, why the server does not answer yet. */
  onFirstFailure?(reason: string): void;
}

/** Whether trying again may help, or the answer will not change (wrong password, no JetStream). */
interface Attempt {
  ok: boolean;
  reason?: string;
  final?: boolean;
}

/**
 * Resolves once a NATS server with JetStream answers at `url` (a `NATS_URL`, credentials and
 * cluster lists included); throws a message naming the URL and why, after `timeoutMs` or at once
 * when retrying cannot help.
 */
export async function waitForNats(url: string, opts: ReachabilityOptions): Promise<void> {
  await retryUntil(`NATS_URL ${redactUrl(url)}`, opts, async (attemptTimeoutMs) => {
    let nc;
    try {
      nc = await connect({ ...natsOptionsFromUrl(url), name: 'npm-start-check', reconnect: false, timeout: attemptTimeoutMs });
    } catch (err) {
      const reason = errorText(err);
      return { ok: false, reason, final: /authoriz|authentic/i.test(reason) };
    }
    try {
      if (!nc.info?.jetstream) return { ok: false, reason: 'the server has no JetStream (start it with -js)', final: true };
      return { ok: true };
    } finally {
      await nc.close().catch(() => undefined);
    }
  });
}

// SQLSTATEs after which the same connection will fail the same way.
const FINAL_POSTGRES_ERRORS = new Set(['28000', '28P01', '3D000']);

/** The same for Postgres at `url` (a `DATABASE_URL`): a connection and `select 1`. */
export async function waitForPostgres(url: string, opts: ReachabilityOptions): Promise<void> {
  await retryUntil(`DATABASE_URL ${redactUrl(url)}`, opts, async (attemptTimeoutMs) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: attemptTimeoutMs });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return { ok: true };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return { ok: false, reason: errorText(err), final: typeof code === 'string' && FINAL_POSTGRES_ERRORS.has(code) };
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

async function retryUntil(what: string, opts: ReachabilityOptions, attempt: (timeoutMs: number) => Promise<Attempt>): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let told = false;
  for (;;) {
    const left = deadline - Date.now();
    const result = await attempt(Math.max(500, Math.min(5_000, left)));
    if (result.ok) return;
    const reason = result.reason ?? 'no answer';
    if (result.final) throw new Error(`${what}: ${reason}`);
    if (Date.now() + 1_000 >= deadline) throw new Error(`${what} did not answer within ${Math.round(opts.timeoutMs / 1000)} s: ${reason}`);
    if (!told) {
      told = true;
      opts.onFirstFailure?.(`${what} does not answer yet (${reason}); trying for ${Math.round(opts.timeoutMs / 1000)} s`);
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // pg and net say little more than the code for a refused or unresolved address.
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !message.includes(code)
    ? `${message} (${code})`
    : message || (typeof code === 'number' ? String(code) : 'unknown error');
}
