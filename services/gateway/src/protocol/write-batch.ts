import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Frames written to one socket in one turn of the event loop leave in one write: the socket is
 * corked at its first frame and uncorked once the turn's synchronous work is done (one
 * `process.nextTick` for all sockets). A NATS read delivers many messages in one turn (a burst of
 * broadcasts, a room's presence diffs in a join storm): each was a `writev` of its own, one system
 * call per frame, the largest item of the gateway's profile in a join storm (2.8 s of 6 s).
 * `ws` corks each frame's header and payload itself; corks nest, so those wait for this one.
 */
const corked = new Set<Socket>();
let flushing = false;

function uncorkAll(): void {
  flushing = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/** The TCP socket under a `ws` WebSocket (`_socket`: not in its types, there since ws 1). */
function tcpOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket;
}

/** Call before each `ws.send` of a turn: the turn's frames to `ws` go out together. */
export function batchWrites(ws: WebSocket): void {
  const socket = tcpOf(ws);
  if (!socket || corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!flushing) {
    flushing = true;
    process.nextTick(uncorkAll);
  }
}
