/**
 * Runs work for one key at a time within this process, in call order. A failure reaches its own
 * caller only; the work queued behind it still runs. Used where requests about one thing must
 * arrive in order (a stream's commands in a service, a connection's track and untrack in the
 * gateway) and to keep a burst from holding a pooled resource per waiter.
 */
export class SerialByKey<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Settles once the work queued for `key` so far has run (at once when there is none). */
  async idle(key: K): Promise<void> {
    await this.tails.get(key);
  }

  /** Settles once the work queued for every key so far has run; failures do not reject it. */
  async allIdle(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}
