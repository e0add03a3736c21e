import type { NatsConnection } from '@nats-io/transport-node';
import { NoRespondersError, TimeoutError } from '@nats-io/transport-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { presenceSubjects, type CommandContext, type PresenceMeta, type PresenceRefresh, type RefreshReply } from '@siteflow/contracts';
import { PresenceTracker, withOwnMeta } from './presence-tracker.js';

const meta = (ref: string, user_id = 1): PresenceMeta => ({
  phx_ref: ref,
  user_id,
  username: user_id === 1 ? 'alice' : 'bob',
  avatar_url: '',
  role: 'customer',
  online_at: '2026-11-24T10:00:00.000Z',
  current_document: null,
  editing: false,
  editing_since: null,
});

/** A connection of alice's (user 1, unless said otherwise) in project 1 (unless said otherwise). */
const ctx = (connection: string, project_id = 1, user_id = 1): CommandContext => ({
  user_id,
  username: 'alice',
  avatar_url: '',
  role: 'customer',
  project_id,
  connection_id: connection,
});

describe("the joiner's presence_state", () => {
  it('adds the connection just tracked to the snapshot that predates it', () => {
    const state = { '2': { metas: [meta('b1', 2)] }, '1': { metas: [meta('a1')] } };
    expect(withOwnMeta(state, { meta: meta('a2'), replaced_phx_ref: null })).toEqual({
      '2': { metas: [meta('b1', 2)] },
      '1': { metas: [meta('a1'), meta('a2')] },
    });
  });

  it('on a rejoin of the same connection, replaces its previous meta instead of doubling it', () => {
    const state = { '1': { metas: [meta('a1'), meta('a-old')] } };
    expect(withOwnMeta(state, { meta: meta('a-new'), replaced_phx_ref: 'a-old' })).toEqual({ '1': { metas: [meta('a1'), meta('a-new')] } });
  });

  it('does not repeat a meta the snapshot already holds', () => {
    expect(withOwnMeta({ '1': { metas: [meta('a1')] } }, { meta: meta('a1'), replaced_phx_ref: null })).toEqual({
      '1': { metas: [meta('a1')] },
    });
  });
});

describe('the refresh, when presence holds connections this gateway does not track', () => {
  /** A NATS stand-in answering track requests ok and refreshes with `held`, recording every refresh sent. */
  const fakePresence = (held: () => number, untrackAnswered: Promise<void> = Promise.resolve()) => {
    const refreshes: PresenceRefresh[] = [];
    const decoder = new TextDecoder();
    const nats = {
      request: async (subject: string, payload: Uint8Array) => {
        const body = JSON.parse(decoder.decode(payload)) as { id?: string; data?: { ctx: CommandContext } };
        if (subject === presenceSubjects.refresh) {
          refreshes.push(body as unknown as PresenceRefresh);
          const reply: RefreshReply = { resync: false, held: held() };
          return { json: () => reply };
        }
        if (subject === presenceSubjects.untrack) await untrackAnswered;
        const response = { ok: true, data: { meta: meta(`r${refreshes.length}`), replaced_phx_ref: null } };
        return { data: new TextEncoder().encode(JSON.stringify({ id: body.id, response, isDisposed: true })), headers: undefined };
      },
    };
    return { nats: nats as unknown as NatsConnection, refreshes };
  };
  const settle = () => new Promise((r) => setImmediate(r));

  it('lists its connections after two refreshes answered with more held than it has, and only then', async () => {
    let held = 1;
    const { nats, refreshes } = fakePresence(() => held);
    const tracker = new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 1_000, timeoutMs: 1_000 });
    await tracker.track(ctx('c1'));
    for (let round = 0; round < 2; round++) {
      tracker.refresh();
      await settle();
    }
    // held === tracked: never listed.
    expect(refreshes.map((r) => r.keys)).toEqual([undefined, undefined]);

    held = 2; // a key of ours presence holds, that we untracked or never had
    for (let round = 0; round < 4; round++) {
      tracker.refresh();
      await settle();
    }
    expect(refreshes.slice(2).map((r) => r.keys)).toEqual([undefined, undefined, ['1/c1'], undefined]);

    held = 1; // removed: no more lists
    for (let round = 0; round < 3; round++) {
      tracker.refresh();
      await settle();
    }
    expect(refreshes.slice(6).every((r) => r.keys === undefined)).toBe(true);
    await tracker.close(10);
  });

  it('keeps refreshing while its last connections are being untracked, so presence does not evict them as a dead gateway', async () => {
    let answerUntrack = () => {};
    const untrackAnswered = new Promise<void>((resolve) => (answerUntrack = resolve));
    const { nats, refreshes } = fakePresence(() => 1, untrackAnswered);
    const tracker = new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 1_000, timeoutMs: 60_000 });
    await tracker.track(ctx('c1'));
    tracker.untrack(ctx('c1'));
    tracker.refresh();
    await settle();
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]).toMatchObject({ connections: 0 });
    answerUntrack();
    await settle();
    tracker.refresh(); // nothing left: silent
    await settle();
    expect(refreshes).toHaveLength(1);
    await tracker.close(10);
  });

  it('counts a connection whose untrack is on its way as its own: no list while presence still holds it, and the list names it', async () => {
    let answerUntrack = () => {};
    const untrackAnswered = new Promise<void>((resolve) => (answerUntrack = resolve));
    const { nats, refreshes } = fakePresence(() => 2, untrackAnswered);
    const tracker = new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 1_000, timeoutMs: 60_000 });
    await tracker.track(ctx('c1'));
    await tracker.track(ctx('c2'));
    tracker.untrack(ctx('c2')); // presence holds both until this is answered
    for (let round = 0; round < 4; round++) {
      tracker.refresh();
      await settle();
    }
    expect(refreshes.map((r) => [r.connections, r.keys])).toEqual(Array.from({ length: 4 }, () => [1, undefined]));

    // Answered, but presence still holds two (a track it finished late): listed after two rounds, without c2.
    answerUntrack();
    await settle();
    for (let round = 0; round < 3; round++) {
      tracker.refresh();
      await settle();
    }
    expect(refreshes.slice(4).map((r) => r.keys)).toEqual([undefined, undefined, ['1/c1']]);
    await tracker.close(10);
  });
});

