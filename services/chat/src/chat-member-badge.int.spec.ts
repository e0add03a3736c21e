import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { adminProjectSubjects } from '@siteflow/contracts';
import { callService } from '@siteflow/messaging';
import { testNatsUrl } from '@siteflow/testing';
import { startSiteflow, type Siteflow } from '@siteflow/testkit';

/**
 * A post's unread badges go to the members chat's own copy holds, which follows documents' events:
 * a member just added got none for the posts made before that copy had them, and their projects
 * list showed no unread until the next post. Chat now sends the newcomer's badge as soon as its
 * copy has them, counting everything unread so far.
 */
let siteflow: Siteflow;

beforeAll(async () => {
  siteflow = await startSiteflow({ natsUrl: testNatsUrl(), databaseUrl: inject('databaseUrl'), freshJetStream: true });
});

afterAll(async () => {
  await (siteflow as Siteflow | undefined)?.stop(); // undefined when the start failed
});

it('a member added gets their unread badge at once, counting what was posted before they were added', async () => {
  const admin = siteflow.user('badge-admin', 'admin');
  const newcomer = siteflow.user('badge-newcomer');
  const project = await siteflow.createProject({ members: [admin, siteflow.user('badge-bob')] });
  const a = await siteflow.connect(admin);
  const n = await siteflow.connect(newcomer);
  try {
    await a.join(project.topic);
    for (let i = 0; i < 3; i++) await a.pushOk(project.topic, 'chat:message', { text: `before ${i}` });
    const userTopic = `user:${newcomer.id}`;
    await n.join(userTopic);
    const badge = n.nextEvent(userTopic, 'chat:unread', (b) => b.project_id === project.id, 15_000);
    await callService(
      siteflow.nats,
      adminProjectSubjects.putMember,
      {
        by: { user_id: admin.id, username: admin.username },
        payload: {
          project_id: project.id,
          member: { user_id: newcomer.id, username: newcomer.username, role: 'customer', avatar_url: newcomer.avatar_url },
        },
      },
      { timeoutMs: 10_000 },
    );
    expect(await badge).toEqual({ project_id: project.id, count: 3 });
    // And the next post moves it on, as for every member.
    const next = n.nextEvent(userTopic, 'chat:unread', (b) => b.project_id === project.id && b.count === 4, 15_000);
    await a.pushOk(project.topic, 'chat:message', { text: 'after' });
    expect(await next).toEqual({ project_id: project.id, count: 4 });
  } finally {
    await Promise.all([a.close(), n.close()]);
  }
});
