import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'phoenix';
import { CHAT_RATE_LIMIT, CHAT_RATE_WINDOW_MS } from '@siteflow/contracts';
import { connectClient, joinChannel, push, rawSocket, useStack, type PushResult, type RawSocket } from '@siteflow/testing';

const FRAMES = 10_000;
/** The gateway's own bounds, set here so the waits below can exceed them. */
const PUSH_TIMEOUT_MS = 5_000;
const SNAPSHOT_TIMEOUT_MS = 5_000;
/**
 * The longest the gateway may take to answer a frame: a join reads the membership and then the
 * snapshot, each bounded. Waiting less turned a slow answer on a busy machine into "unanswered".
 */
const ANSWER_WITHIN_MS = 2 * SNAPSHOT_TIMEOUT_MS + PUSH_TIMEOUT_MS;
/**
 * The well-behaved client stays inside what chat allows one user (CHAT_RATE_LIMIT messages per
 * CHAT_RATE_WINDOW_MS), at half that rate to absorb timer jitter and leave room for the last push.
 * It used to push every 500 ms, twice the limit: a run longer than 30 s (any run on a busy
 * machine) had its own messages refused as `rate_limited`, which read as the hostile socket
 * starving it.
 */
const WELL_BEHAVED_EVERY_MS = (2 * CHAT_RATE_WINDOW_MS) / CHAT_RATE_LIMIT;

/** Nested objects deeper than the gateway accepts (32 levels). */
const deep = fc.integer({ min: 20, max: 60 }).map((n) => {
  let v: unknown = 'bottom';
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
});
const ref = fc.oneof(fc.string({ maxLength: 8 }), fc.nat().map(String));
const topic = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('phoenix', 'project:999', 'user:3', 'room:lobby', 'project:', 'project:0', 'project:01', 'user:-1'),
  fc.nat({ max: 1_000_000 }).map((n) => `project:${n + 2}`),
);
const event = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('phx_join', 'phx_leave', 'heartbeat', 'chat:message', 'document:save', 'checklist:toggle', 'no:such_event', '__proto__'),
);
const payload = fc.oneof(
  fc.object({ maxDepth: 3 }),
  deep,
  fc.record({ text: fc.string({ maxLength: 5000 }) }),
  fc.constant({ text: 'x'.repeat(70_000) }),
);

/** Hostile frames: not JSON, wrong arity and types, huge strings, unknown topics and events, deep nesting. */
const hostileFrame = fc.oneof(
  fc.string({ maxLength: 200 }), // mostly not JSON
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), // JSON, mostly not a frame
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 7 }).map((a) => JSON.stringify(a)), // wrong arity/types
  fc.tuple(fc.option(ref, { nil: null }), fc.option(ref, { nil: null }), topic, event, payload).map((f) => JSON.stringify(f)),
  fc.tuple(fc.option(ref, { nil: null }), ref, topic, event, fc.anything({ maxDepth: 2 })).map((f) => JSON.stringify(f)),
);

/** The ref a frame carries, when it has the shape of a frame. */
function refOf(text: string): string | null {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && typeof v[1] === 'string' ? v[1] : null;
  } catch {
    return null;
  }
}

describe('hostile frames (property)', () => {
  const stack = useStack({
    env: {
      MAX_CONNECTIONS_PER_USER: '10000',
      FRAMES_PER_SECOND: '100000',
      PUSH_TIMEOUT_MS: String(PUSH_TIMEOUT_MS),
      SNAPSHOT_TIMEOUT_MS: String(SNAPSHOT_TIMEOUT_MS),
      LOG_LEVEL: 'error',
    },
  });
  let token: string;
  let good: Socket;

  beforeAll(async () => {
    token = (await stack().devLogin('alice')).token;
    good = await connectClient(stack().socketUrl, (await stack().devLogin('bob')).token);
  });
  afterAll(() => (good as Socket | undefined)?.disconnect()); // unset when beforeAll failed

  it(`answers each of ${FRAMES} generated hostile frames with an error reply or a close, and never crashes`, async () => {
    const channel = good.channel('project:1', {});
    await joinChannel(channel);
    // Each push waits longer than the gateway's own timeout, so a failure shows the gateway's answer.
    const wellBehaved: Promise<PushResult & { text: string }>[] = [];
    const pushWellBehaved = setInterval(() => {
      const text = `still here ${wellBehaved.length + 1}`;
      wellBehaved.push(push(channel, 'chat:message', { text }, PUSH_TIMEOUT_MS + 10_000).then((r) => ({ ...r, text })));
    }, WELL_BEHAVED_EVERY_MS);

    const frames = fc.sample(hostileFrame, { numRuns: FRAMES, seed: 20261124 });
    let socket: RawSocket = await rawSocket(stack().socketUrl, token);
    let replies = 0;
    let closes = 0;
    const unanswered: string[] = [];
    try {
      for (const text of frames) {
        if (!socket.isOpen) socket = await rawSocket(stack().socketUrl, token);
        const seen = socket.frames.length;
        socket.sendRaw(text);
        const r = refOf(text);
        const answered = await Promise.race([
          socket.closed.then(() => 'close' as const),
          socket
            .next((f) => f[3] === 'phx_reply' && f[1] === r, ANSWER_WITHIN_MS)
            .then(
              () => 'reply' as const,
              () => 'none' as const,
            ),
        ]);
        if (answered === 'reply') {
          replies++;
          // Only a heartbeat on "phoenix" may be answered ok: nothing else here is a valid request.
          const reply = socket.frames.slice(seen).find((f) => f[3] === 'phx_reply' && f[1] === r)!;
          const payload = reply[4] as { status?: unknown; response?: unknown } | null | undefined;
          if (payload?.status === 'ok') expect(reply[2] === 'phoenix' && payload.response).toEqual({});
        } else if (answered === 'close') closes++;
        else unanswered.push(text.slice(0, 200));
      }
    } finally {
      clearInterval(pushWellBehaved);
      void socket.close();
    }
    const results = await Promise.all(wellBehaved);
    console.log(`hostile frames: ${replies} answered with a reply, ${closes} with a close; well-behaved client: ${results.length} pushes`);
    expect(unanswered).toEqual([]);
    expect(replies + closes).toBe(FRAMES);
    expect(stack().process('gateway').running).toBe(true);
    expect(results.length).toBeGreaterThan(0);
    expect(results.filter((r) => r.status !== 'ok')).toEqual([]);
    const last = await push(channel, 'chat:message', { text: 'after the storm' });
    expect(last.status).toBe('ok');
    // 25 s on an idle 2-core machine, 110 s with two busy loops beside it: the bound is for a hang.
  }, 480_000);
});
