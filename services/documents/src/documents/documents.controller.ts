import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  commandRequest,
  GetDocumentPayload,
  projectClientEvents,
  SavePayload,
  type DocumentMeta,
  type ReplyEnvelope,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import { lockPolicyOf } from '../config.js';
import { actorOf } from '../locks/locks.controller.js';
import { decideDocument } from './decide.js';
import { documentCommand, existing } from './document-stream.js';
import { getDocument } from './documents.read-model.js';

const SaveRequest = commandRequest(SavePayload);
const GetRequest = commandRequest(GetDocumentPayload);

type SaveReply = { document_id: number; version: number; saved: boolean; updated_at: string };

@Controller()
export class DocumentsController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  /** `document:save`: the lock holder's text becomes a new version; acknowledged means committed. */
  @MessagePattern(projectClientEvents['document:save'].subject)
  save(@Payload() raw: unknown): Promise<ReplyEnvelope<SaveReply>> {
    return handle(this.kit.logger, 'documents.document.save', SaveRequest, raw, async ({ ctx, payload }) =>
      this.saveAs({ ctx: await this.members.require(ctx), payload }, false),
    );
  }

  /** `document:auto_save`: as a save, but unchanged text makes no new version (it still renews the lease). */
  @MessagePattern(projectClientEvents['document:auto_save'].subject)
  autoSave(@Payload() raw: unknown): Promise<ReplyEnvelope<SaveReply>> {
    return handle(this.kit.logger, 'documents.document.auto_save', SaveRequest, raw, async ({ ctx, payload }) =>
      this.saveAs({ ctx: await this.members.require(ctx), payload }, true),
    );
  }

  /** `document:get`: one document with its content (the join snapshot carries metadata only). */
  @MessagePattern(projectClientEvents['document:get'].subject)
  get(@Payload() raw: unknown): Promise<ReplyEnvelope<DocumentMeta & { content: string }>> {
    return handle(this.kit.logger, 'documents.document.get', GetRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const client = await this.kit.pool.connect();
      try {
        const doc = await getDocument(client, payload.document_id);
        if (!doc || doc.project_id !== ctx.project_id)
          throw new AppError('not_found', `document ${payload.document_id} does not exist in this project`);
        return doc;
      } finally {
        client.release();
      }
    });
  }

  private async saveAs(
    input: { ctx: Parameters<typeof actorOf>[0]; payload: { document_id: number; content: string; base_version: number } },
    auto: boolean,
  ): Promise<SaveReply> {
    const { ctx, payload } = input;
    const policy = lockPolicyOf(this.kit);
    return runStreamCommand(
      this.kit.store,
      documentCommand(
        this.kit,
        payload.document_id,
        ctx.project_id,
        (s, { now }) =>
          decideDocument(
            {
              type: 'SaveDocument',
              data: { actor: actorOf(ctx), content: payload.content, baseVersion: payload.base_version, auto, now, policy },
            },
            s,
          ),
        ({ events, after }) => {
          const doc = existing(after);
          return {
            document_id: doc.documentId,
            version: doc.version,
            saved: events.some((e) => e.type === 'DocumentSaved'),
            updated_at: doc.updatedAt,
          };
        },
      ),
    );
  }
}
