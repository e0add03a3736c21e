import { SignJWT } from 'jose';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  CREATE_PROJECT_SUBJECT,
  subjects,
  type CommandContext,
  type ProjectInfo,
  type ProjectMember,
  type Role,
} from '@siteflow/contracts';
import { callService, requestService } from '@siteflow/messaging';

/** A user of the system: what a token carries and members are known by. */
export interface TestUser {
  id: number;
  username: string;
  /** The token's role (what may create projects); the role inside a project is the member's. */
  role: Role;
  avatar_url: string;
}

/** A project made for one test, with its members. */
export interface TestProject {
  id: number;
  name: string;
  /** `project:<id>`, the room's topic. */
  topic: `project:${number}`;
  members: ProjectMember[];
  /** The project's role of a member (throws for a non-member). */
  roleOf(user: TestUser): Role;
  /** The web app's path of the planning room for this member (`/projects/<id>/planning`, admins under `/admin`). */
  roomPath(user: TestUser): string;
}

/** What the web app keeps in localStorage (web/src/auth/session.ts): `auth_token` and `auth_user`. */
export interface BrowserSession {
  token: string;
  user: TestUser;
}

/**
 * The part of a Playwright `BrowserContext` the kit uses: any context from `playwright` or
 * `playwright-core` fits, and the kit does not depend on either.
 */
export interface BrowserContextLike {
  addInitScript(script: (session: { token: string; user: string }) => void, session: { token: string; user: string }): Promise<unknown>;
}

export interface TokenOptions {
  /** Lifetime in seconds. Default 2 h. */
  ttlSeconds?: number;
  /** OAuth 2 scopes, e.g. `projects:admin`. */
  scope?: string;
  /** Claims to set or override (a test of refusals may want a broken token). */
  claims?: Record<string, unknown>;
}

export interface ProjectOptions {
  /** Default `Project <id>`. */
  name?: string;
  /** At least one: the first admin creates the project. Role in the project: default `customer`, except the first member (`admin`). */
  members: Array<TestUser | { user: TestUser; role: Role }>;
  /** How long the services get to learn of the project. Default 30 s. */
  timeoutMs?: number;
}

const SERVICES_THAT_FOLLOW_MEMBERS = ['documents', 'chat', 'checklist', 'presence'] as const;

/**
 * Users, tokens and projects. Ids come from counters far above any demo data; each suite's
 * kit starts them at a random offset, so two suites sharing one NATS and Postgres never meet.
 */
export class Identities {
  readonly #jwtSecret: Uint8Array;
  readonly #nats: NatsConnection;
  #nextUserId: number;
  #nextProjectId: number;

  constructor(deps: { jwtSecret: string; nats: NatsConnection }) {
    this.#jwtSecret = new TextEncoder().encode(deps.jwtSecret);
    this.#nats = deps.nats;
    const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000;
    this.#nextUserId = base;
    this.#nextProjectId = base;
  }

  /** A new user with a fresh id. `role` is the token's role (default `customer`; `admin` may create projects). */
  user(username: string, role: Role = 'customer'): TestUser {
    return { id: this.#nextUserId++, username, role, avatar_url: `/avatars/${encodeURIComponent(username)}.svg` };
  }

  /** A session token for any user, signed with the gateway's key. */
  async token(user: TestUser, opts: TokenOptions = {}): Promise<string> {
    const claims: Record<string, unknown> = { username: user.username, role: user.role, avatar_url: user.avatar_url };
    if (opts.scope) claims.scope = opts.scope;
    return new SignJWT({ ...claims, ...opts.claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user.id))
      .setIssuer('siteflow')
      .setAudience('siteflow-collab')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttlSeconds ?? 7_200))
      .sign(this.#jwtSecret);
  }

  /** The session the web app stores for this user. */
  async session(user: TestUser, opts?: TokenOptions): Promise<BrowserSession> {
    return { token: await this.token(user, opts), user: { ...user } };
  }

  /**
   * Signs a user in in a browser context: every page it opens starts with the session in
   * localStorage, as the web app stores it after signing in. Open the room with `page.goto(`/projects/<id>`)`.
   */
  async signInBrowser(context: BrowserContextLike, user: TestUser, opts?: TokenOptions): Promise<BrowserSession> {
    const session = await this.session(user, opts);
    await context.addInitScript(
      (s: { token: string; user: string }) => {
        // Runs in the page, where localStorage exists (this package is compiled without DOM types).
        const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
        storage.setItem('auth_token', s.token);
        storage.setItem('auth_user', s.user);
      },
      { token: session.token, user: JSON.stringify(session.user) },
    );
    return session;
  }

  /**
   * A fresh project with these members (`documents.project.create`, as its first admin), resolved
   * once every service knows its members, so joins and pushes are not refused for a project a
   * service has not heard of yet. A fresh project per test isolates tests without a restart.
   */
  async createProject(opts: ProjectOptions): Promise<TestProject> {
    const members: ProjectMember[] = opts.members.map((m, i) => {
      const { user, role } = 'user' in m ? m : { user: m, role: i === 0 ? ('admin' as const) : ('customer' as const) };
      return { user_id: user.id, username: user.username, role, avatar_url: user.avatar_url };
    });
    const creator = members.find((m) => m.role === 'admin');
    if (!creator) throw new Error('createProject: one member must be an admin of the project (its creator)');
    if (new Set(members.map((m) => m.user_id)).size !== members.length) throw new Error('createProject: a user is listed twice');
    const id = this.#nextProjectId++;
    const name = opts.name ?? `Project ${id}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const ctx: CommandContext = { ...actorOf(creator, 'testkit'), role: 'admin', project_id: id };
    await callService<ProjectInfo>(this.#nats, CREATE_PROJECT_SUBJECT, { ctx, payload: { project_id: id, name, members } }, { timeoutMs });
    await this.#untilKnownEverywhere(members, id, Date.now() + timeoutMs);
    const roles = new Map(members.map((m) => [m.user_id, m.role]));
    const project: TestProject = {
      id,
      name,
      topic: `project:${id}` as const,
      members,
      roleOf(user) {
        const role = roles.get(user.id);
        if (!role) throw new Error(`${user.username} (${user.id}) is not a member of project ${id}`);
        return role;
      },
      roomPath(user) {
        return project.roleOf(user) === 'admin' ? `/admin/projects/${id}/planning` : `/projects/${id}/planning`;
      },
    };
    return project;
  }

  async #untilKnownEverywhere(members: ProjectMember[], projectId: number, deadline: number): Promise<void> {
    const last = members.at(-1);
    if (!last) return;
    const ctx: CommandContext = { ...actorOf(last, 'testkit-probe'), project_id: projectId };
    for (const service of SERVICES_THAT_FOLLOW_MEMBERS) {
      for (;;) {
        const reply = await requestService(this.#nats, subjects.snapshot(service), { ctx, payload: {} }, { timeoutMs: 5_000 });
        if (reply.ok) break;
        if (Date.now() > deadline) {
          throw new Error(
            `project ${projectId} was created, but ${service} did not know its members in time (${reply.error.code}: ${reply.error.message})`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

function actorOf(member: ProjectMember, connectionId: string) {
  return {
    user_id: member.user_id,
    username: member.username,
    role: member.role,
    avatar_url: member.avatar_url,
    connection_id: connectionId,
  };
}
