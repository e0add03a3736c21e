import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminProjectSubjects, PROJECTS_ADMIN_SCOPE, SERVICES, subjects, type ReplyEnvelope } from '@siteflow/contracts';
import { createTokenService, type TokenService } from '../auth/tokens.js';
import { GatewayMetrics } from '../metrics.js';
import { alice, FakeNats, matching, silentLogger, testConfig } from '../test-fixtures/fakes.js';
import { buildHttpServer } from './http-server.js';

/** The gateway's HTTP routes through Fastify's `inject()`: no port, no NATS (a fake answers or not). */
describe('gateway HTTP routes', () => {
  const webDist = mkdtempSync(path.join(tmpdir(), 'gateway-web-'));
  mkdirSync(path.join(webDist, 'assets'));
  writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><title>Siteflow Collab</title>');
  writeFileSync(path.join(webDist, 'assets', 'app-3f2a1c.js'), 'console.log(1)');
  afterAll(() => rmSync(webDist, { recursive: true, force: true }));

  let tokens: TokenService;
  beforeAll(async () => {
    const config = testConfig();
    tokens = await createTokenService({ keys: config.jwtKeys, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: 3600 });
  });

  const open: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((http) => http.close()));
  });

  async function server(
    env: Record<string, string> = {},
    nats = new FakeNats(),
    logger: Logger = silentLogger,
    metrics = new GatewayMetrics(),
  ) {
    const http = await buildHttpServer({
      config: testConfig(env),
      logger,
      nats: nats.asConnection(),
      tokens,
      metrics,
    });
    open.push(http);
    return http;
  }

  const bearer = async (scopes: string[] = []) => ({ authorization: `Bearer ${(await tokens.issue(alice, { scopes })).token}` });

  it('GET /healthz answers while nothing else does', async () => {
    const res = await (await server()).inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  describe('GET /readyz', () => {
    it('ready on a NATS round trip, the services reported but not deciding; ?full decides on them', async () => {
      const http = await server();
      const res = await http.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ status: string; nats: string; services: Record<string, string>; problems: Record<string, string> }>();
      expect(body.status).toBe('ready');
      expect(body.nats).toBe('ok');
      expect(body.services).toEqual(Object.fromEntries(SERVICES.map((s) => [s, 'unavailable'])));
      expect(body.problems.chat).toBe('chat service is not running');
      const full = await http.inject({ method: 'GET', url: '/readyz?full' });
      expect(full.statusCode).toBe(503);
      expect(full.json()).toMatchObject({ status: 'not_ready', nats: 'ok' });
    });

    it('?full is 200 when every service reports ready', async () => {
      const nats = new FakeNats();
      for (const s of SERVICES) nats.answer(subjects.health(s), () => ({ ok: true, data: { status: 'ok' } }));
      const res = await (await server({}, nats)).inject({ method: 'GET', url: '/readyz?full' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ready', nats: 'ok', services: Object.fromEntries(SERVICES.map((s) => [s, 'ok'])) });
    });

    it('not ready without NATS', async () => {
      const nats = new FakeNats();
      nats.closed = true;
      const res = await (await server({}, nats)).inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 'not_ready', nats: 'unavailable', problems: { nats: 'the NATS connection is closed' } });
    });
  });

  describe('the web app', () => {
    it('serves index.html at / and at client routes, revalidated on every load', async () => {
      const http = await server({ WEB_DIST: webDist });
      for (const url of ['/', '/projects/7', '/projects/7/documents/3?tab=history']) {
        const res = await http.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(200);
        expect(res.body, url).toContain('<title>Siteflow Collab</title>');
        expect(res.headers['cache-control'], url).toBe('no-cache');
      }
    });

    it('hashed assets are cached for good; a missing asset is a 404, not the app', async () => {
      const http = await server({ WEB_DIST: webDist });
      const asset = await http.inject({ method: 'GET', url: '/assets/app-3f2a1c.js' });
      expect(asset.statusCode).toBe(200);
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const missing = await http.inject({ method: 'GET', url: '/assets/app-3f2a1c.js.map' });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual({ code: 'not_found', message: 'no such route' });
    });

    it('a path naming a file, an unknown API path, the socket path and a non-GET are 404s', async () => {
      const http = await server({ WEB_DIST: webDist });
      for (const [method, url] of [
        ['GET', '/nope.js'],
        ['GET', '/favicon.ico'],
        ['GET', '/api/nope'],
        ['GET', '/socket/websocket'],
        ['POST', '/projects/7'],
      ] as const) {
        const res = await http.inject({ method, url });
        expect(res.statusCode, `${method} ${url}`).toBe(404);
        expect(res.json(), `${method} ${url}`).toEqual({ code: 'not_found', message: 'no such route' });
      }
    });

    it('without a built web app, unknown paths are plain 404s', async () => {
      const http = await server();
      expect((await http.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
      expect((await http.inject({ method: 'GET', url: '/nope.js' })).statusCode).toBe(404);
    });
  });

  describe('POST /api/auth/dev-login', () => {
    it('is a 404 unless DEV_LOGIN is on', async () => {
      const res = await (await server()).inject({ method: 'POST', url: '/api/auth/dev-login', payload: { username: 'alice' } });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ code: 'not_found', message: 'dev login is disabled' });
    });

    it('when on, issues a token the gateway accepts, with the scope asked for', async () => {
      const http = await server({ DEV_LOGIN: 'true', SEED_DEMO: 'true' });
      const res = await http.inject({
        method: 'POST',
        url: '/api/auth/dev-login',
        payload: { username: ' Alice ', scope: PROJECTS_ADMIN_SCOPE },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ token: string; user: { username: string } }>();
      expect(body.user.username).toBe('alice');
      expect(await tokens.verify(body.token)).toMatchObject({ username: 'alice', scopes: [PROJECTS_ADMIN_SCOPE] });
    });

    it('when on, refuses a malformed body and an unknown user', async () => {
      const http = await server({ DEV_LOGIN: 'true', SEED_DEMO: 'true' });
      const bad = await http.inject({ method: 'POST', url: '/api/auth/dev-login', payload: { name: 'alice' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'invalid_payload' });
      const unknown = await http.inject({ method: 'POST', url: '/api/auth/dev-login', payload: { username: 'mallory' } });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toEqual({ code: 'not_found', message: 'no demo user named "mallory"' });
    });
  });

  describe('dev login without SEED_DEMO', () => {
    it('offers no demo users and signs none in, even asked for a scope', async () => {
      const http = await server({ DEV_LOGIN: 'true' });
      const offered = await http.inject({ method: 'GET', url: '/api/auth/dev-login' });
      expect(offered.statusCode).toBe(200);
      expect(offered.json()).toEqual({ users: [] });
      const res = await http.inject({
        method: 'POST',
        url: '/api/auth/dev-login',
        payload: { username: 'alice', scope: PROJECTS_ADMIN_SCOPE },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ code: 'not_found', message: 'no demo user named "alice"' });
    });
  });

  describe('the projects API refuses before it asks documents', () => {
    it('no token or a bad one: 401 with WWW-Authenticate: Bearer', async () => {
      const http = await server();
      for (const headers of [{}, { authorization: 'Basic YWxpY2U6c2VjcmV0' }, { authorization: 'Bearer not-a-jwt' }]) {
        const res = await http.inject({ method: 'GET', url: '/api/admin/projects', headers });
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(res.json()).toMatchObject({ code: 'unauthorized' });
      }
      expect((await http.inject({ method: 'GET', url: '/api/projects' })).statusCode).toBe(401);
    });

    it('a token without the projects:admin scope: 403', async () => {
      const res = await (await server()).inject({ method: 'POST', url: '/api/admin/projects', headers: await bearer(), payload: {} });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ code: 'forbidden', message: `the token lacks the scope ${PROJECTS_ADMIN_SCOPE}` });
    });

    it('a bad path id or body: 400 invalid_payload, documents never asked', async () => {
      const nats = new FakeNats();
      const http = await server({}, nats);
      const headers = await bearer([PROJECTS_ADMIN_SCOPE]);
      const badId = await http.inject({ method: 'PATCH', url: '/api/admin/projects/abc', headers, payload: { name: 'x' } });
      expect(badId.statusCode).toBe(400);
      expect(badId.json()).toEqual({ code: 'invalid_payload', message: matching(/^project id: /) });
      const notJson = await http.inject({
        method: 'POST',
        url: '/api/admin/projects',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: '{"id": ',
      });
      expect(notJson.statusCode).toBe(400);
      expect(notJson.json()).toMatchObject({ code: 'invalid_payload' });
      expect(nats.requests).toEqual([]);
    });

    it('documents not running: 503 unavailable; answering: its data', async () => {
      const nats = new FakeNats();
      const http = await server({}, nats);
      const down = await http.inject({ method: 'GET', url: '/api/projects', headers: await bearer() });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toEqual({ code: 'unavailable', message: 'documents service is not running' });
      nats.answer(nats.requests[0]!.subject, () => ({ ok: true, data: { projects: [] } }));
      const up = await http.inject({ method: 'GET', url: '/api/projects', headers: await bearer() });
      expect(up.statusCode).toBe(200);
      expect(up.json()).toEqual({ projects: [] });
      expect(nats.requests[1]!.data).toMatchObject({ by: { user_id: alice.id, username: 'alice' } });
    });

    it('documents failing (its reply is not an envelope): 500 internal, an error line naming the command, the caller and the project, the request timed by subject', async () => {
      const lines: Array<Record<string, unknown>> = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
      const nats = new FakeNats().answer(adminProjectSubjects.update, () => ({ nope: true }) as unknown as ReplyEnvelope);
      const metrics = new GatewayMetrics();
      const http = await server({}, nats, logger, metrics);
      const res = await http.inject({
        method: 'PATCH',
        url: '/api/admin/projects/7',
        headers: await bearer([PROJECTS_ADMIN_SCOPE]),
        payload: { name: 'Renamed' },
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'internal' });
      expect(lines.filter((l) => l.level === 50)).toEqual([
        expect.objectContaining({
          msg: `reply on ${adminProjectSubjects.update} is not an envelope`,
          command: adminProjectSubjects.update,
          user: alice.id,
          project: 7,
          component: 'http',
        }),
      ]);
      // Its NATS request is timed by subject, as the pushes' are; so are /readyz's health requests.
      await http.inject({ method: 'GET', url: '/readyz' });
      const requests = await metrics.registry.getSingleMetric('siteflow_gateway_nats_request_duration_seconds')?.get();
      const count = (subject: string, outcome: string) =>
        requests?.values.find(
          (v) =>
            'metricName' in v &&
            v.metricName === 'siteflow_gateway_nats_request_duration_seconds_count' &&
            v.labels.subject === subject &&
            v.labels.outcome === outcome,
        )?.value;
      expect(count(adminProjectSubjects.update, 'internal')).toBe(1);
      expect(count(subjects.health('chat'), 'unavailable')).toBe(1);
    });
  });

  it('GET /metrics is Prometheus text', async () => {
    const res = await (await server()).inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });
});
