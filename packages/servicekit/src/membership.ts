import { Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import pg, { type Pool, type PoolClient } from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  AppError,
  MEMBERSHIP_SUBJECT,
  MembershipReply,
  NOT_A_MEMBER,
  ProjectCreatedEvent,
  ProjectMembershipChangedEvent,
  Role,
  streamFor,
  type CommandContext,
  type ProjectMember,
} from '@siteflow/contracts';
import { prepared } from '@siteflow/eventstore';
import { requestService } from '@siteflow/messaging';
import type { z } from 'zod';
import { consumeEvents } from './consume.js';
import { SERVICE_KIT, type ServiceKit } from './kit.js';
import { startMembershipCache, type MembershipCache } from './membership-cache.js';

/**
 * Who belongs to which project, as one service knows it: a read model
 * `(project_id, user_id, username, role)` in the service's own schema. The documents service owns
 * projects and writes its table in the same transaction as their events; the other services follow
 * documents' `ProjectCreated` with a durable consumer into a table of their own.
 *
 * Every command is checked against it (defence in depth: the gateway checks at join, but a service
 * must not write for a project that does not exist or for someone who is not in it, whoever asks),
 * and the role inside a project is the one stored here, never the token's global role.
 */
export interface ProjectMembership {
  /** The user's role in the project, or null when they are not a member (or it does not exist). */
  roleOf(projectId: number, userId: number, client?: Queryable): Promise<z.infer<typeof Role> | null>;
  /**
   * The command's context with the caller's role in that project; `unauthorized` (the same refusal
   * for a missing project and a non-member) otherwise.
   */
  require(ctx: CommandContext): Promise<CommandContext>;
}

type Queryable = Pick<Pool, 'query'> | Pick<PoolClient, 'query'>;

