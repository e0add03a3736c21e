import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The Phoenix framing the bench's floors speak: just enough for the room scenario's generator to
 * act on them exactly as on the gateway. A join answers a small snapshot (two checklist items, two
 * documents), a heartbeat and a leave an empty `ok`; every other push goes to `onPush`, whose
 * answer is the reply (`document:get` answers a version). `broadcast` serialises a frame once and
 * writes it to every socket joined to its topic. The port is sent to the parent once listening
 * (PORT, 0 = any).
 */
export type Frame = [string | null, string | null, string, string, Record<string, unknown>];

const SNAPSHOT = { checklist: { items: [{ id: 1 }, { id: 2 }] }, documents: [{ id: 1 }, { id: 2 }] };

/** What a push carries as the stored body: a chat text, a saved content, or the payload itself. */
export function bodyOf(payload: Record<string, unknown>): string {
  return typeof payload.text === 'string' ? payload.text : typeof payload.content === 'string' ? payload.content : JSON.stringify(payload);
}

/** The broadcast a stored push makes, named and shaped as the gateway's (`chat:new_message` with `text`, `document:updated` with `content`). */
export function broadcastOf(event: string, id: number, body: string): { event: string; payload: Record<string, unknown> } {
  return event === 'document:save'
    ? { event: 'document:updated', payload: { id, content: body } }
    : { event: 'chat:new_message', payload: { id, text: body } };
}

export function startPhxFront(onPush: (f: Frame) => Promise<unknown>, onClose: () => Promise<void> = async () => {}) {
  const port = Number(process.env.PORT ?? 0);
  const rooms = new Map<string, Set<WebSocket>>();
  const reply = (ws: WebSocket, f: Frame, status: 'ok' | 'error', response: unknown) =>
    ws.send(JSON.stringify([f[0], f[1], f[2], 'phx_reply', { status, response }]));

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
        onPush(f).then(
          (response) => reply(ws, f, 'ok', event === 'document:get' ? { version: 1 } : response),
          (err: unknown) => reply(ws, f, 'error', { code: 'internal', message: String(err) }),
        );
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
    void onClose().then(() => process.exit(0));
  });

  return {
    broadcast(topic: string, event: string, payload: unknown): void {
      const frame = Buffer.from(JSON.stringify([null, null, topic, event, payload]));
      for (const s of rooms.get(topic) ?? []) s.send(frame, { binary: false });
    },
  };
}
