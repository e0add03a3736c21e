import type { DocumentMeta, LockInfo, ServerPayload } from '@siteflow/contracts';

/** Who holds a document's edit lock. `document:locked` does not name the connection, so neither do we. */
export type DocumentLock = Pick<LockInfo, 'user_id' | 'username' | 'locked_at' | 'expires_at'>;

/** A document's metadata in the room (content is fetched with `document:get` when opened). */
export type RoomDocument = Omit<DocumentMeta, 'lock'> & { lock: DocumentLock | null };

export type DocumentsAction =
  | { type: 'document:locked'; payload: ServerPayload<'document:locked'> }
  | { type: 'document:unlocked'; payload: ServerPayload<'document:unlocked'> }
  | { type: 'document:updated'; payload: ServerPayload<'document:updated'> };

const update = (docs: readonly RoomDocument[], id: number, change: (d: RoomDocument) => RoomDocument): readonly RoomDocument[] => {
  const index = docs.findIndex((d) => d.id === id);
  const current = docs[index];
  if (current === undefined) return docs;
  const next = change(current);
  return next === current ? docs : docs.map((d, i) => (i === index ? next : d));
};

export function reduceDocuments(docs: readonly RoomDocument[], action: DocumentsAction): readonly RoomDocument[] {
  switch (action.type) {
    case 'document:locked': {
      const { document_id, user_id, username, locked_at, expires_at } = action.payload;
      return update(docs, document_id, (d) => ({ ...d, lock: { user_id, username, locked_at, expires_at } }));
    }
    case 'document:unlocked': {
      const { document_id, user_id } = action.payload;
      // An unlock of an earlier holder (e.g. after a take-over) must not clear the current lock.
      return update(docs, document_id, (d) => (d.lock && d.lock.user_id === user_id ? { ...d, lock: null } : d));
    }
    case 'document:updated': {
      const { document_id, version, updated_at, updated_by_id } = action.payload;
      return update(docs, document_id, (d) =>
        version > d.version ? { ...d, version, updated_at, last_edited_by: updated_by_id ?? d.last_edited_by } : d,
      );
    }
    default: {
      const unhandled: never = action;
      return unhandled;
    }
  }
}
