import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runFaultSuite, summaryLine, type SuiteReport } from './suite.js';

/**
 * The fast subset of `npm run faults`: five faults against `npm start` (its own data directory and
 * ports) under a small room load. Nothing acknowledged is lost, nobody receives a message twice,
 * every push is answered, and the system recovers by itself.
 *
 * Members send a chat message again after `unavailable` or no reply, with the write's idempotency
 * key: a push answered `unavailable` may well have been stored (a NATS stall stores about half of
 * them), and only the key keeps the resend from doubling it.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('fault suite (fast subset)', () => {
  it(
    'kill -9 chat, SIGSTOP nats-server 8 s, kill -9 nats-server, kill -9 Postgres, a graceful restart of Postgres: nothing lost or doubled, every push answered, recovered without a person (presence included)',
    { timeout: 600_000 },
    async () => {
      const report: SuiteReport = await runFaultSuite({
        root: ROOT,
        faults: ['kill:chat', 'stop:nats:8', 'kill:nats', 'kill:postgres', 'restart:postgres'],
        users: 10,
        roomSize: 5,
        actEveryMs: 2_000,
        replyBoundMs: 15_000,
        recoveryBoundMs: 90_000,
        beforeMs: 2_000,
        settleMs: 2_000,
        episodeThresholdMs: 3_000,
        retry: true,
        idempotencyKeys: true,
        log: () => undefined,
      });
      const rows = report.results.map((f) => `${f.fault}: ${summaryLine(f)}`).join('\n');
      expect(
        report.results.map((f) => f.fault),
        rows,
      ).toEqual(['kill:chat', 'stop:nats:8', 'kill:nats', 'kill:postgres', 'restart:postgres']);
      // A graceful restart is graceful: Postgres's fast shutdown (SIGINT) ends the services' sessions
      // and exits at once, where SIGTERM (smart shutdown) waited for them until it was killed at 30 s.
      const restart = report.results.find((f) => f.fault === 'restart:postgres')!;
      expect(restart.notes.join('; '), rows).toMatch(/^postgres stopped in \d+(\.\d)? s \(SIGINT\)/);
      for (const f of report.results) {
        // The fault was felt (pushes failed meanwhile), then healed.
        expect(f.pushes.sent, rows).toBeGreaterThan(0);
        expect(f.pushes.acknowledged, rows).toBeGreaterThan(0);
        expect(f.verifiedWrites, rows).toBeGreaterThan(0);
        expect(f.lost, rows).toBe(0);
        expect(f.duplicatesStored, rows).toBe(0);
        expect(f.duplicatesReceived, rows).toBe(0);
        expect(f.pushes.unanswered, rows).toBe(0);
        // Recovered includes presence: after a restarted nats-server presence read its view again
        // (it used to stay short of the gateway's connections until restarted by hand).
        expect(f.recoverySeconds, rows).not.toBeNull();
        expect(f.ghosts.users, rows).toBe(0);
      }
      expect(
        report.results.reduce((n, f) => n + Object.values(f.pushes.errors).reduce((a, b) => a + b, 0), 0),
        rows,
      ).toBeGreaterThan(0);
      // Resends happened, so "nothing doubled" says something.
      expect(
        report.results.reduce((n, f) => n + f.pushes.retries, 0),
        rows,
      ).toBeGreaterThan(0);
    },
  );
});
