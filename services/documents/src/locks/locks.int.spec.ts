import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Socket } from 'phoenix';
import { jetstream } from '@nats-io/jetstream';
import type { DocumentMeta, PublishedEvent, RoomSnapshot } from '@siteflow/contracts';
import { connectClient, joinChannel, nextEvent, push, recordEvents, useStack } from '@siteflow/testing';

/**
 * Edit locks end to end with two documents instances: stock phoenix clients → gateway → NATS →
 * either instance → Postgres; releases on disconnect and on presence's eviction.
 */
describe('edit locks', () => {
  // Small pools: Postgres is shared with the other test files' stacks, and row locks queue commands anyway.
  const stack = useStack({ processEnv: { documents: { DB_POOL_SIZE: '4' } } });
  const sockets: Socket[] = [];
  const connect = async (who: 'alice' | 'bob' | 'carol') => {
    const { token, user } = await stack().devLogin(who);
    const socket = await connectClient(stack().socketUrl, token);
    sockets.push(socket);
    const channel = socket.channel('project:1', {});
    const snapshot = await joinChannel<RoomSnapshot>(channel);
    return { socket, channel, snapshot, user };
  };
  const eventsOf = async (documentId: number) => {
    const pool = new pg.Pool({ connectionString: stack().databaseUrl, max: 1 });
    try {
      const { rows } = await pool.query<{ type: string; data: Record<string, unknown> }>(
        'SELECT type, data FROM documents.events WHERE stream_id = $1 ORDER BY version',
        [`document-${documentId}`],
      );
      return rows;
    } finally {
      await pool.end();
    }
  };
  const closeAll = () => {
    for (const s of sockets.splice(0)) s.disconnect();
  };

  it('the join snapshot carries the 9 documents with version and lock, without content', async () => {
    const { snapshot } = await connect('bob');
    expect(snapshot.documents.map((d) => d.document_type)).toEqual([
      'technical_spec',
      'design_system',
      'content_structure',
      'feature_list',
      'timeline',
      'budget',
      'risk_analysis',
      'success_metrics',
      'deployment_plan',
    ]);
    for (const d of snapshot.documents) {
      expect(d).toMatchObject({ project_id: 1, version: 1, lock: null });
      expect(d).not.toHaveProperty('content');
    }
    closeAll();
  });

  it('race: 10 clients × 200 rounds on two instances; every round exactly one ok and nine locked, no overlap', async () => {
    await stack().startExtra('documents');
    const clients = await Promise.all(
      (['alice', 'alice', 'alice', 'alice', 'bob', 'bob', 'bob', 'carol', 'carol', 'carol'] as const).map(connect),
    );
    const documentId = 9;
    const started = Date.now();
    for (let round = 0; round < 200; round++) {
      const replies = await Promise.all(clients.map((c) => push(c.channel, 'document:start_editing', { document_id: documentId })));
      const winners = replies.flatMap((r, i) => (r.status === 'ok' ? [i] : []));
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(replies.filter((r) => r.status === 'error' && r.response.code === 'locked')).toHaveLength(9);
      const stop = await push(clients[winners[0]!]!.channel, 'document:stop_editing', { document_id: documentId });
      if (stop.status === 'ok' && !stop.response.lock_released) {
        // Something else released the winner's lock (seen once, under a CI run and eight test files
        // at once): say what, from the stream.
        const last = (await eventsOf(documentId)).slice(-3);
        expect.fail(`round ${round}: the winner's stop released nothing; the stream's last events: ${JSON.stringify(last)}`);
      }
      expect(stop).toEqual({ status: 'ok', response: { lock_released: true } });
    }
    const elapsed = Date.now() - started;
    console.info(`lock race: 200 rounds × 10 clients on 2 instances in ${elapsed} ms`);
    // The stored history alternates acquire/release: never two holders at once.
    const lockEvents = (await eventsOf(documentId)).filter((e) => e.type === 'LockAcquired' || e.type === 'LockReleased');
    expect(lockEvents).toHaveLength(400);
    lockEvents.forEach((e, i) => expect(e.type).toBe(i % 2 === 0 ? 'LockAcquired' : 'LockReleased'));
    for (let i = 0; i < lockEvents.length; i += 2) {
      expect(lockEvents[i + 1]!.data.connection_id).toBe(lockEvents[i]!.data.connection_id);
      expect(lockEvents[i + 1]!.data.reason).toBe('released');
    }
    closeAll();
  });

  it('the locked reply names the holder; a second tab of the holder is locked until it takes over', async () => {
    const bob1 = await connect('bob');
    const bob2 = await connect('bob');
    const carol = await connect('carol');
    const ok = await push(bob1.channel, 'document:start_editing', { document_id: 1 });
    expect(ok.status).toBe('ok');
    expect(ok.response).toMatchObject({ lock_acquired: true });
    const refused = await push(carol.channel, 'document:start_editing', { document_id: 1 });
    expect(refused).toMatchObject({ status: 'error', response: { code: 'locked', reason: 'Document is being edited by bob' } });
    const secondTab = await push(bob2.channel, 'document:start_editing', { document_id: 1 });
    expect(secondTab).toMatchObject({ status: 'error', response: { code: 'locked', details: { same_user: true } } });
    const unlocked = nextEvent(carol.channel, 'document:unlocked', (p) => p.document_id === 1);
    const takeOver = await push(bob2.channel, 'document:start_editing', { document_id: 1, take_over: true });
    expect(takeOver.status).toBe('ok');
    expect(await unlocked).toEqual({ document_id: 1, user_id: bob1.user.id, reason: 'released' });
    // The first tab no longer holds it: its save is refused.
    const save = await push(bob1.channel, 'document:save', { document_id: 1, content: 'from tab 1', base_version: 1 });
    expect(save).toMatchObject({ status: 'error', response: { code: 'not_lock_holder' } });
    expect((await push(bob2.channel, 'document:stop_editing', { document_id: 1 })).response).toEqual({ lock_released: true });
    closeAll();
  });

  it('a closed socket releases its lock within 1 s (gateway.connection.closed)', async () => {
    const bob = await connect('bob');
    const carol = await connect('carol');
    const locked = nextEvent(carol.channel, 'document:locked', (p) => p.document_id === 2);
    expect((await push(bob.channel, 'document:start_editing', { document_id: 2 })).status).toBe('ok');
    expect(await locked).toMatchObject({ document_id: 2, user_id: bob.user.id, username: 'bob' });
    const unlocked = recordEvents(carol.channel, 'document:unlocked');
    const closedAt = Date.now();
    bob.socket.disconnect();
    await expect
      .poll(() => unlocked.events.find((e) => e.document_id === 2), { timeout: 1000, interval: 10 })
      .toEqual({
        document_id: 2,
        user_id: bob.user.id,
        reason: 'disconnected',
      });
    console.info(`disconnect → document:unlocked in ${Date.now() - closedAt} ms`);
    closeAll();
  });

  it('presence evicting the holder’s connection (crashed gateway) releases its lock', async () => {
    const bob = await connect('bob');
    const carol = await connect('carol');
    expect((await push(bob.channel, 'document:start_editing', { document_id: 3 })).status).toBe('ok');
    const doc = (await push(carol.channel, 'document:get', { document_id: 3 })).response as DocumentMeta & { content: string };
    expect(doc.lock).toMatchObject({ user_id: bob.user.id });
    expect(doc.content).toContain('# Content Structure');
    const connectionId = doc.lock!.connection_id;

    // What presence's outbox publishes when its sweep evicts a connection.
    const unlocked = nextEvent(carol.channel, 'document:unlocked', (p) => p.document_id === 3);
    const eventId = randomUUID();
    const evicted: PublishedEvent = {
      event_id: eventId,
      type: 'ConnectionEvicted',
      stream_id: `presence-test-${eventId}`,
      version: 1,
      global_position: 1,
      project_id: 1,
      occurred_at: new Date().toISOString(),
      data: { connection_id: connectionId, user_id: bob.user.id, project_id: 1, evicted_at: new Date().toISOString() },
      broadcast: null,
    };
    await jetstream(stack().nats).publish('project.1.ev.presence.ConnectionEvicted', JSON.stringify(evicted), { msgID: eventId });
    expect(await unlocked).toEqual({ document_id: 3, user_id: bob.user.id, reason: 'disconnected' });
    const save = await push(bob.channel, 'document:save', { document_id: 3, content: 'late', base_version: 1 });
    expect(save.response).toMatchObject({ code: 'not_lock_holder' });
    closeAll();
  });

  it('request_edit tells the holder on their user topic; an admin force-unlock is recorded and tells the former holder', async () => {
    const bob = await connect('bob');
    const carol = await connect('carol');
    const alice = await connect('alice');
    const bobUser = bob.socket.channel(`user:${bob.user.id}`, {});
    await joinChannel(bobUser);
    expect((await push(bob.channel, 'document:start_editing', { document_id: 4 })).status).toBe('ok');

    const requested = nextEvent(bobUser, 'document:edit_requested');
    const req = await push(carol.channel, 'document:request_edit', { document_id: 4, message: 'may I?' });
    expect(req).toMatchObject({ status: 'ok', response: { requested: true, holder_id: bob.user.id } });
    expect(await requested).toMatchObject({ document_id: 4, project_id: 1, user_id: carol.user.id, username: 'carol', message: 'may I?' });

    const notAdmin = await push(carol.channel, 'document:force_unlock', { document_id: 4 });
    expect(notAdmin).toMatchObject({ status: 'error', response: { code: 'forbidden' } });

    const revoked = nextEvent(bobUser, 'document:lock_revoked');
    const unlocked = nextEvent(carol.channel, 'document:unlocked', (p) => p.document_id === 4);
    const forced = await push(alice.channel, 'document:force_unlock', { document_id: 4, reason: 'bob went home' });
    expect(forced).toMatchObject({ status: 'ok', response: { lock_released: true, former_holder_id: bob.user.id } });
    expect(await revoked).toMatchObject({
      document_id: 4,
      project_id: 1,
      by_user_id: alice.user.id,
      by_username: 'alice',
      reason: 'bob went home',
    });
    expect(await unlocked).toEqual({ document_id: 4, user_id: bob.user.id, reason: 'revoked' });
    const released = (await eventsOf(4)).find((e) => e.type === 'LockReleased');
    expect(released?.data).toMatchObject({ reason: 'revoked', by_user_id: alice.user.id, by_username: 'alice', note: 'bob went home' });

    const save = await push(bob.channel, 'document:save', { document_id: 4, content: 'mine', base_version: 1 });
    expect(save.response).toMatchObject({ code: 'not_lock_holder' });
    closeAll();
  });

  it('bad input gets a specific error: unknown document, another project’s document, malformed payload', async () => {
    const bob = await connect('bob');
    expect((await push(bob.channel, 'document:start_editing', { document_id: 99 })).response).toMatchObject({ code: 'not_found' });
    expect((await push(bob.channel, 'document:start_editing', { document_id: 'x' })).response).toMatchObject({ code: 'invalid_payload' });
    expect((await push(bob.channel, 'document:heartbeat', { document_id: 5 })).response).toMatchObject({ code: 'not_lock_holder' });
    closeAll();
  });
});
