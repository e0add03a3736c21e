import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The physical ceiling: a bare `ws` broadcast server speaking just enough Phoenix framing. A
 * `bench:broadcast` push is serialised once and written to every joined socket, nothing else.
 * Run as its own process so it pays what the gateway pays (its own event loop).
 */
const port = Number(process.env.PORT ?? 0);
const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, path: '/socket/websocket', maxPayload: 65536 });
const joined = new Set<WebSocket>();

wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const [joinRef, ref, topic, event, payload] = JSON.parse((data as Buffer).toString()) as [
      string | null,
      string | null,
      string,
      string,
      unknown,
    ];
    if (event === 'phx_join') joined.add(ws);
    if (event === 'bench:broadcast') {
      const frame = JSON.stringify([null, null, topic, 'bench:message', payload]);
      for (const s of joined) s.send(frame);
    }
    ws.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response: {} }]));
  });
  ws.on('close', () => joined.delete(ws));
});
wss.on('listening', () => {
  const address = wss.address();
  process.send?.({ port: address !== null && typeof address === 'object' ? address.port : port });
});
