// A stand-in for a service or the gateway, for the stack harness's own tests: it answers what
// the harness waits for (`<name>.health` in Nest's packet format; GET /readyz, POST
// /api/auth/dev-login) and speaks just enough Phoenix Channels v2 for the client helpers.
import http from 'node:http';
import { connect } from '@nats-io/transport-node';
import { WebSocketServer } from 'ws';

const instance = process.env.INSTANCE_ID ?? 'unknown-1';
const name = instance.split('-')[0];
process.on('SIGTERM', () => process.exit(0));
console.log(`${instance} starting (LOG_LEVEL=${process.env.LOG_LEVEL}, SEED_DEMO=${process.env.SEED_DEMO})`);

if (name === 'gateway') {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/readyz') return void res.writeHead(200).end('ready');
    if (req.method === 'POST' && req.url === '/api/auth/dev-login') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { username } = JSON.parse(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            token: 'good',
            user: { id: 7, username, role: 'customer', avatar_url: `https://avatars.invalid/${username}.png` },
            expires_at: new Date(Date.now() + 3_600_000).toISOString(),
          }),
        );
      });
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/socket/websocket') return void socket.destroy();
    if (url.searchParams.get('token') !== 'good' || url.searchParams.get('vsn') !== '2.0.0') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => {
        const [joinRef, ref, topic, event, payload] = JSON.parse(data.toString());
        const reply = (status, response) => ws.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status, response }]));
        if (topic === 'phoenix' && event === 'heartbeat') return reply('ok', {});
        if (event === 'phx_join') {
          return topic.startsWith('forbidden:')
            ? reply('error', { reason: 'unauthorized', code: 'unauthorized' })
            : reply('ok', { joined: topic, params: payload });
        }
        if (event === 'phx_leave') return reply('ok', {});
        if (event === 'echo') {
          reply('ok', { echoed: payload });
          ws.send(JSON.stringify([null, null, topic, 'echoed', payload]));
          return;
        }
        if (event === 'silent') return;
        reply('error', { reason: 'unknown event', code: 'invalid_payload' });
      });
    });
  });
  const { HOST, PORT, JWT_SECRET, DEV_LOGIN, PUSH_TIMEOUT_MS } = process.env;
  server.listen(Number(PORT), HOST, () =>
    console.log(
      `${instance} listening on ${HOST}:${PORT} JWT_SECRET=${JWT_SECRET} DEV_LOGIN=${DEV_LOGIN} PUSH_TIMEOUT_MS=${PUSH_TIMEOUT_MS}`,
    ),
  );
} else {
  if (process.env.FAKE_CRASH === 'true') {
    console.error(`${instance}: crashing as asked`);
    process.exit(3);
  }
  const nc = await connect({ servers: process.env.NATS_URL });
  const started = Date.now();
  nc.subscribe(`${name}.health`, {
    queue: name,
    callback: (_err, msg) => {
      const { id } = JSON.parse(msg.string());
      const data = { service: name, instance, status: 'ok', checks: { nats: 'ok' }, uptime_s: Math.round((Date.now() - started) / 1000) };
      msg.respond(JSON.stringify({ id, response: { ok: true, data }, isDisposed: true }));
    },
  });
  console.log(`${instance} answering ${name}.health`);
}
