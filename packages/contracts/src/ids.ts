import { z } from 'zod';
import { INT32_MAX, ROLES } from './constants.js';

/** A version number (document versions, stream versions): a Postgres `integer`, from 1. */
export const VersionNumber = z.number().int().min(1).max(INT32_MAX);

/** Numeric ids travel as JSON numbers (docs/architecture.md, "The room"); they are positive safe integers. */
export const NumericId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const ProjectId = NumericId;
export type ProjectId = z.infer<typeof ProjectId>;
export const UserId = NumericId;
export type UserId = z.infer<typeof UserId>;
export const DocumentId = NumericId;
export type DocumentId = z.infer<typeof DocumentId>;
/** Checklist item ids are stored as Postgres `integer`. */
export const ChecklistItemId = z.number().int().positive().max(INT32_MAX);
export type ChecklistItemId = z.infer<typeof ChecklistItemId>;

/** A connection id is opaque: the gateway mints it per socket. */
export const ConnectionId = z.string().min(1).max(64);
export type ConnectionId = z.infer<typeof ConnectionId>;

/** Chat message ids are `m_` + a UUID; their order is the chat stream's version, not the id. */
export const MessageId = z.string().regex(/^m_[0-9a-f-]{36}$/);
export type MessageId = z.infer<typeof MessageId>;

export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const IsoTime = z.iso.datetime({ offset: true });
