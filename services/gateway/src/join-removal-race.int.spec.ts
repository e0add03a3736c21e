import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { testNatsUrl } from '@siteflow/testing';
import type { Msg } from '@nats-io/transport-node';
import { presenceSubjects, subjects } from '@siteflow/contracts';
import type {} from '@siteflow/testing';
import { RealtimeError, startSiteflow, type Siteflow } from '@siteflow/testkit';

/**
 * The join race of issue 18: a member removed (projects API) while their join is reading its
 * snapshot must not end up joined. The window is held open on purpose, on the kit's fault
 * handles: presence is paused, so bob's join waits for presence after documents, chat and
 * checklist answered with bob still a member; bob is removed and the removal reaches the room;
 * then presence answers (its part, then the track) as it would have had it answered before it
 * heard of the removal: the answers it gave alice a moment earlier, replayed (presence itself,
 * resumed, may or may not follow the removal first, and the test must not depend on which).
 */
let siteflow: Siteflow;

beforeAll(async () => {
  siteflow = await startSiteflow({
    natsUrl: testNatsUrl(),
    databaseUrl: inject('databaseUrl'),
    freshJetStream: true,
    // The join must outlast the paused service; nothing here waits for the timeout itself. Bob's
    // join reads its own snapshot (no sharing of alice's settled read), so the test can hold
    // presence's answer to it; a removal reaching a join that shares a read is rooms.unit.spec's.
    partEnv: { gateway: { SNAPSHOT_TIMEOUT_MS: '60000', SNAPSHOT_SHARE_MS: '0' } },
  });
});

afterAll(async () => {
  await (siteflow as Siteflow | undefined)?.stop(); // undefined when the start failed
});

it('a member removed while their join reads its snapshot is refused, not joined', async () => {
  const alice = siteflow.user('alice', 'admin');
  const bob = siteflow.user('bob');
  const project = await siteflow.createProject({ members: [alice, bob] });
  const [a, b] = await Promise.all([siteflow.connect(alice), siteflow.connect(bob, { timeoutMs: 60_000 })]);
  const presence = siteflow.part('presence');
  try {
    // What presence answers alice, kept to be replayed to bob's join.
    const toAlice = await Promise.all([
      watchRequest(subjects.snapshot('presence'), alice.id),
      watchRequest(presenceSubjects.track, alice.id),
    ]);
    const room = await a.join(project.topic);
    const [presencePart, tracked] = await Promise.all([toAlice[0].answer, toAlice[1].answer]);

    const othersToBob = await Promise.all(
      (['documents', 'chat', 'checklist'] as const).map((s) => watchRequest(subjects.snapshot(s), bob.id)),
    );
    const [presencePartToBob, trackToBob] = await Promise.all([
      watchRequest(subjects.snapshot('presence'), bob.id),
      watchRequest(presenceSubjects.track, bob.id),
    ]);
    presence.pause();
    const joining = b.join(project.topic).then(
      () => 'joined',
      (err: unknown) => (err instanceof RealtimeError ? err.code : err),
    );
    // Documents, chat and checklist answered while bob was a member; presence's part is outstanding.
    await Promise.all(othersToBob.map((w) => w.answer));
    const presenceRequest = await presencePartToBob.request;

    const removedSeen = a.nextEvent(project.topic, 'project:updated', (p) => p.members?.some((m) => m.user_id === bob.id) === false);
    const res = await fetch(`${siteflow.gatewayUrl}/api/admin/projects/${project.id}/members/${bob.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await siteflow.token(alice, { scope: 'projects:admin' })}` },
    });
    expect(res.status).toBe(204);
    await removedSeen; // the removal reached the room on this gateway while bob's join waits for presence

    // Presence answers as it would have before it heard of the removal: its part, then the track.
    siteflow.nats.publish(presenceRequest.reply, replayed(presencePart, presenceRequest.id));
    const trackRequest = await trackToBob.request;
    siteflow.nats.publish(trackRequest.reply, replayed(tracked, trackRequest.id));

    expect(await joining).toBe('unauthorized');
    expect(room.presence.has(bob.id)).toBe(false);
  } finally {
    presence.resume();
    await Promise.all([a.close(), b.close()]);
  }
});

interface Watched {
  /** The request, once it was sent: where its answer goes and the envelope's id. */
  request: Promise<{ reply: string; id: unknown }>;
  /** The answer's raw bytes, once it went out. */
  answer: Promise<Uint8Array>;
}

/** Watches the next request on `subject` made for `userId` (a service request is Nest's envelope: `{pattern, data: {ctx, payload}, id}`) and its answer. */
async function watchRequest(subject: string, userId: number): Promise<Watched> {
  let wanted: string | undefined;
  let sent: (r: { reply: string; id: unknown }) => void = () => undefined;
  let answered: (data: Uint8Array) => void = () => undefined;
  const request = new Promise<{ reply: string; id: unknown }>((resolve) => (sent = resolve));
  const answer = new Promise<Uint8Array>((resolve) => (answered = resolve));
  // Callbacks run in the order messages arrive: a request's copy before its answer's.
  const requests = siteflow.nats.subscribe(subject, {
    callback: (_err, m: Msg) => {
      const envelope = m.json<{ data?: { ctx?: { user_id?: number } }; id?: unknown }>();
      if (envelope.data?.ctx?.user_id !== userId || !m.reply) return;
      wanted = m.reply;
      requests.unsubscribe();
      sent({ reply: m.reply, id: envelope.id });
    },
  });
  const replies = siteflow.nats.subscribe('_INBOX.>', {
    callback: (_err, m: Msg) => {
      if (wanted === undefined || m.subject !== wanted) return;
      replies.unsubscribe();
      answered(m.data);
    },
  });
  await siteflow.nats.flush(); // both subscriptions are in place before anything is asked
  return {
    request: withinSeconds(request, 30, `a request on ${subject} for ${userId}`),
    answer: withinSeconds(answer, 30, `an answer on ${subject} for ${userId}`),
  };
}

/** A service's answer packet with another request's id. */
function replayed(packet: Uint8Array, id: unknown): Uint8Array {
  const decoded = JSON.parse(new TextDecoder().decode(packet)) as Record<string, unknown>;
  return new TextEncoder().encode(JSON.stringify({ ...decoded, id }));
}

function withinSeconds<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${seconds} s`)), seconds * 1000).unref()),
  ]);
}
