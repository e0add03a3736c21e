import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  adminProjectSubjects,
  ApiCreateProject,
  ApiPatchProject,
  ApiPutMember,
  describeIssues,
  PROJECTS_ADMIN_SCOPE,
  PROJECTS_OF_USER_SUBJECT,
  ProjectId,
  UserId,
  type ErrorBody,
  type ErrorCode,
  type ProjectMember,
} from '@siteflow/contracts';
import { requestService } from '@siteflow/messaging';
import { z } from 'zod';
import type { SessionUser, TokenService } from '../auth/tokens.js';
import type { GatewayConfig } from '../config.js';
import { secondsSince, type GatewayMetrics } from '../metrics.js';

/** How each error code of the closed set is answered over HTTP. */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  invalid_payload: 400,
  payload_too_large: 413,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  already_exists: 409,
  version_conflict: 409,
  last_member: 409,
  rate_limited: 429,
  unavailable: 503,
};

class HttpRefusal extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
  }
}

const refuse = (code: ErrorCode, message: string) => new HttpRefusal({ code, message });

/**
 * The projects API for Siteflow's backend (`/api/admin/projects…`, bearer token whose `scope` has
 * `projects:admin`) and `GET /api/projects` (any signed-in user: their own projects). The gateway
 * checks the token and the scope and forwards to documents, which owns projects and members; every
 * change is an event there that the other services and the open rooms follow.
 */
export function registerAdminRoutes(
  app: FastifyInstance,
  deps: { config: GatewayConfig; nats: NatsConnection; tokens: TokenService; metrics?: GatewayMetrics },
): void {
  const { config, nats, tokens, metrics } = deps;

  async function caller(req: FastifyRequest): Promise<SessionUser> {
    const header = req.headers.authorization;
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (token === undefined) throw refuse('unauthorized', 'send the token as "Authorization: Bearer <token>"');
    let user: SessionUser | null;
    try {
      user = await tokens.verify(token);
    } catch (err) {
      req.log.error({ err }, 'token verification failed');
      throw refuse('unavailable', 'the keys that verify tokens cannot be had right now; try again shortly');
    }
    if (!user || user.expiresAt <= Date.now()) throw refuse('unauthorized', 'the token is invalid or expired');
    return user;
  }

  async function administrator(req: FastifyRequest): Promise<SessionUser> {
    const user = await caller(req);
    if (!user.scopes.includes(PROJECTS_ADMIN_SCOPE)) throw refuse('forbidden', `the token lacks the scope ${PROJECTS_ADMIN_SCOPE}`);
    return user;
  }

  function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw refuse('invalid_payload', `${what}: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  /** Asks documents; a failure of the service itself (answered `internal`) is logged with the request's line. */
  async function ask<T>(req: FastifyRequest, subject: string, user: SessionUser, payload: unknown): Promise<T> {
    const asked = performance.now();
    const reply = await requestService<T>(
      nats,
      subject,
      { by: { user_id: user.id, username: user.username }, payload },
      { timeoutMs: config.PUSH_TIMEOUT_MS, logger: req.log },
    );
    metrics?.observeRequest(subject, reply.ok ? 'ok' : reply.error.code, secondsSince(asked));
    if (!reply.ok) throw new HttpRefusal({ code: reply.error.code, message: reply.error.message });
    return reply.data;
  }

  /** Every route's errors as `{code, message}` with the status of the code. */
  const route =
    <R>(work: (req: FastifyRequest, reply: FastifyReply) => Promise<R>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        return await work(req, reply);
      } catch (e) {
        if (!(e instanceof HttpRefusal)) throw e;
        if (e.body.code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
        return reply.code(HTTP_STATUS[e.body.code] ?? 500).send({ code: e.body.code, message: e.body.message });
      }
    };

  const member = (m: {
    user_id: number;
    username: string;
    role: ProjectMember['role'];
    avatar_url?: string | undefined;
  }): ProjectMember => ({
    user_id: m.user_id,
    username: m.username,
    role: m.role,
    avatar_url: m.avatar_url ?? `/avatars/${encodeURIComponent(m.username)}.svg`,
  });
  const params = (req: FastifyRequest) => req.params as Record<string, string>;
  const pathId = (id: typeof ProjectId) =>
    z
      .string()
      .regex(/^[1-9][0-9]{0,15}$/, 'a positive integer')
      .transform(Number)
      .pipe(id);
  const ProjectIdParam = pathId(ProjectId);
  const UserIdParam = pathId(UserId);

  // Fastify's own refusals (a body that is not JSON, too large, a wrong content type) in the same shape.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err, method: req.method, route: req.routeOptions.url }, 'projects API request failed');
      return reply.code(500).send({ code: 'internal', message: 'internal error' });
    }
    const code: ErrorCode = status === 413 ? 'payload_too_large' : 'invalid_payload';
    return reply.code(status === 413 ? 413 : 400).send({ code, message: err.message });
  });

  app.get(
    '/api/projects',
    route(async (req) => {
      const user = await caller(req);
      return ask(req, PROJECTS_OF_USER_SUBJECT, user, {});
    }),
  );

  app.get(
    '/api/admin/projects',
    route(async (req) => ask(req, adminProjectSubjects.list, await administrator(req), {})),
  );

  app.post(
    '/api/admin/projects',
    route(async (req, reply) => {
      const user = await administrator(req);
      const body = parse(ApiCreateProject, req.body, 'project');
      const project = await ask(req, adminProjectSubjects.create, user, {
        project_id: body.id,
        name: body.name,
        members: body.members.map(member),
      });
      return reply.code(201).send(project);
    }),
  );

  app.patch(
    '/api/admin/projects/:id',
    route(async (req) => {
      const user = await administrator(req);
      const projectId = parse(ProjectIdParam, params(req).id, 'project id');
      const body = parse(ApiPatchProject, req.body, 'change');
      return ask(req, adminProjectSubjects.update, user, { project_id: projectId, ...body });
    }),
  );

  app.put(
    '/api/admin/projects/:id/members/:user_id',
    route(async (req) => {
      const user = await administrator(req);
      const projectId = parse(ProjectIdParam, params(req).id, 'project id');
      const userId = parse(UserIdParam, params(req).user_id, 'user id');
      const body = parse(ApiPutMember, req.body, 'member');
      return ask(req, adminProjectSubjects.putMember, user, { project_id: projectId, member: member({ user_id: userId, ...body }) });
    }),
  );

  app.delete(
    '/api/admin/projects/:id/members/:user_id',
    route(async (req, reply) => {
      const user = await administrator(req);
      const projectId = parse(ProjectIdParam, params(req).id, 'project id');
      const userId = parse(UserIdParam, params(req).user_id, 'user id');
      await ask(req, adminProjectSubjects.removeMember, user, { project_id: projectId, user_id: userId });
      return reply.code(204).send();
    }),
  );
}
