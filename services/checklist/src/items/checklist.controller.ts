import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { commandRequest, computeProgress, subjects, type ChecklistSnapshot, type ReplyEnvelope, type ServiceSnapshot } from '@siteflow/contracts';
import { handle, SERVICE_KIT, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';

const SnapshotRequest = commandRequest(z.object({}));

/** The checklist part of the room snapshot (items and toggles arrive with the checklist issue). */
@Controller()
export class ChecklistController {
  constructor(@Inject(SERVICE_KIT) private readonly kit: ServiceKit) {}

  @MessagePattern(subjects.snapshot('checklist'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<ChecklistSnapshot>>> {
    return handle(this.kit.logger, 'checklist.snapshot', SnapshotRequest, raw, async () => ({
      part: { items: [], progress: computeProgress(0, 0) },
      versions: {},
    }));
  }
}
