import { z } from 'zod';
import { ErrorBody, ErrorCode } from './errors.js';

/** Phoenix Channels protocol version 2 (JSON arrays). */
export const PHOENIX_VSN = '2.0.0';

/** Reserved Phoenix events. */
export const PhxEvent = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  error: 'phx_error',
  close: 'phx_close',
  heartbeat: 'heartbeat',
} as const;

const Ref = z.string().min(1).max(64).nullable();

/** A frame as the client sends it: `[join_ref, ref, topic, event, payload]`. */
export const ClientFrame = z.tuple([Ref, Ref, z.string().min(1).max(200), z.string().min(1).max(100), z.record(z.string(), z.unknown())]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** A frame as the server sends it. */
export type ServerFrame = [string | null, string | null, string, string, unknown];

export type ReplyOk = { status: 'ok'; response: unknown };
export type ReplyError = { status: 'error'; response: { reason: string; code: ErrorCode; details?: Record<string, unknown> } };
export type ReplyPayload = ReplyOk | ReplyError;

/** The `phx_reply` error payload: Phoenix's `reason` plus our `code`. */
export function replyError(error: ErrorBody): ReplyError {
  return {
    status: 'error',
    response: error.details
      ? { reason: error.message, code: error.code, details: error.details }
      : { reason: error.message, code: error.code },
  };
}

/** Topics: `project:<id>` (the planning room) and `user:<id>` (one user's notifications). */
export const ProjectTopic = z.string().regex(/^project:[1-9][0-9]{0,15}$/);
export const UserTopic = z.string().regex(/^user:[1-9][0-9]{0,15}$/);

export type ParsedTopic = { kind: 'project'; projectId: number } | { kind: 'user'; userId: number };

export function parseTopic(topic: string): ParsedTopic | null {
  const m = /^(project|user):([1-9][0-9]{0,15})$/.exec(topic);
  if (!m) return null;
  const id = Number(m[2]);
  if (!Number.isSafeInteger(id)) return null;
  return m[1] === 'project' ? { kind: 'project', projectId: id } : { kind: 'user', userId: id };
}

/** Join params: the stock client sends `{}`; anything else is ignored but must be an object. */
export const JoinParams = z.record(z.string(), z.unknown());
