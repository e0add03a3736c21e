import type { ProjectMember } from '@siteflow/contracts';

/** A member's name by id, for records that name users by id (last editor, who ticked); null if unknown. */
export function memberName(
  members: readonly Pick<ProjectMember, 'user_id' | 'username'>[] | undefined,
  userId: number | null | undefined,
): string | null {
  if (userId === null || userId === undefined) return null;
  return members?.find((m) => m.user_id === userId)?.username ?? null;
}
