/**
 * Idempotency keys for pushes a person may retry. A write that failed (a timeout, `unavailable`,
 * the connection dropping) may still have been committed; retrying it under the same key gets the
 * first outcome instead of a second message or a second toggle (docs/protocol.md, "Retries").
 *
 * One key per intent (what is being sent, e.g. a chat draft's text): asking again for the same
 * intent before it succeeded gives the same key; once it succeeded, the next one gets a fresh key.
 */
export class RetryKeys {
  /** Intents not yet through, oldest first; only the last few are worth retrying. */
  private readonly pending = new Map<string, string>();

  constructor(
    private readonly newKey: () => string = () => crypto.randomUUID(),
    private readonly remember = 16,
  ) {}

  keyFor(intent: string): string {
    let key = this.pending.get(intent);
    if (key === undefined) {
      key = this.newKey();
      this.pending.set(intent, key);
      const oldest = this.pending.keys().next().value;
      if (this.pending.size > this.remember && oldest !== undefined) this.pending.delete(oldest);
    }
    return key;
  }

  /** The intent went through: a later identical one is a new command. */
  succeeded(intent: string): void {
    this.pending.delete(intent);
  }
}
