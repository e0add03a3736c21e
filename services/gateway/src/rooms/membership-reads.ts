import type { NatsConnection } from '@nats-io/transport-node';
import {
  MEMBERSHIP_BATCH_MAX,
  MEMBERSHIP_SUBJECT,
  MembershipManyReply,
  MembershipReply,
  NOT_A_MEMBER,
  type CommandContext,
  type ErrorBody,
  type Role,
} from '@siteflow/contracts';
import type { ServiceFailureLogger } from '@siteflow/messaging';
import { timed, type RequestTimer } from './snapshot.js';
import { TurnBatch } from './turn-batch.js';

export type MembershipResult = { ok: true; role: Role } | { ok: false; error: ErrorBody };
type Ask = { ctx: CommandContext; timeoutMs: number; logger?: ServiceFailureLogger; timer?: RequestTimer };

/**
 * A join's first read, its user's role in the project (`documents.project.membership`), asked of
 * documents together for the joins of one project that get there in the same turn of the event
 * loop (a room's sockets coming back at once after a restart): one request with `{users: [ids]}`
 * instead of one each. A lone join asks as before; a documents that does not know `users` (an older
 * instance during a rolling upgrade) answers something else, and then each asks for itself.
 */
export class MembershipReads {
  /** Requests sent and users asked for (for tests). */
  readonly stats = { requests: 0, users: 0 };
  private readonly batch: TurnBatch<Ask, MembershipResult>;

  constructor(private readonly nats: NatsConnection) {
    this.batch = new TurnBatch(MEMBERSHIP_BATCH_MAX, (_project, asks) => this.send(asks));
  }

  read(ctx: CommandContext, timeoutMs: number, logger?: ServiceFailureLogger, timer?: RequestTimer): Promise<MembershipResult> {
    return this.batch.add(ctx.project_id, { ctx, timeoutMs, ...(logger ? { logger } : {}), ...(timer ? { timer } : {}) });
  }

  private async one(a: Ask): Promise<MembershipResult> {
    this.stats.requests++;
    this.stats.users++;
    const reply = await timed(
      this.nats,
      MEMBERSHIP_SUBJECT,
      { ctx: a.ctx, payload: {} },
      { timeoutMs: a.timeoutMs, logger: a.logger },
      a.timer,
    );
    if (!reply.ok) return reply;
    const parsed = MembershipReply.safeParse(reply.data);
    return parsed.success
      ? { ok: true, role: parsed.data.role }
      : { ok: false, error: { code: 'internal', message: 'malformed membership reply' } };
  }

  private async send(asks: Ask[]): Promise<MembershipResult[]> {
    const head = asks[0];
    if (!head) return [];
    if (asks.length === 1) return [await this.one(head)];
    const users = [...new Set(asks.map((a) => a.ctx.user_id))];
    this.stats.requests++;
    this.stats.users += users.length;
    const reply = await timed(
      this.nats,
      MEMBERSHIP_SUBJECT,
      { ctx: head.ctx, payload: { users } },
      { timeoutMs: head.timeoutMs, logger: head.logger },
      head.timer,
    );
    if (!reply.ok) return asks.map(() => reply);
    const parsed = MembershipManyReply.safeParse(reply.data);
    if (!parsed.success) return Promise.all(asks.map((a) => this.one(a)));
    return asks.map(({ ctx }) => {
      const role = parsed.data.roles[String(ctx.user_id)];
      return role === undefined ? { ok: false, error: NOT_A_MEMBER } : { ok: true, role };
    });
  }
}
