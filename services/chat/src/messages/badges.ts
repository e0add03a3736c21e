import { subjects, type ProjectMembershipChangedEvent } from '@siteflow/contracts';
import type { ServiceKit } from '@siteflow/servicekit';
import type { z } from 'zod';
import { unreadCount } from './messages.read-model.js';

const utf8 = new TextEncoder();

/** `chat:unread {project_id, count}` for a member's `user:<id>`: the EphemeralMessage written out (two integers). */
export function unreadBadgePayload(projectId: number, count: number): Uint8Array {
  return utf8.encode(`{"broadcast":{"event":"chat:unread","payload":{"project_id":${projectId},"count":${count}}}}`);
}

/**
 * A member added: their badge for the project as it now is, once chat's copy of the members has
 * them. A post's badges go to the members that copy holds, and it follows documents' events: the
 * posts made between the addition and this moment sent the newcomer none. This count has them
 * (and everything posted before the addition, which is unread for a newcomer too). A redelivered
 * event sends the same count again.
 */
export async function publishAddedMemberBadge(
  kit: ServiceKit,
  change: z.infer<typeof ProjectMembershipChangedEvent>['data'],
): Promise<void> {
  if (change.change !== 'added') return;
  const count = await unreadCount(kit.pool, change.project_id, change.user_id);
  kit.nats.publish(subjects.userEphemeral(change.user_id, 'chat', 'unread'), unreadBadgePayload(change.project_id, count));
}
