import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSiteflow, type RealtimeClient, type Siteflow, type TestProject, type TestUser } from '@siteflow/testkit';

/**
 * What a tester writes in their own repository: only @siteflow/testkit's public API. One system
 * for the suite; a fresh project (and fresh users) per test, so tests never see each other's data.
 */
let siteflow: Siteflow;
let alice: TestUser;
let bob: TestUser;
let project: TestProject;
const clients: RealtimeClient[] = [];

const connect = async (user: TestUser) => {
  const client = await siteflow.connect(user);
  clients.push(client);
  return client;
};

beforeAll(async () => {
  siteflow = await startSiteflow({ log: (m) => console.log(m) });
});

afterAll(async () => {
  await (siteflow as Siteflow | undefined)?.stop(); // undefined when the start failed
});

beforeEach(async () => {
  alice = siteflow.user('alice', 'admin');
  bob = siteflow.user('bob');
  project = await siteflow.createProject({ name: 'Harbour extension', members: [alice, bob] });
  return async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  };
});

describe('a tester suite against Siteflow Collab', () => {
  it('two users chat', async () => {
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    const roomOfAlice = await a.join(project.topic);
    await b.join(project.topic);
    expect(roomOfAlice.snapshot.project?.name).toBe('Harbour extension');
    expect(roomOfAlice.snapshot.chat.messages).toEqual([]);

    const seenByBob = b.nextEvent(project.topic, 'chat:new_message', (m) => m.text === 'Site visit at 9?');
    const sent = await a.pushOk(project.topic, 'chat:message', { text: 'Site visit at 9?' });
    const received = await seenByBob;
    expect(received.id).toBe(sent.id);
    expect(received.username).toBe('alice');
  });

  it('a lock race has exactly one winner', async () => {
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    const room = await a.join(project.topic);
    await b.join(project.topic);
    const documentId = room.snapshot.documents[0]!.id;

    const outcomes = await Promise.all([
      a.push(project.topic, 'document:start_editing', { document_id: documentId }),
      b.push(project.topic, 'document:start_editing', { document_id: documentId }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['error', 'ok']);
    const refused = outcomes.find((o) => o.status === 'error');
    expect(refused).toMatchObject({ code: 'locked' });
  });

  it('a checklist toggle reaches everybody with the progress', async () => {
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    const room = await a.join(project.topic);
    await b.join(project.topic);
    let item = room.snapshot.checklist.items[0];
    if (!item) {
      const changed = a.nextEvent(project.topic, 'checklist:changed');
      await a.pushOk(project.topic, 'checklist:add_item', { title: 'Soil report' });
      item = (await changed).items[0]!;
    }

    const toggled = a.nextEvent(project.topic, 'checklist:updated', (u) => u.item_id === item.id);
    const progress = a.nextEvent(project.topic, 'progress:updated');
    const reply = await b.pushOk(project.topic, 'checklist:toggle', { item_id: item.id, checked: true });
    expect(reply.item.checked).toBe(true);
    expect(await toggled).toMatchObject({ checked: true, updated_by: 'bob' });
    expect((await progress).completed_items).toBe(1);
  });

  it('users are present again after the gateway is killed and comes back', async () => {
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    const roomOfAlice = await a.join(project.topic);
    const roomOfBob = await b.join(project.topic);
    await roomOfAlice.presence.until((p) => p.has(bob.id), 10_000, 'bob present');

    const [aliceNotices, bobNotices] = [a.nextClose(), b.nextClose()];
    await siteflow.part('gateway').kill();
    await Promise.all([aliceNotices, bobNotices]);
    expect(a.connected).toBe(false);

    const [aliceBack, bobBack] = [roomOfAlice.nextRejoin(60_000), roomOfBob.nextRejoin(60_000)];
    await siteflow.part('gateway').start();
    await Promise.all([aliceBack, bobBack]);
    // One meta each: the connections the killed gateway held are gone, the new ones are there.
    const oneConnectionEach = (p: typeof roomOfAlice.presence) =>
      [alice.id, bob.id].every((id) => p.users().find((u) => u.user_id === id)?.metas.length === 1);
    await roomOfAlice.presence.until(oneConnectionEach, 45_000, 'alice and bob present once each after the restart');
    await roomOfBob.presence.until(oneConnectionEach, 45_000, 'alice and bob present once each, as bob sees it');
  });

  it('a stranger cannot join the room', async () => {
    const carol = siteflow.user('carol');
    const c = await connect(carol);
    await expect(c.join(project.topic)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
