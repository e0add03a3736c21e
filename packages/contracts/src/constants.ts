/**
 * The contracts' plain values: closed sets, bounds, topics and the progress rule. This module (the
 * package's `@siteflow/contracts/constants` entry) imports nothing at run time, so a browser bundle
 * takes these values without zod and the schemas; the schemas in the other modules are built from
 * them, so both sides share one definition. Types come from the main entry with `import type`.
 */

/** The largest value of a Postgres `integer` column: every integer stored as one is bounded by it. */
export const INT32_MAX = 2_147_483_647;

/**
 * The closed set of error codes that may appear in a `phx_reply` error, a NATS reply or a log line
 * (`ErrorCode` is its schema). Clients switch on `code`; `message` is for people.
 */
export const ERROR_CODES = [
  'unauthorized',
  'forbidden',
  'invalid_payload',
  'unknown_event',
  'unmatched_topic',
  'not_found',
  'already_exists',
  'locked',
  'not_lock_holder',
  'version_conflict',
  'last_member',
  'rate_limited',
  'payload_too_large',
  'unavailable',
  'internal',
] as const;

/** A member's role in a project (`Role`). */
export const ROLES = ['admin', 'customer'] as const;

/** A project's status, in its usual order (`ProjectStatus`). */
export const PROJECT_STATUSES = ['draft', 'planning', 'in_progress', 'review', 'completed', 'on_hold'] as const;
/** A project name, after trimming: 1 to this many characters. */
export const PROJECT_NAME_MAX = 200;

/** The 9 planning documents every project has (docs/architecture.md, "The room"; `DocumentType`). */
export const DOCUMENT_TYPES = [
  'technical_spec',
  'design_system',
  'content_structure',
  'feature_list',
  'timeline',
  'budget',
  'risk_analysis',
  'success_metrics',
  'deployment_plan',
] as const;
/** Largest document content, in UTF-8 bytes. */
export const DOCUMENT_MAX_BYTES = 512 * 1024;
/** Why an edit lock ended (`UnlockReason`). */
export const UNLOCK_REASONS = ['released', 'disconnected', 'expired', 'revoked'] as const;

/** A chat message, after trimming: 1 to this many characters. */
export const CHAT_MAX_TEXT = 4000;
export const CHAT_SNAPSHOT_SIZE = 50;
export const CHAT_HISTORY_MAX = 100;
/** At most this many messages per user per project in any `CHAT_RATE_WINDOW_MS`. */
export const CHAT_RATE_LIMIT = 60;
export const CHAT_RATE_WINDOW_MS = 60_000;
/** A typing state not renewed within this time ends by itself. */
export const CHAT_TYPING_TTL_MS = 5_000;

/** A checklist item's title, after trimming: 1 to this many characters. */
export const CHECKLIST_TITLE_MAX = 255;
/** A checklist item's description: at most this many characters. */
export const CHECKLIST_DESCRIPTION_MAX = 2000;
/** How many items a project's checklist may hold. */
export const CHECKLIST_MAX_ITEMS = 500;

/** Progress as every client shows it (the shape of the `Progress` schema). */
export interface ProgressValue {
  /** Percentage with one decimal, e.g. 67.5. */
  progress: number;
  completed_items: number;
  total_items: number;
}

/** Progress as every client shows it: a percentage with one decimal, 27 of 40 → 67.5 (docs/architecture.md, "The room"). */
export function computeProgress(completed: number, total: number): ProgressValue {
  const progress = total === 0 ? 0 : Math.round((completed / total) * 1000) / 10;
  return { progress, completed_items: completed, total_items: total };
}

/** The planning room of a project. */
export const projectTopic = (projectId: number) => `project:${projectId}`;
/** One user's own notifications (unread counts, edit requests, revocations). */
export const userTopic = (userId: number) => `user:${userId}`;
