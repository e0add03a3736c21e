import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  DevLoginRequest,
  describeIssues,
  HealthReply,
  SERVICES,
  subjects,
  type DevLoginResponse,
  type DevLoginUsers,
  type ServiceName,
} from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import type { TokenService } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';
import { secondsSince, type GatewayMetrics } from '../metrics.js';
import { registerAdminRoutes } from './admin-routes.js';

export function registerRoutes(
  app: FastifyInstance,
  deps: { config: GatewayConfig; nats: NatsConnection; tokens: TokenService; metrics?: GatewayMetrics },
): void {
  const { config, nats, tokens, metrics } = deps;

  // Its own scope, so that its error handler (errors as `{code, message}`) covers only the API.
  void app.register((api, _opts, done) => {
    registerAdminRoutes(api, deps);
    done();
  });

  /** Alive: the process answers (liveness: restart me when this fails). */
  app.get('/healthz', () => ({ status: 'ok' }));

  /**
   * Ready: this gateway can serve, i.e. its NATS connection answers a round trip. The services'
   * state is reported in the body (`services`, and `problems` saying what is down) but does not
   * decide: a service without its database is the same for every gateway, and taking them all out
   * of the load balancer at once would turn an outage of one capability (pushes answered
   * `unavailable`) into an outage of everything. `?full` decides on the services too (503 unless
   * every one is ready): for deploy checks, `npm start` and monitoring, not for a load balancer.
   */
  app.get<{ Querystring: { full?: string } }>('/readyz', async (req, reply) => {
    const [natsProblem, services] = await Promise.all([natsRoundTrip(nats), Promise.all(SERVICES.map(serviceReadiness))]);
    const problems: Record<string, string> = {};
    if (natsProblem) problems.nats = natsProblem;
    for (const s of services) if (s.problem) problems[s.service] = s.problem;
    const full = req.query.full !== undefined;
    const ready = natsProblem === null && (!full || services.every((s) => s.state === 'ok'));
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not_ready',
      nats: natsProblem === null ? 'ok' : 'unavailable',
      services: Object.fromEntries(services.map((s) => [s.service, s.state])),
      ...(Object.keys(problems).length > 0 ? { problems } : {}),
    });
  });

  async function serviceReadiness(
    service: ServiceName,
  ): Promise<{ service: ServiceName; state: 'ok' | 'not_ready' | 'unavailable'; problem?: string }> {
    const asked = performance.now();
    const r = await requestService(nats, subjects.health(service), {}, { timeoutMs: 1_500 });
    metrics?.observeRequest(subjects.health(service), r.ok ? 'ok' : r.error.code, secondsSince(asked));
    if (r.ok) return { service, state: 'ok' };
    // A service that answers "not ready" names what failed; one that does not answer is down or unreachable.
    const health = HealthReply.safeParse(r.error.details);
    return { service, state: health.success ? 'not_ready' : 'unavailable', problem: r.error.message };
  }

  /**
   * Dev login: a token for a demo user (SEED_DEMO=true), with the scopes asked for (`projects:admin` only). Off
   * unless DEV_LOGIN is switched on. Any demo user may ask for a scope, customers too: whoever
   * reaches dev login can sign in as an admin anyway, and scopes are the issuer's grant to a
   * caller, not a room role.
   */
  app.post('/api/auth/dev-login', async (req, reply) => {
    if (!config.DEV_LOGIN) return reply.code(404).send({ code: 'not_found', message: 'dev login is disabled' });
    const body = DevLoginRequest.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ code: 'invalid_payload', message: describeIssues(body.error) });
    const user = (await demoUsers()).find((u) => u.username === body.data.username.trim().toLowerCase());
    if (!user) return reply.code(404).send({ code: 'not_found', message: `no demo user named ${JSON.stringify(body.data.username)}` });
    const { token, expiresAt } = await tokens.issue(user, { scopes: body.data.scope });
    const response: DevLoginResponse = { token, user: { ...user }, expires_at: expiresAt.toISOString() };
    return reply.send(response);
  });

  /** Whom dev login offers: the web app's sign-in page lists them. */
  app.get('/api/auth/dev-login', async (_req, reply) => {
    if (!config.DEV_LOGIN) return reply.code(404).send({ code: 'not_found', message: 'dev login is disabled' });
    const users: DevLoginUsers = { users: (await demoUsers()).map((u) => ({ ...u })) };
    return reply.send(users);
  });

  /** The demo users exist only with SEED_DEMO=true; their module is loaded only then. */
  async function demoUsers() {
    return config.SEED_DEMO ? (await import('@siteflow/demo')).DEMO_USERS : [];
  }

  /** A generated avatar (initials on a colour picked from the name), so demo users have faces. */
  app.get<{ Params: { name: string } }>('/avatars/:name', async (req, reply) => {
    const name = req.params.name.replace(/\.svg$/, '').slice(0, 40);
    const initials = (
      name
        .match(/[a-z0-9]/gi)
        ?.slice(0, 2)
        .join('') ?? '?'
    ).toUpperCase();
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    const hue = hash % 360;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" rx="32" fill="hsl(${hue},55%,45%)"/><text x="32" y="41" font-family="system-ui,sans-serif" font-size="26" font-weight="600" text-anchor="middle" fill="#fff">${initials}</text></svg>`;
    return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(svg);
  });
}

/** Null when the NATS server answers a round trip within a second, otherwise why not. */
async function natsRoundTrip(nats: NatsConnection): Promise<string | null> {
  if (nats.isClosed()) return 'the NATS connection is closed';
  if (nats.isDraining()) return 'the gateway is stopping';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      nats.flush(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('NATS did not answer within 1000 ms (reconnecting?)')), 1_000);
      }),
    ]);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}
