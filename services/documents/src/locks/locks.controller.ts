import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  commandRequest,
  ForceUnlockPayload,
  HeartbeatPayload,
  projectClientEvents,
  RequestEditPayload,
  StartEditingPayload,
  StopEditingPayload,
  subjects,
  type CommandContext,
  type ReplyEnvelope,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import type { EventStoreTx } from '@siteflow/eventstore';

import { lockPolicyOf } from '../config.js';
import { documentCommand, existing } from '../documents/document-stream.js';
import type { DocumentEvent, DocumentState } from '../documents/document.js';
import { holdMembership } from '../projects/projects.read-model.js';
import { decideLock, type LockActor } from './decide.js';
import { lockMetrics } from './locks.metrics.js';

const AcquireRequest = commandRequest(StartEditingPayload);
const ReleaseRequest = commandRequest(StopEditingPayload);
const RenewRequest = commandRequest(HeartbeatPayload);
const RequestEditRequest = commandRequest(RequestEditPayload);
const ForceReleaseRequest = commandRequest(ForceUnlockPayload);

export const actorOf = (ctx: CommandContext): LockActor => ({
  userId: ctx.user_id,
  username: ctx.username,
  role: ctx.role,
  connectionId: ctx.connection_id,
});

@Controller()
export class LocksController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /** One lock command on one document of the caller's project (the command pipeline). */
  private run<R>(
    documentId: number,
    projectId: number,
    decide: (state: DocumentState, now: Date, tx: EventStoreTx) => DocumentEvent[] | Promise<DocumentEvent[]>,
    reply: (change: { events: DocumentEvent[]; after: DocumentState }) => R,
  ): Promise<R> {
    return runStreamCommand(
      this.kit.store,
      documentCommand(this.kit, documentId, projectId, (s, { now, tx }) => decide(s, now, tx), reply),
    );
  }

  /**
   * `document:start_editing`: one holder (user + connection) per document, across every instance.
   * Membership is checked again inside the lock's transaction, holding the member's row
   * (`holdMembership`): a removal running meanwhile either waits and then releases this lock, or has
   * committed and this is refused (the check before it reads committed rows only, without a lock).
   */
  @MessagePattern(projectClientEvents['document:start_editing'].subject)
  acquire(@Payload() raw: unknown): Promise<ReplyEnvelope<{ lock_acquired: true; locked_at: string; expires_at: string }>> {
    return handle(this.kit.logger, 'documents.lock.acquire', AcquireRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const policy = lockPolicyOf(this.kit);
      return this.run(
        payload.document_id,
        ctx.project_id,
        async (s, now, tx) => {
          await holdMembership(tx.client, ctx.project_id, ctx.user_id);
          return decideLock({ type: 'AcquireLock', data: { actor: actorOf(ctx), takeOver: payload.take_over ?? false, now, policy } }, s);
        },
        ({ after }) => {
          const lock = heldLock(after);
          return { lock_acquired: true as const, locked_at: lock.lockedAt, expires_at: lock.expiresAt };
        },
      );
    });
  }

  /** `document:stop_editing`: releases the caller's lock; a lock the caller does not hold is left alone. */
  @MessagePattern(projectClientEvents['document:stop_editing'].subject)
  release(@Payload() raw: unknown): Promise<ReplyEnvelope<{ lock_released: boolean }>> {
    return handle(this.kit.logger, 'documents.lock.release', ReleaseRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      return this.run(
        payload.document_id,
        ctx.project_id,
        (s, now) => decideLock({ type: 'ReleaseLock', data: { actor: actorOf(ctx), now } }, s),
        ({ events }) => ({ lock_released: events.length > 0 }),
      );
    });
  }

  /** `document:heartbeat`: the holder's editor is still open; the lease moves on (up to the idle cap). */
  @MessagePattern(projectClientEvents['document:heartbeat'].subject)
  renew(@Payload() raw: unknown): Promise<ReplyEnvelope<{ lock_renewed: true; expires_at: string }>> {
    return handle(this.kit.logger, 'documents.lock.renew', RenewRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const policy = lockPolicyOf(this.kit);
      return this.run(
        payload.document_id,
        ctx.project_id,
        (s, now) => decideLock({ type: 'RenewLock', data: { actor: actorOf(ctx), now, policy } }, s),
        ({ after }) => ({ lock_renewed: true as const, expires_at: heldLock(after).expiresAt }),
      );
    });
  }

  /**
   * `document:request_edit`: tells the holder someone is waiting (`document:edit_requested` on the
   * holder's `user:<id>` topic). A nudge, not a fact: ephemeral, never stored.
   */
  @MessagePattern(projectClientEvents['document:request_edit'].subject)
  requestEdit(@Payload() raw: unknown): Promise<ReplyEnvelope<{ requested: true; holder_id: number; holder_username: string }>> {
    return handle(this.kit.logger, 'documents.lock.request_edit', RequestEditRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const { rows } = await this.kit.pool.query<{
        project_id: string;
        lock_user_id: string | null;
        lock_username: string | null;
        lock_expires_at: Date | null;
      }>('SELECT project_id, lock_user_id, lock_username, lock_expires_at FROM documents.documents WHERE id = $1', [payload.document_id]);
      const doc = rows[0];
      if (!doc || Number(doc.project_id) !== ctx.project_id)
        throw new AppError('not_found', `document ${payload.document_id} does not exist in this project`);
      if (doc.lock_user_id === null || !doc.lock_expires_at || doc.lock_expires_at.getTime() <= Date.now()) {
        throw new AppError('not_found', 'nobody is editing this document; start editing instead');
      }
      const holderId = Number(doc.lock_user_id);
      if (holderId === ctx.user_id) throw new AppError('invalid_payload', 'you are the one editing this document');
      this.kit.publishEphemeral(subjects.userEphemeral(holderId, 'documents', 'edit_requested'), {
        broadcast: {
          event: 'document:edit_requested',
          payload: {
            document_id: payload.document_id,
            project_id: ctx.project_id,
            user_id: ctx.user_id,
            username: ctx.username,
            ...(payload.message === undefined ? {} : { message: payload.message }),
            requested_at: new Date().toISOString(),
          },
        },
      });
      return { requested: true as const, holder_id: holderId, holder_username: doc.lock_username ?? '' };
    });
  }

  /** `document:force_unlock` (admins): recorded with who and why; the former holder is told on their user topic. */
  @MessagePattern(projectClientEvents['document:force_unlock'].subject)
  forceRelease(@Payload() raw: unknown): Promise<ReplyEnvelope<{ lock_released: true; former_holder_id: number }>> {
    return handle(this.kit.logger, 'documents.lock.force_release', ForceReleaseRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      if (ctx.role !== 'admin') throw new AppError('forbidden', 'only an admin may force-release a lock');
      return this.run(
        payload.document_id,
        ctx.project_id,
        (s, now) => decideLock({ type: 'ForceReleaseLock', data: { actor: actorOf(ctx), reason: payload.reason, now } }, s),
        ({ events }) => ({
          lock_released: true as const,
          former_holder_id: events.find((e) => e.type === 'LockReleased')?.data.user_id ?? 0,
        }),
      ).then((released) => {
        lockMetrics(this.kit.metrics.registry, this.kit.pool).forceUnlocks.inc();
        return released;
      });
    });
  }
}

/** The lock a command just took or renewed (its decider refused otherwise). */
function heldLock(state: DocumentState) {
  const { lock } = existing(state);
  if (!lock) throw new Error('the document has no lock after taking or renewing it');
  return lock;
}
