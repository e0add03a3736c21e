import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AddItemPayload,
  AppError,
  commandRequest,
  computeProgress,
  EditItemPayload,
  projectClientEvents,
  RemoveItemPayload,
  ReorderPayload,
  subjects,
  TogglePayload,
  type ChecklistSnapshot,
  type ReplyEnvelope,
  type ServiceSnapshot,
  type ToggleReply,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { z } from 'zod';
import { checklistStreamId } from './checklist.js';
import { loadItems, loadProgress } from './checklist.read-model.js';
import { checklistCommand, templatePreview } from './checklist.service.js';

const ToggleRequest = commandRequest(TogglePayload);
const AddRequest = commandRequest(AddItemPayload);
const EditRequest = commandRequest(EditItemPayload);
const ReorderRequest = commandRequest(ReorderPayload);
const RemoveRequest = commandRequest(RemoveItemPayload);
const SnapshotRequest = commandRequest(z.object({}));

/** The checklist's NATS handlers: parse → load → decide → append → project → reply. */
@Controller()
export class ChecklistController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /** `checklist:toggle`: anyone in the room; setting the value an item already has changes nothing. */
  @MessagePattern(projectClientEvents['checklist:toggle'].subject)
  toggle(@Payload() raw: unknown): Promise<ReplyEnvelope<ToggleReply>> {
    return handle(this.kit.logger, 'checklist.item.toggle', ToggleRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const outcome = await runStreamCommand(
        this.kit.store,
        checklistCommand(ctx.project_id, (now) => ({
          type: 'ToggleItem',
          data: { projectId: ctx.project_id, itemId: payload.item_id, checked: payload.checked, actor: ctx, now },
        })),
      );
      const item = outcome.items.find((i) => i.id === payload.item_id);
      if (!item) throw new AppError('not_found', `no checklist item ${payload.item_id} in this project`);
      return { item, progress: outcome.progress };
    });
  }

  @MessagePattern(projectClientEvents['checklist:add_item'].subject)
  addItem(@Payload() raw: unknown): Promise<ReplyEnvelope<ChecklistSnapshot>> {
    return handle(this.kit.logger, 'checklist.item.add', AddRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const { items, progress } = await runStreamCommand(
        this.kit.store,
        checklistCommand(ctx.project_id, () => ({
          type: 'AddItem',
          data: {
            projectId: ctx.project_id,
            title: payload.title,
            description: payload.description ?? null,
            orderIndex: payload.order_index,
            actor: ctx,
          },
        })),
      );
      return { items, progress };
    });
  }

  @MessagePattern(projectClientEvents['checklist:edit_item'].subject)
  editItem(@Payload() raw: unknown): Promise<ReplyEnvelope<ChecklistSnapshot>> {
    return handle(this.kit.logger, 'checklist.item.edit', EditRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const { items, progress } = await runStreamCommand(
        this.kit.store,
        checklistCommand(ctx.project_id, () => ({
          type: 'EditItem',
          data: { projectId: ctx.project_id, itemId: payload.item_id, title: payload.title, description: payload.description, actor: ctx },
        })),
      );
      return { items, progress };
    });
  }

  @MessagePattern(projectClientEvents['checklist:reorder'].subject)
  reorder(@Payload() raw: unknown): Promise<ReplyEnvelope<ChecklistSnapshot>> {
    return handle(this.kit.logger, 'checklist.item.reorder', ReorderRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const { items, progress } = await runStreamCommand(
        this.kit.store,
        checklistCommand(ctx.project_id, () => ({
          type: 'ReorderItems',
          data: { projectId: ctx.project_id, itemIds: payload.item_ids, actor: ctx },
        })),
      );
      return { items, progress };
    });
  }

  @MessagePattern(projectClientEvents['checklist:remove_item'].subject)
  removeItem(@Payload() raw: unknown): Promise<ReplyEnvelope<ChecklistSnapshot>> {
    return handle(this.kit.logger, 'checklist.item.remove', RemoveRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const { items, progress } = await runStreamCommand(
        this.kit.store,
        checklistCommand(ctx.project_id, () => ({
          type: 'RemoveItem',
          data: { projectId: ctx.project_id, itemId: payload.item_id, actor: ctx },
        })),
      );
      return { items, progress };
    });
  }

  /** The checklist part of the room snapshot: items and progress with the stream version they reflect. */
  @MessagePattern(subjects.snapshot('checklist'))
  snapshot(@Payload() raw: unknown): Promise<ReplyEnvelope<ServiceSnapshot<ChecklistSnapshot>>> {
    return handle(this.kit.logger, 'checklist.snapshot', SnapshotRequest, raw, async ({ ctx: asked }) => {
      const ctx = await this.members.require(asked);
      return this.kit.store.snapshot(async (tx) => {
        const streamId = checklistStreamId(ctx.project_id);
        const version = await tx.streamVersion(streamId);
        // Not created yet (a member's first look may come before the project's checklist was
        // written): show the template the first command will create (its ids are deterministic).
        // A snapshot never writes.
        if (version === 0) return { part: templatePreview(ctx.project_id), versions: { [streamId]: 0 } };
        const items = await loadItems(tx.client, ctx.project_id);
        const progress = (await loadProgress(tx.client, ctx.project_id)) ?? computeProgress(0, items.length);
        return { part: { items, progress }, versions: { [streamId]: version } };
      });
    });
  }
}
