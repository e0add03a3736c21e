import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, Socket } from 'phoenix';
import { connectClient, joinChannel, push, useStack } from '@siteflow/testing';

/** The role matrix (README, "Who may do what"): customers are refused admin actions. */
describe('roles', () => {
  const stack = useStack();
  let alice: Socket;
  let bob: Socket;
  let asAlice: Channel;
  let asBob: Channel;

  beforeAll(async () => {
    alice = await connectClient(stack().socketUrl, (await stack().devLogin('alice')).token);
    bob = await connectClient(stack().socketUrl, (await stack().devLogin('bob')).token);
    asAlice = alice.channel('project:1', {});
    asBob = bob.channel('project:1', {});
    await joinChannel(asAlice);
    await joinChannel(asBob);
  });
  afterAll(() => {
    // Unset when beforeAll failed.
    (alice as Socket | undefined)?.disconnect();
    (bob as Socket | undefined)?.disconnect();
  });

  it('refuses a customer force-unlocking, changing the project status and editing the checklist template', async () => {
    const lock = await push(asAlice, 'document:start_editing', { document_id: 1 });
    expect(lock.status).toBe('ok');
    for (const [event, payload] of [
      ['document:force_unlock', { document_id: 1, reason: 'I want it' }],
      ['project:set_status', { status: 'completed' }],
      ['checklist:add_item', { title: 'Sneaky item' }],
    ] as const) {
      const r = await push(asBob, event, payload);
      expect(r, event).toMatchObject({ status: 'error', response: { code: 'forbidden' } });
    }
    // The lock is still alice's, and the admin may do what the customer may not.
    expect((await push(asBob, 'document:start_editing', { document_id: 1 })).response).toMatchObject({ code: 'locked' });
    expect((await push(asAlice, 'project:set_status', { status: 'in_progress' })).status).toBe('ok');
    expect((await push(asAlice, 'checklist:add_item', { title: 'Agreed by the admin' })).status).toBe('ok');
    expect((await push(asAlice, 'document:force_unlock', { document_id: 1, reason: 'testing' })).status).toBe('ok');
  });
});