export interface ProjectMembershipOptions {
  /** The read model, schema-qualified: `chat.members`; it has project_id, user_id, username, role. */
  table: string;
  /**
   * A follower learns of a new project or member a moment after documents recorded it. When the
   * project is not known here, or membership changes are still pending, `require` waits up to this
   * long for the consumers to catch up before refusing (the gateway admits a join only after
   * documents said yes, so the first push may come that early).
   * 0 for the service that owns the projects.
   */
  waitForUnknownProjectMs: number;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;
/** A project with more members than this is not read whole on a miss (its members are read one by one). */
const PROJECT_READ_MAX = 1_000;
/** How long a caller missing from a known project is looked for again before consumer lag is asked. */
const RELAY_GRACE_MS = 300;
/** How long documents is given to confirm a caller this copy does not know. */
const CONFIRM_TIMEOUT_MS = 2_000;

/**
 * Whether membership changes are still on their way to this service's table (its consumer has
 * events not yet handled). Without it, a caller missing from a known project is refused at once.
 */
export type MembershipChangesPending = () => Promise<boolean>;

/**
 * Asks the owner of the projects (documents) for the caller's role: the last word on a caller this
 * copy does not know after waiting, e.g. a member added a moment ago whose change documents has
 * committed but its outbox has not published yet (on a loaded machine that takes longer than any
 * grace). null: not a member. A failure to ask refuses as before (the copy's answer stands).
 */
export type MembershipConfirmation = (ctx: CommandContext) => Promise<Role | null>;

/**
 * `cache`: answers from memory while it can (see MembershipCache), the same answers as the table's;
 * a question asked with a `client` (inside a transaction: its snapshot, its locks) always goes to it.
 */
export function projectMembership(
  pool: Pool,
  opts: ProjectMembershipOptions,
  changesPending?: MembershipChangesPending,
  confirm?: MembershipConfirmation,
  cache?: MembershipCache,
): ProjectMembership {
  if (!TABLE_NAME.test(opts.table)) throw new Error(`invalid membership table ${JSON.stringify(opts.table)}`);
  const roleSql = `SELECT role FROM ${opts.table} WHERE project_id = $1 AND user_id = $2`;
  const knownSql = `SELECT EXISTS (SELECT 1 FROM ${opts.table} WHERE project_id = $1) AS known`;
  const readKnown = async (projectId: number) =>
    (await pool.query<{ known: boolean }>(prepared(knownSql, [projectId]))).rows[0]?.known === true;
  const known = cache ? (projectId: number) => cache.known(projectId, () => readKnown(projectId)) : readKnown;

  const readRole = async (projectId: number, userId: number, client: Queryable) => {
    const { rows } = await client.query<{ role: string }>(prepared(roleSql, [projectId, userId]));
    const parsed = Role.safeParse(rows[0]?.role);
    return parsed.success ? parsed.data : null;
  };
  // A miss reads the project's members (a primary-key range; a room's members all join together).
  const projectSql = `SELECT user_id::text AS user_id, role FROM ${opts.table} WHERE project_id = $1 LIMIT ${PROJECT_READ_MAX + 1}`;
  const readProject = async (projectId: number) => {
    const { rows } = await pool.query<{ user_id: string; role: string }>(prepared(projectSql, [projectId]));
    if (rows.length > PROJECT_READ_MAX) return null;
    const roles = new Map<number, Role>();
    for (const r of rows) {
      const parsed = Role.safeParse(r.role);
      if (parsed.success) roles.set(Number(r.user_id), parsed.data);
    }
    return roles;
  };
  const roleOf = (projectId: number, userId: number, client?: Queryable) =>
    client || !cache
      ? readRole(projectId, userId, client ?? pool)
      : cache.role(
          projectId,
          userId,
          () => readRole(projectId, userId, pool),
          () => readProject(projectId),
        );

  return {
    roleOf,
    async require(ctx) {
      let role = await roleOf(ctx.project_id, ctx.user_id);
      // Not here (yet?): a new project, or a member just added (projects API) whose first push may
      // come the moment documents admitted their join, a moment before this copy follows. Wait while
      // the project is unknown or membership changes are still pending, not for a plain non-member.
      if (role === null && opts.waitForUnknownProjectMs > 0) {
        const deadline = Date.now() + opts.waitForUnknownProjectMs;
        // The grace covers a change documents committed that its outbox has not published yet.
        const graceEnd = Date.now() + Math.min(RELAY_GRACE_MS, opts.waitForUnknownProjectMs);
        const worthWaiting = async () =>
          Date.now() < graceEnd || !(await known(ctx.project_id)) || (changesPending ? await changesPending().catch(() => true) : false);
        for (let delay = 20; role === null && Date.now() < deadline && (await worthWaiting()); delay = Math.min(delay * 2, 250)) {
          await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
          role = await roleOf(ctx.project_id, ctx.user_id);
        }
      }
      if (role === null && confirm) role = await confirm(ctx).catch(() => null);
      if (role === null) throw new AppError(NOT_A_MEMBER.code, NOT_A_MEMBER.message);
      return role === ctx.role ? ctx : { ...ctx, role };
    },
  };
}

/** The membership table of a service that follows documents' projects (a read-model migration). */
export function projectMembersTable(table: string): string {
  if (!TABLE_NAME.test(table)) throw new Error(`invalid membership table ${JSON.stringify(table)}`);
  return `
    CREATE TABLE ${table} (
      project_id bigint NOT NULL,
      user_id    bigint NOT NULL,
      username   text NOT NULL,
      role       text NOT NULL,
      PRIMARY KEY (project_id, user_id)
    );`;
}

/** Records members as documents announced them; idempotent, so a redelivered event is harmless. */
export async function saveProjectMembers(
  client: Queryable,
  table: string,
  projectId: number,
  members: ReadonlyArray<Pick<ProjectMember, 'user_id' | 'username' | 'role'>>,
): Promise<void> {
  if (members.length === 0) return;
  await client.query(
    prepared(
      `INSERT INTO ${table} (project_id, user_id, username, role)
       SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])
       ON CONFLICT (project_id, user_id) DO UPDATE SET username = EXCLUDED.username, role = EXCLUDED.role`,
      [projectId, members.map((m) => m.user_id), members.map((m) => m.username), members.map((m) => m.role)],
    ),
  );
}

/** Applies one membership change as documents announced it; idempotent (a redelivery sets the same row). */
export async function applyMembershipChange(
  client: Queryable,
  table: string,
  change: z.infer<typeof ProjectMembershipChangedEvent>['data'],
): Promise<void> {
  if (!TABLE_NAME.test(table)) throw new Error(`invalid membership table ${JSON.stringify(table)}`);
  if (change.role === null) {
    await client.query(prepared(`DELETE FROM ${table} WHERE project_id = $1 AND user_id = $2`, [change.project_id, change.user_id]));
    return;
  }
  await saveProjectMembers(client, table, change.project_id, [{ user_id: change.user_id, username: change.username, role: change.role }]);
}

/** The durable consumer that follows membership changes, beside the one that follows new projects. */
export const memberChangesDurable = (projectsDurable: string) => `${projectsDurable}-changes`;

/** A membership change may overtake its project's `ProjectCreated` (two consumers): it waits this long for it. */
const PROJECT_CREATED_WAIT_MS = 10_000;

/** Injection token of the service's `ProjectMembership`. */
export const PROJECT_MEMBERSHIP = Symbol('PROJECT_MEMBERSHIP');

export interface ProjectMembersModuleOptions extends ProjectMembershipOptions {
  /** Follow documents' projects into `table` (every service but documents). */
  follow?: {
    /**
     * The durable consumer's name (infra/nats/auth.conf allows it by name); membership changes
     * follow on a second one, `<durable>-changes`.
     */
    durable: string;
    /** What else the service does for a new project (idempotent), before its members are recorded. */
    onProjectCreated?: (kit: ServiceKit, project: z.infer<typeof ProjectCreatedEvent>['data']) => Promise<void>;
    /** What else the service does once a membership change is recorded in its table (again on a redelivery). */
    onMembershipChanged?: (kit: ServiceKit, change: z.infer<typeof ProjectMembershipChangedEvent>['data']) => Promise<void>;
  };
}

/**
 * Provides `PROJECT_MEMBERSHIP` and, for a follower, runs the durable consumer that fills its table:
 * the one way every service learns and checks who is in a project.
 */
@Module({})
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest dynamic module: the class is the module token, register() its factory
export class ProjectMembersModule {
  static register(opts: ProjectMembersModuleOptions): DynamicModule {
    @Injectable()
    class ProjectMembersFollower implements OnApplicationBootstrap, OnModuleDestroy {
      private readonly consumers: Array<{ stop(): Promise<void> }> = [];

      constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

      onApplicationBootstrap(): void {
        const follow = opts.follow;
        if (!follow) return;
        const knownSql = `SELECT EXISTS (SELECT 1 FROM ${opts.table} WHERE project_id = $1) AS known`;
        const known = async (projectId: number) =>
          (await this.kit.pool.query<{ known: boolean }>(prepared(knownSql, [projectId]))).rows[0]?.known === true;
        this.consumers.push(
          consumeEvents(this.kit, {
            from: 'documents',
            durable: follow.durable,
            filterSubject: 'project.*.ev.documents.ProjectCreated',
            schema: ProjectCreatedEvent,
            handle: async (e) => {
              await follow.onProjectCreated?.(this.kit, e.data);
              // Members are written in one statement, so a known project has them all; a redelivered
              // ProjectCreated must not bring back someone removed since.
              if (await known(e.data.project_id)) return;
              await saveProjectMembers(this.kit.pool, opts.table, e.data.project_id, e.data.members);
            },
          }),
        );
        // Membership changes come on their own consumer (one filter each): in order among themselves,
        // and each waits for its project's ProjectCreated to be applied first.
        this.consumers.push(
          consumeEvents(this.kit, {
            from: 'documents',
            durable: memberChangesDurable(follow.durable),
            filterSubject: 'project.*.ev.documents.ProjectMembershipChanged',
            schema: ProjectMembershipChangedEvent,
            handle: async (e) => {
              const deadline = Date.now() + PROJECT_CREATED_WAIT_MS;
              for (let delay = 20; !(await known(e.data.project_id)); delay = Math.min(delay * 2, 500)) {
                if (Date.now() >= deadline)
                  throw new Error(`project ${e.data.project_id} is not known here yet (its ProjectCreated has not been applied)`);
                await new Promise((r) => setTimeout(r, delay));
              }
              await applyMembershipChange(this.kit.pool, opts.table, e.data);
              await follow.onMembershipChanged?.(this.kit, e.data);
            },
          }),
        );
      }

      async onModuleDestroy(): Promise<void> {
        await Promise.all(this.consumers.map((c) => c.stop()));
      }
    }
    /** The process's memory of the table (LISTEN session of its own), stopped with the module. */
    @Injectable()
    class ProjectMembersCache implements OnModuleDestroy {
      /** None when MEMBERSHIP_CACHE_ENTRIES is 0. */
      readonly cache: MembershipCache | undefined;

      constructor(@Inject(SERVICE_KIT) kit: ServiceKit) {
        const maxEntries = kit.config.MEMBERSHIP_CACHE_ENTRIES;
        this.cache =
          maxEntries > 0
            ? startMembershipCache({
                table: opts.table,
                client: () => new pg.Client({ ...kit.pool.options, application_name: `members-cache:${opts.table}` }),
                logger: kit.logger,
                maxEntries,
              })
            : undefined;
      }

      async onModuleDestroy(): Promise<void> {
        await this.cache?.stop();
      }
    }
    return {
      module: ProjectMembersModule,
      providers: [
        ProjectMembersFollower,
        ProjectMembersCache,
        {
          provide: PROJECT_MEMBERSHIP,
          inject: [SERVICE_KIT, ProjectMembersCache],
          useFactory: (kit: ServiceKit, { cache }: ProjectMembersCache) => {
            const follow = opts.follow;
            if (!follow) return projectMembership(kit.pool, opts, undefined, undefined, cache);
            // One small JetStream request, made only when a caller is missing from a known project.
            let manager: ReturnType<typeof jetstreamManager> | null = null;
            const pending = async () => {
              manager ??= jetstreamManager(kit.nats).catch((err: unknown) => {
                manager = null;
                throw err;
              });
              const info = await (await manager).consumers.info(streamFor('documents').name, memberChangesDurable(follow.durable));
              return info.num_pending + info.num_ack_pending > 0;
            };
            // The last word on a caller still unknown here: documents' own table (one request,
            // made only for a caller this copy refuses).
            const confirm = async (ctx: CommandContext) => {
              const reply = await requestService(kit.nats, MEMBERSHIP_SUBJECT, { ctx, payload: {} }, { timeoutMs: CONFIRM_TIMEOUT_MS });
              const parsed = reply.ok ? MembershipReply.safeParse(reply.data) : null;
              return parsed?.success ? parsed.data.role : null;
            };
            return projectMembership(kit.pool, opts, pending, confirm, cache);
          },
        },
      ],
      exports: [PROJECT_MEMBERSHIP],
    };
  }
}