describe('the tracks of one turn', () => {
  type Track = { ctx: CommandContext; payload: { gateway_id: string } };
  /**
   * A NATS stand-in: `presence.track` answers the connection's own meta; `presence.track_many`
   * answers what `many` returns for its tracks (or throws it). Records the subject of every request.
   */
  const fakeNats = (many: (tracks: Track[]) => unknown) => {
    const asked: string[] = [];
    const decoder = new TextDecoder();
    const own = (t: Track) => ({ ok: true, data: { meta: meta(`ref-${t.ctx.connection_id}`, t.ctx.user_id), replaced_phx_ref: null } });
    const nats = {
      request: async (subject: string, payload: Uint8Array) => {
        asked.push(subject);
        await Promise.resolve();
        const body = JSON.parse(decoder.decode(payload)) as { id: string; data: Track & { tracks: Track[] } };
        let response: unknown;
        if (subject === presenceSubjects.trackMany) {
          response = many(body.data.tracks);
          if (response instanceof Error) throw response;
        } else response = own(body.data);
        return { data: new TextEncoder().encode(JSON.stringify({ id: body.id, response, isDisposed: true })), headers: undefined };
      },
    };
    return { nats: nats as unknown as NatsConnection, asked, own };
  };
  const trackerOn = (nats: NatsConnection) =>
    new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 60_000, timeoutMs: 1_000 });
  const refOf = (r: Awaited<ReturnType<PresenceTracker['track']>>) => (r.ok ? r.tracked.meta.phx_ref : r.error.code);

  it("sends one project's tracks of a turn as one track_many, each given its own reply; another project's and a lone one go apart", async () => {
    const { nats, asked, own } = fakeNats((tracks) => ({
      ok: true,
      data: { replies: tracks.map((t) => (t.ctx.user_id === 9 ? { ok: false, error: { code: 'unauthorized', message: 'no' } } : own(t))) },
    }));
    const tracker = trackerOn(nats);
    const results = await Promise.all([
      tracker.track(ctx('a', 1, 1)),
      tracker.track(ctx('b', 1, 2)),
      tracker.track(ctx('x', 1, 9)),
      tracker.track(ctx('c', 2, 3)),
    ]);
    expect(results.map(refOf)).toEqual(['ref-a', 'ref-b', 'unauthorized', 'ref-c']);
    expect(asked.sort()).toEqual([presenceSubjects.track, presenceSubjects.trackMany]);
    await tracker.close(10);
  });

  it('asks one at a time when no presence serves track_many (an older one, during a rolling upgrade)', async () => {
    const { nats, asked } = fakeNats(() => new NoRespondersError(presenceSubjects.trackMany));
    const tracker = trackerOn(nats);
    const results = await Promise.all(['a', 'b', 'c'].map((c) => tracker.track(ctx(c))));
    expect(results.map(refOf)).toEqual(['ref-a', 'ref-b', 'ref-c']);
    expect(asked).toEqual([presenceSubjects.trackMany, presenceSubjects.track, presenceSubjects.track, presenceSubjects.track]);
    await tracker.close(10);
  });

  it("fails each track of a track_many that timed out or answered the wrong number of replies, giving none another's", async () => {
    const short = fakeNats((tracks) => ({ ok: true, data: { replies: tracks.slice(1).map(() => ({ ok: true, data: {} })) } }));
    const shortTracker = trackerOn(short.nats);
    expect((await Promise.all(['a', 'b'].map((c) => shortTracker.track(ctx(c))))).map(refOf)).toEqual(['internal', 'internal']);
    await shortTracker.close(10);

    const slow = fakeNats(() => new TimeoutError());
    const slowTracker = trackerOn(slow.nats);
    const results = await Promise.all(['a', 'b'].map((c) => slowTracker.track(ctx(c))));
    expect(results).toEqual(
      ['a', 'b'].map(() => ({ ok: false, error: { code: 'unavailable', message: 'presence service did not answer in time' } })),
    );
    expect(slow.asked).toEqual([presenceSubjects.trackMany]); // not asked again one by one: presence is there, and slow
    await slowTracker.close(10);
  });
});

