const decoder = new TextDecoder();

/** A NATS message body parsed as JSON, or null when it is not JSON: callers `safeParse` it with its schema. */
export function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data)) as unknown;
  } catch {
    return null;
  }
}
