/**
 * Requests of one kind that become ready in the same turn of the event loop, grouped by a key (a
 * project) and sent as one: the joins of a room, admitted together (a gateway restart brings a
 * room's sockets back at once), ask a service once instead of once each. Nothing waits past the
 * turn (setImmediate, no timer): a lone request goes out as soon as its turn ends, in a group of
 * one; a group that reaches `max` goes out at once.
 */
export class TurnBatch<In, Out> {
  private pending = new Map<number, Array<{ item: In; resolve: (out: Out) => void }>>();
  private scheduled = false;

  constructor(
    private readonly max: number,
    /** Answers a group, one answer per item, in order. Must not reject. */
    private readonly send: (key: number, items: In[]) => Promise<Out[]>,
  ) {}

  add(key: number, item: In): Promise<Out> {
    return new Promise((resolve) => {
      let group = this.pending.get(key);
      if (!group) this.pending.set(key, (group = []));
      group.push({ item, resolve });
      if (group.length >= this.max) {
        this.pending.delete(key);
        void this.run(key, group);
        return;
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const groups = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const [key, group] of groups) void this.run(key, group);
  }

  private async run(key: number, group: Array<{ item: In; resolve: (out: Out) => void }>): Promise<void> {
    const outs = await this.send(
      key,
      group.map((g) => g.item),
    );
    group.forEach((g, i) => g.resolve(outs[i] as Out));
  }
}
