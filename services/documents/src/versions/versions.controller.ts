import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AppError,
  commandRequest,
  GetVersionPayload,
  HistoryOfDocumentPayload,
  projectClientEvents,
  RestorePayload,
  type ReplyEnvelope,
} from '@siteflow/contracts';
import { handle, PROJECT_MEMBERSHIP, runStreamCommand, SERVICE_KIT, type ProjectMembership, type ServiceKit } from '@siteflow/servicekit';
import type { PoolClient } from 'pg';
import { lockPolicyOf } from '../config.js';
import { documentCommand, existing } from '../documents/document-stream.js';
import { actorOf } from '../locks/locks.controller.js';
import { decideRestore } from './decide.js';
import { getVersion, listVersions } from './versions.read-model.js';

const ListRequest = commandRequest(HistoryOfDocumentPayload);
const GetRequest = commandRequest(GetVersionPayload);
const RestoreRequest = commandRequest(RestorePayload);

const DEFAULT_PAGE = 20;

async function assertInProject(client: PoolClient, documentId: number, projectId: number): Promise<void> {
  const { rows } = await client.query<{ project_id: string }>('SELECT project_id FROM documents.documents WHERE id = $1', [documentId]);
  if (!rows[0] || Number(rows[0].project_id) !== projectId)
    throw new AppError('not_found', `document ${documentId} does not exist in this project`);
}

@Controller()
export class VersionsController {
  constructor(
    @Inject(SERVICE_KIT) private readonly kit: ServiceKit,
    @Inject(PROJECT_MEMBERSHIP) private readonly members: ProjectMembership,
  ) {}

  private async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.kit.pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }

  /** `document:history`: versions newest first (who, when, size), paged with `before`. */
  @MessagePattern(projectClientEvents['document:history'].subject)
  list(@Payload() raw: unknown) {
    return handle(this.kit.logger, 'documents.version.list', ListRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      return this.withClient(async (client) => {
        await assertInProject(client, payload.document_id, ctx.project_id);
        return {
          document_id: payload.document_id,
          ...(await listVersions(client, payload.document_id, payload.before ?? null, payload.limit ?? DEFAULT_PAGE)),
        };
      });
    });
  }

  /** `document:get_version`: one version's content. */
  @MessagePattern(projectClientEvents['document:get_version'].subject)
  get(@Payload() raw: unknown) {
    return handle(this.kit.logger, 'documents.version.get', GetRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      return this.withClient(async (client) => {
        await assertInProject(client, payload.document_id, ctx.project_id);
        const v = await getVersion(client, payload.document_id, payload.version);
        if (!v) throw new AppError('not_found', `version ${payload.version} of document ${payload.document_id} does not exist`);
        return v;
      });
    });
  }

  /** `document:restore` (lock holder): an old version's content becomes the new current version. */
  @MessagePattern(projectClientEvents['document:restore'].subject)
  restore(
    @Payload() raw: unknown,
  ): Promise<
    ReplyEnvelope<{ document_id: number; version: number; restored_from: number; saved: true; updated_at: string; content: string }>
  > {
    return handle(this.kit.logger, 'documents.version.restore', RestoreRequest, raw, async ({ ctx: asked, payload }) => {
      const ctx = await this.members.require(asked);
      const policy = lockPolicyOf(this.kit);
      return runStreamCommand(
        this.kit.store,
        documentCommand(
          this.kit,
          payload.document_id,
          ctx.project_id,
          async (s, { now, tx }) => {
            const old = await getVersion(tx.client, payload.document_id, payload.version);
            return decideRestore(
              {
                type: 'RestoreVersion',
                data: { actor: actorOf(ctx), version: payload.version, content: old?.content ?? null, now, policy },
              },
              s,
            );
          },
          ({ after, events }) => {
            const doc = existing(after);
            const saved = events.find((e) => e.type === 'DocumentSaved');
            if (!saved) throw new Error('a restore stored no version');
            return {
              document_id: doc.documentId,
              version: doc.version,
              restored_from: payload.version,
              saved: true as const,
              updated_at: doc.updatedAt,
              content: saved.data.content,
            };
          },
        ),
      );
    });
  }
}
