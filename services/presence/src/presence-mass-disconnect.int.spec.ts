import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { presenceSubjects } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import {
  createTestDatabase,
  rawSocket,
  scrapeValue,
  startStack,
  type RawSocket,
  type Stack,
  type TestDatabase,
  testNatsUrl,
} from '@siteflow/testing';
import { PresenceBucket } from './bucket/presence-bucket.js';
import type { PresenceEntry } from './room/presence-room.js';

/**
 * A mass disconnect: hundreds of sockets of one gateway closing at once (a client network that
 * dropped, a load balancer that let go) is many more untracks than presence runs or queues at once
 * (its command line: MAX_CONCURRENT_COMMANDS, MAX_QUEUED_COMMANDS). The gateway sends them at the
 * pace presence answers them, so none is refused `overloaded` and left as a ghost until a later
 * refresh retries it (and, with thousands, is refused again with most of the others).
 */
const SOCKETS = 300;
const MAX_AGE_MS = 15 * 60_000; // the service's default: opening the bucket here must not change it

let db: TestDatabase;
let stack: Stack;
let bucket: PresenceBucket<PresenceEntry>;
const tokens: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase(inject('databaseUrl'));
  stack = await startStack({
    natsUrl: testNatsUrl(),
    databaseUrl: db.url,
    // Presence runs 4 commands at once and queues 40 (of 32 and 512 by default): 300 untracks at once overflow it.
    env: { MAX_CONCURRENT_COMMANDS: '4', MAX_QUEUED_COMMANDS: '40', LOG_LEVEL: 'warn' },
  });
  for (const u of DEMO_USERS) tokens.push((await stack.devLogin(u.username)).token);
  bucket = await PresenceBucket.open<PresenceEntry>(stack.nats, MAX_AGE_MS);
});

afterAll(async () => {
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed before assigning them */
  await stack?.stop();
  await db?.drop();
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

it(`${SOCKETS} sockets closing at once all leave presence, none of their untracks refused for load`, async () => {
  const sockets: RawSocket[] = [];
  for (let i = 0; i < SOCKETS; i += 30) {
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(30, SOCKETS - i) }, async (_, j) => {
          const n = i + j;
          const s = await rawSocket(stack.socketUrl, tokens[n % tokens.length]!);
          s.send([`j${n}`, `j${n}`, 'project:1', 'phx_join', {}]);
          const reply = await s.next((f) => f[1] === `j${n}`, 30_000);
          expect((reply[4] as { status: string }).status).toBe('ok');
          return s;
        }),
      )),
    );
  }
  // Connection keys are `p<project>.u<user>.c<connection>`; gateway liveness keys `g.<hash>`.
  const liveKeys = async () => (await bucket.keys('*.*.*')).length;
  await expect.poll(liveKeys, { timeout: 20_000 }).toBe(SOCKETS);
  const untracks = (outcome: string) =>
    scrapeValue(`${stack.gatewayUrl}/metrics`, 'siteflow_gateway_nats_request_duration_seconds_count', {
      subject: presenceSubjects.untrack,
      outcome,
    });

  const closed = performance.now();
  await Promise.all(sockets.map((s) => s.close()));
  await expect.poll(liveKeys, { timeout: 30_000 }).toBe(0);
  console.log(`mass disconnect: ${SOCKETS} sockets closed, all gone from presence in ${Math.round(performance.now() - closed)} ms`);
  expect(await untracks('ok')).toBe(SOCKETS);
  expect(await untracks('unavailable')).toBe(0);
});
