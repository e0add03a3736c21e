import { Controller, Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  commandRequest,
  ConnectionClosedNotice,
  projectClientEvents,
  subjects,
  TypingPayload,
  type EphemeralMessage,
  type ReplyEnvelope,
  type TypingReply,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, safeJson, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import type { Subscription } from '@nats-io/transport-node';
import { endTyping, endTypingOfConnection, renewTyping, sweepExpiredTyping, type TypingState } from './typing.read-model.js';

const TypingRequest = commandRequest(TypingPayload);

/** How often each instance looks for typing states that ran out. */
const SWEEP_INTERVAL_MS = 250;

/** `chat:typing {user_id, username, typing}` to the others in the room: ephemeral, never stored. */
function announce(kit: ServiceKit, s: TypingState, typing: boolean): void {
  const message: EphemeralMessage = {
    broadcast: {
      event: 'chat:typing',
      payload: { user_id: s.user_id, username: s.username, typing },
      exclude_connection_id: s.connection_id,
    },
  };
  kit.publishEphemeral(subjects.projectEphemeral(s.project_id, 'chat', 'typing'), message);
}

/** `chat:typing` starts or renews (clients renew while typing); `chat:stop_typing` ends. */
@Controller()
export class TypingController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  @MessagePattern(projectClientEvents['chat:typing'].subject)
  start(@Payload() raw: unknown): Promise<ReplyEnvelope<TypingReply>> {
    return handle(this.kit.logger, 'chat.typing.start', TypingRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      const s: TypingState = { project_id: ctx.project_id, user_id: ctx.user_id, username: ctx.username, connection_id: ctx.connection_id };
      await renewTyping(this.kit.pool, s);
      // Announced on every renewal: a client that missed the first one still learns it.
      announce(this.kit, s, true);
      return { typing: true };
    });
  }

  @MessagePattern(projectClientEvents['chat:stop_typing'].subject)
  stop(@Payload() raw: unknown): Promise<ReplyEnvelope<TypingReply>> {
    return handle(this.kit.logger, 'chat.typing.stop', TypingRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      const ended = await endTyping(this.kit.pool, ctx.project_id, ctx.user_id);
      if (ended) announce(this.kit, { ...ended, connection_id: ctx.connection_id }, false);
      return { typing: false };
    });
  }
}

/**
 * Ends typing states nobody renewed within CHAT_TYPING_TTL_MS, so no one "types" forever after a
 * crash. Every instance sweeps; the shared table hands each expired state to one of them.
 */
@Injectable()
export class TypingSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;
  private closedSub: Subscription | null = null;
  private running: Promise<void> | null = null;
  private failingSince: number | null = null;

  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  onApplicationBootstrap(): void {
    // A closed socket types no more: end its state now rather than after the expiry.
    this.closedSub = this.kit.nats.subscribe(subjects.connectionClosed, {
      queue: 'chat',
      callback: (err, msg) => {
        if (err) return;
        const closed = ConnectionClosedNotice.safeParse(safeJson(msg.data));
        if (closed.success) void this.endConnection(closed.data.connection_id);
      },
    });
    this.timer = setInterval(() => {
      this.running ??= this.sweep().finally(() => (this.running = null));
    }, SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.closedSub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async endConnection(connectionId: string): Promise<void> {
    try {
      for (const s of await endTypingOfConnection(this.kit.pool, connectionId)) announce(this.kit, s, false);
    } catch (err) {
      this.kit.logger.warn({ err }, 'could not end the typing of a closed connection; the expiry will');
    }
  }

  private async sweep(): Promise<void> {
    try {
      for (const s of await sweepExpiredTyping(this.kit.pool)) announce(this.kit, s, false);
      if (this.failingSince !== null) {
        this.kit.logger.info({ failedForMs: Date.now() - this.failingSince }, 'typing sweep works again');
        this.failingSince = null;
      }
    } catch (err) {
      // Four rounds a second: while the database is away, say so once, not four times a second.
      if (this.failingSince === null) this.kit.logger.warn({ err }, 'typing sweep failed; it keeps trying every round');
      this.failingSince ??= Date.now();
    }
  }
}
