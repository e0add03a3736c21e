import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The durable floor: what a room costs at the least when every message is stored before anyone
 * sees it. One Node process on `ws` and `pg`, speaking just enough Phoenix framing: each push is
 * taken as a chat message, inserted into Postgres (one statement, its own transaction, synchronous
 * commit: the reply and the broadcast wait for the disk), then serialised once and written to every
 * socket joined to the topic. Run against the same Postgres as the gateway's services.
 *
 * So that the room scenario's generator acts here exactly as on the gateway, a join answers a
 * small snapshot (two checklist items, two documents), `document:get` a version, and a push's
 * broadcast carries the name and field the gateway's would (`chat:new_message` with `text`,
 * `document:updated` with `content`). Env: DATABASE_URL, PORT (0 = any).
 */
const port = Number(process.env.PORT ?? 0);
// Every connection commits synchronously, whatever the server's default.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: '-c synchronous_commit=on' });
await pool.query(`
  CREATE SCHEMA IF NOT EXISTS bench_floor;
  CREATE TABLE IF NOT EXISTS bench_floor.messages (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    event text NOT NULL,
    body text NOT NULL,
    inserted_at timestamptz NOT NULL DEFAULT now()
  );
`);

const SNAPSHOT = { checklist: { items: [{ id: 1 }, { id: 2 }] }, documents: [{ id: 1 }, { id: 2 }] };
const rooms = new Map<string, Set<WebSocket>>();
const INSERT = { name: 'floor_insert', text: 'INSERT INTO bench_floor.messages (topic, event, body) VALUES ($1, $2, $3) RETURNING id' };

type Frame = [string | null, string | null, string, string, Record<string, unknown>];
const reply = (ws: WebSocket, f: Frame, status: 'ok' | 'error', response: unknown) =>
  ws.send(JSON.stringify([f[0], f[1], f[2], 'phx_reply', { status, response }]));

async function onPush(ws: WebSocket, f: Frame): Promise<void> {
  const [, , topic, event, payload] = f;
  const body =
    typeof payload.text === 'string' ? payload.text : typeof payload.content === 'string' ? payload.content : JSON.stringify(payload);
  const { rows } = await pool.query<{ id: string }>({ ...INSERT, values: [topic, event, body] });
  const id = Number(rows[0]?.id);
  const broadcast =
    event === 'document:save'
      ? { event: 'document:updated', payload: { id, content: body } }
      : { event: 'chat:new_message', payload: { id, text: body } };
  const frame = Buffer.from(JSON.stringify([null, null, topic, broadcast.event, broadcast.payload]));
  for (const s of rooms.get(topic) ?? []) s.send(frame, { binary: false });
  reply(ws, f, 'ok', event === 'document:get' ? { version: 1 } : { id });
}

const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, path: '/socket/websocket', maxPayload: 65536 });
wss.on('connection', (ws) => {
  const joined = new Set<string>();
  ws.on('message', (data) => {
    const f = JSON.parse((data as Buffer).toString()) as Frame;
    const [, , topic, event] = f;
    if (topic === 'phoenix') {
      reply(ws, f, 'ok', {});
    } else if (event === 'phx_join') {
      let room = rooms.get(topic);
      if (!room) rooms.set(topic, (room = new Set()));
      room.add(ws);
      joined.add(topic);
      reply(ws, f, 'ok', SNAPSHOT);
    } else if (event === 'phx_leave') {
      rooms.get(topic)?.delete(ws);
      joined.delete(topic);
      reply(ws, f, 'ok', {});
    } else {
      onPush(ws, f).catch((err: unknown) => reply(ws, f, 'error', { code: 'internal', message: String(err) }));
    }
  });
  ws.on('close', () => {
    for (const topic of joined) rooms.get(topic)?.delete(ws);
  });
});
wss.on('listening', () => {
  const address = wss.address();
  process.send?.({ port: address !== null && typeof address === 'object' ? address.port : port });
});
process.on('SIGTERM', () => {
  wss.close();
  void pool.end().then(() => process.exit(0));
});
