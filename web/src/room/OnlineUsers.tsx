import type { OnlineUser } from '../realtime/onlineUsers.js';
import { Avatar } from '../ui/Avatar.js';

interface Props {
  users: readonly OnlineUser[];
  selfId: number;
  /** Document titles by id, to say what someone is editing. */
  documentTitle: (documentId: number) => string | undefined;
}

/** One `.user-avatar` per online user (the E2E tests count them); a pencil on whoever is editing. */
export function OnlineUsers({ users, selfId, documentTitle }: Props) {
  return (
    <div className="online-users">
      <h2 className="visually-hidden">Online now</h2>
      <p className="online-count muted" aria-hidden="true">
        {users.length} online
      </p>
      <ul className="online-list" aria-label={`${users.length} online`}>
        {users.map((u) => {
          const editingTitle = u.editing && u.current_document !== null ? documentTitle(u.current_document) : undefined;
          const who = u.user_id === selfId ? `${u.username} (you)` : u.username;
          const label = u.editing ? `${who}, editing${editingTitle ? ` ${editingTitle}` : ''}` : who;
          return (
            <li key={u.key} className={`user-avatar${u.editing ? ' is-editing' : ''}`} title={label} data-user-id={u.user_id}>
              <Avatar userId={u.user_id} name={u.username} />
              {u.editing && (
                <span className="editing-indicator" aria-hidden="true">
                  ✎
                </span>
              )}
              <span className="visually-hidden">{label}</span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
