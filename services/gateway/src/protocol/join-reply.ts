import { PhxEvent, type RoomSnapshot } from '@siteflow/contracts';

/** A shared snapshot's JSON without the chat's unread count: the room, and the chat part. */
interface Encoded {
  /** `{"project":…,"documents":…,…}` without `chat`. */
  room: string;
  /** `{"messages":…,"has_more":…}` without `unread_count`. */
  chat: string;
}

/** Encoded once per snapshot read: the joins of a room that share a read send the same room. */
const encoded = new WeakMap<RoomSnapshot, Encoded>();

/**
 * The `phx_reply` of a project join: `snapshot`, with the joiner's own unread count. The joins of
 * a room share one snapshot read (Room.addJoiningWithSnapshot), and the snapshot is most of the
 * frame: it is serialised once per read, not once per joiner, and each joiner's reply puts its
 * own count into it. Parses to the same value as `[joinRef, ref, topic, "phx_reply", {status:
 * "ok", response: withOwnUnread(snapshot, unread)}]` (join-reply.unit.spec.ts); only the order of
 * keys differs (`chat` last, its `unread_count` last). `snapshot` must not change once sent.
 */
export function encodeJoinReply(joinRef: string | null, ref: string, topic: string, snapshot: RoomSnapshot, unread: number): string {
  let parts = encoded.get(snapshot);
  if (!parts) {
    const { chat, ...room } = snapshot;
    // The reader's count is left out (undefined is not written); each reply adds its joiner's.
    parts = { room: JSON.stringify(room), chat: JSON.stringify({ ...chat, unread_count: undefined }) };
    encoded.set(snapshot, parts);
  }
  const response = `${open(parts.room)}"chat":${open(parts.chat)}"unread_count":${JSON.stringify(unread)}}}`;
  return `[${JSON.stringify(joinRef)},${JSON.stringify(ref)},${JSON.stringify(topic)},"${PhxEvent.reply}",{"status":"ok","response":${response}}]`;
}

/** An object's JSON without its closing brace, ready for one more key: `{"a":1,` (or `{` for `{}`). */
function open(json: string): string {
  return json === '{}' ? '{' : `${json.slice(0, -1)},`;
}
