/**
 * Runs work for one key at a time within this process. Commands on one stream serialise on its row
 * lock anyway; queueing them here first keeps a burst from holding a pool connection per waiter
 * (the database's connection limit is shared by every service instance).
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
}
