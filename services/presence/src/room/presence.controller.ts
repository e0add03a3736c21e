import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { commandRequest, subjects, type PresenceSnapshot, type ReplyEnvelope, type ServiceSnapshot } from '@siteflow/contracts';
import { handle, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';

const SnapshotRequest = commandRequest(z.object({}));

/**
 * The presence part of the room snapshot. Tracking connections in JetStream KV, sweeping and diffs
 * arrive with the presence issue; until then the room is answered as nobody online.
 */
@Controller()
export class PresenceController {
  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  @MessagePattern(subjects.snapshot('presence'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<PresenceSnapshot>>> {
    return handle(this.kit.logger, 'presence.snapshot', SnapshotRequest, raw, async () => ({
      part: { state: {}, last_seen: [] },
      versions: {},
    }));
  }
}