describe('untracks', () => {
  /** A NATS stand-in: tracks answered at once; untracks answered when the test says, their connection ids recorded in order. */
  const slowUntracks = () => {
    const sent: string[] = [];
    const answers: Array<() => void> = [];
    const decoder = new TextDecoder();
    const nats = {
      request: async (subject: string, payload: Uint8Array) => {
        const body = JSON.parse(decoder.decode(payload)) as { id: string; data: { ctx: CommandContext } };
        let response: unknown = { ok: true, data: { meta: meta(`ref-${body.data.ctx.connection_id}`), replaced_phx_ref: null } };
        if (subject === presenceSubjects.untrack) {
          sent.push(body.data.ctx.connection_id);
          await new Promise<void>((resolve) => answers.push(resolve));
          response = { ok: true, data: { removed: true } };
        }
        return { data: new TextEncoder().encode(JSON.stringify({ id: body.id, response, isDisposed: true })), headers: undefined };
      },
    };
    return { nats: nats as unknown as NatsConnection, sent, answers };
  };
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);

  it('are sent at most 32 at once, the others as answers come, in the order the sockets closed', async () => {
    const { nats, sent, answers } = slowUntracks();
    const tracker = new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 60_000, timeoutMs: 60_000 });
    await Promise.all(ids.map((c) => tracker.track(ctx(c))));
    for (const c of ids) tracker.untrack(ctx(c));
    await settle();
    expect(sent).toEqual(ids.slice(0, 32));
    answers.splice(0, 3).forEach((answer) => answer());
    await settle();
    expect(sent).toEqual(ids.slice(0, 35));
    answers.splice(0).forEach((answer) => answer());
    await settle();
    answers.splice(0).forEach((answer) => answer());
    await settle();
    expect(sent).toEqual(ids);
    await tracker.close(10);
  });

  it('at shutdown, those not sent within its bound are not sent at all: presence evicts them once the liveness stops', async () => {
    const { nats, sent, answers } = slowUntracks();
    const tracker = new PresenceTracker(nats, pino({ level: 'silent' }), { gatewayId: 'g', refreshMs: 60_000, timeoutMs: 60_000 });
    await Promise.all(ids.map((c) => tracker.track(ctx(c))));
    await tracker.close(20);
    expect(sent).toEqual(ids.slice(0, 32));
    answers.splice(0).forEach((answer) => answer());
    await settle();
    expect(sent).toHaveLength(32);
  });
});
