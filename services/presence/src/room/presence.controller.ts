import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  commandRequest,
  describeIssues,
  presenceSubjects,
  subjects,
  TrackManyRequest,
  TrackPayload,
  type PresenceSnapshot,
  type TrackManyReply,
  type ReplyEnvelope,
  type ServiceSnapshot,
  type TrackReply,
  type UntrackReply,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { lastSeenOf } from '../sessions/sessions.store.js';
import { PresenceService } from './presence.service.js';

const PresenceRequest = commandRequest(z.object({}));
const TrackRequest = commandRequest(TrackPayload);

@Controller()
export class PresenceController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
    private readonly presence: PresenceService,
  ) {}

  /** The presence part of the room: who is online (Phoenix state) and when the others were last seen. */
  @MessagePattern(subjects.snapshot('presence'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<PresenceSnapshot>>> {
    return handle(this.kit.logger, 'presence.snapshot', PresenceRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      const state = this.presence.stateOf(ctx.project_id);
      const online = this.presence.onlineUsers(ctx.project_id);
      const seen = await lastSeenOf(this.kit.pool, ctx.project_id);
      // Presence is not versioned: diffs are ephemeral and Phoenix merges them idempotently.
      return { part: { state, last_seen: seen.filter((m) => !online.has(m.user_id)) }, versions: {} };
    });
  }

  /** The gateway tracks a connection after a successful `project:` join. */
  @MessagePattern(presenceSubjects.track)
  track(@Payload() raw: unknown): Promise<ReplyEnvelope<TrackReply>> {
    return handle(this.kit.logger, presenceSubjects.track, TrackRequest, raw, async ({ ctx, payload }) =>
      this.presence.track(await this.members.require(ctx), payload.gateway_id, payload.retrack === true),
    );
  }

  /**
   * The tracks of one project a gateway had ready at once (a room's joins admitted together): one
   * request instead of one each. Each is handled exactly as `presence.track` handles it (its own
   * check, its own turn of the command gate, its own outcome), so one refused or failed track
   * takes no other with it; their session appends share group commits.
   */
  @MessagePattern(presenceSubjects.trackMany)
  async trackMany(@Payload() raw: unknown): Promise<ReplyEnvelope<TrackManyReply>> {
    const parsed = TrackManyRequest.safeParse(raw);
    if (!parsed.success) return { ok: false, error: { code: 'invalid_payload', message: describeIssues(parsed.error) } };
    return { ok: true, data: { replies: await Promise.all(parsed.data.tracks.map((t) => this.track(t))) } };
  }

  /** The gateway untracks a connection on leave or socket close (anyone's: removing is never harmful). */
  @MessagePattern(presenceSubjects.untrack)
  untrack(@Payload() raw: unknown): Promise<ReplyEnvelope<UntrackReply>> {
    return handle(this.kit.logger, presenceSubjects.untrack, PresenceRequest, raw, async ({ ctx }) => ({
      removed: await this.presence.untrack(ctx),
    }));
  }
}
