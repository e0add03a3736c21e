import type { DocumentId, PresenceMeta, Role, UserId } from '@siteflow/contracts';

/** One online user, folded from the metas of all their connections (tabs, devices). */
export interface OnlineUser {
  /** The presence key: the user id as a string. */
  key: string;
  user_id: UserId;
  username: string;
  avatar_url: string;
  role: Role;
  /** True when any of the user's connections holds a document in edit mode. */
  editing: boolean;
  /** The document being edited, else the one most recently opened, else null. */
  current_document: DocumentId | null;
  /** Earliest `online_at` of the user's connections. */
  online_at: string;
  connections: number;
}

/**
 * Folds one presence entry. Phoenix keeps metas in arrival order, so the last meta is the
 * newest connection; an editing connection wins over a merely viewing one.
 */
export function toOnlineUser(key: string, metas: readonly PresenceMeta[]): OnlineUser | null {
  const newest = metas[metas.length - 1];
  if (!newest) return null;
  const editing = metas.find((m) => m.editing);
  const viewing = [...metas].reverse().find((m) => m.current_document !== null);
  return {
    key,
    user_id: newest.user_id,
    username: newest.username,
    avatar_url: newest.avatar_url,
    role: newest.role,
    editing: editing !== undefined,
    current_document: (editing ?? viewing)?.current_document ?? null,
    online_at: metas.map((m) => m.online_at).reduce((a, b) => (b < a ? b : a)),
    connections: metas.length,
  };
}

/** A stable display order: the signed-in user first, then by name. */
export function sortOnlineUsers(users: readonly OnlineUser[], selfId: UserId | null): OnlineUser[] {
  return [...users].sort((a, b) => {
    if (a.user_id === selfId) return -1;
    if (b.user_id === selfId) return 1;
    return a.username.localeCompare(b.username) || a.user_id - b.user_id;
  });
}
