import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEMO_USERS, DevLoginRequest, describeIssues, SERVICES, subjects, type DevLoginResponse } from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import type { TokenService } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';

export function registerRoutes(app: FastifyInstance, deps: { config: GatewayConfig; nats: NatsConnection; tokens: TokenService }): void {
  const { config, nats, tokens } = deps;

  /** Alive: the process answers. */
  app.get('/healthz', async () => ({ status: 'ok' }));

  /** Ready: NATS is connected and every service's health subject answers. */
  app.get('/readyz', async (_req, reply) => {
    const natsOk = !nats.isClosed() && !nats.isDraining();
    const results = await Promise.all(
      SERVICES.map(async (s) => [s, (await requestService(nats, subjects.health(s), {}, { timeoutMs: 1000 })).ok] as const),
    );
    const services = Object.fromEntries(results.map(([s, ok]) => [s, ok ? 'ok' : 'unavailable']));
    const ready = natsOk && results.every(([, ok]) => ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', nats: natsOk ? 'ok' : 'unavailable', services });
  });

  /**
   * Dev login: a token for a demo user, with the scopes asked for (`projects:admin` only). Off
   * unless DEV_LOGIN is switched on. Any demo user may ask for a scope, customers too: whoever
   * reaches dev login can sign in as an admin anyway, and scopes are the issuer's grant to a
   * caller, not a room role.
   */
  app.post('/api/auth/dev-login', async (req, reply) => {
    if (!config.DEV_LOGIN) return reply.code(404).send({ code: 'not_found', message: 'dev login is disabled' });
    const body = DevLoginRequest.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ code: 'invalid_payload', message: describeIssues(body.error) });
    const user = DEMO_USERS.find((u) => u.username === body.data.username.trim().toLowerCase());
    if (!user) return reply.code(404).send({ code: 'not_found', message: `no demo user named ${JSON.stringify(body.data.username)}` });
    const { token, expiresAt } = await tokens.issue(user, { scopes: body.data.scope });
    const response: DevLoginResponse = { token, user: { ...user }, expires_at: expiresAt.toISOString() };
    return reply.send(response);
  });

  /** A generated avatar (initials on a colour picked from the name), so demo users have faces. */
  app.get<{ Params: { name: string } }>('/avatars/:name', async (req, reply) => {
    const name = req.params.name.replace(/\.svg$/, '').slice(0, 40);
    const initials = (name.match(/[a-z0-9]/gi)?.slice(0, 2).join('') ?? '?').toUpperCase();
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    const hue = hash % 360;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" rx="32" fill="hsl(${hue},55%,45%)"/><text x="32" y="41" font-family="system-ui,sans-serif" font-size="26" font-weight="600" text-anchor="middle" fill="#fff">${initials}</text></svg>`;
    return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(svg);
  });
}
