import { ClientFrame, describeIssues, type ErrorBody, type ServerFrame } from '@siteflow/contracts';

/** What to do with one incoming text frame. */
export type Decoded =
  | { kind: 'frame'; joinRef: string | null; ref: string; topic: string; event: string; payload: Record<string, unknown> }
  /** The frame is malformed, but it names a ref and topic we can answer on. */
  | { kind: 'reject'; joinRef: string | null; ref: string; topic: string; error: ErrorBody }
  /** Nothing in it can be answered: the socket is closed with this code. */
  | { kind: 'close'; code: number; reason: string };

/** WebSocket close codes we use (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  tryAgainLater: 1013,
} as const;

const MAX_NESTING = 32;

/**
 * Decodes a Phoenix v2 frame `[join_ref, ref, topic, event, payload]`. Pure: no I/O, never throws.
 */
export function decodeFrame(text: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'close', code: CloseCode.invalidPayload, reason: 'frame is not JSON' };
  }
  if (!Array.isArray(value)) return { kind: 'close', code: CloseCode.invalidPayload, reason: 'frame is not an array' };
  const parsed = ClientFrame.safeParse(value);
  if (parsed.success) {
    const [joinRef, ref, topic, event, payload] = parsed.data;
    // Every frame a Phoenix client sends carries a ref (pushes, joins, heartbeats); one without it
    // could never be answered, so it is a protocol violation rather than silence.
    if (ref === null) return { kind: 'close', code: CloseCode.invalidPayload, reason: 'frame without a ref' };
    if (nestingDepth(payload, 0) > MAX_NESTING) {
      return { kind: 'reject', joinRef, ref, topic, error: { code: 'invalid_payload', message: 'payload is nested too deeply' } };
    }
    // Postgres stores no NUL character (U+0000) in text or jsonb: refused here, by name, rather than
    // failing in a service's database. JSON can only carry one as the escape `\u0000`.
    if (text.includes('\\u0000') && holdsNul(payload)) {
      return {
        kind: 'reject',
        joinRef,
        ref,
        topic,
        error: { code: 'invalid_payload', message: 'text may not contain the NUL character (U+0000)' },
      };
    }
    return { kind: 'frame', joinRef, ref, topic, event, payload };
  }
  // Answerable if it carries a usable ref and topic; otherwise nobody is waiting for a reply.
  const [joinRef, ref, topic] = value as unknown[];
  if (
    typeof ref === 'string' &&
    ref.length > 0 &&
    ref.length <= 64 &&
    typeof topic === 'string' &&
    topic.length > 0 &&
    topic.length <= 200
  ) {
    return {
      kind: 'reject',
      joinRef: typeof joinRef === 'string' && joinRef.length <= 64 ? joinRef : null,
      ref,
      topic,
      error: { code: 'invalid_payload', message: `malformed frame: ${describeIssues(parsed.error)}` },
    };
  }
  return { kind: 'close', code: CloseCode.invalidPayload, reason: 'malformed frame' };
}

function nestingDepth(value: unknown, depth: number): number {
  if (depth > MAX_NESTING || value === null || typeof value !== 'object') return depth;
  let max = depth;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    const d = nestingDepth(v, depth + 1);
    if (d > max) max = d;
    if (max > MAX_NESTING) break;
  }
  return max;
}

export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/** Whether a string in `value` (a key or a value, at any depth: bounded by MAX_NESTING) holds U+0000. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsNul);
  return Object.entries(value).some(([k, v]) => k.includes('\0') || holdsNul(v));
}
