import type { Channel } from 'phoenix';

/**
 * Joins `channel` as the web app does: resolves with the join's reply, or rejects with the server's
 * refusal (leaving the channel) or on timeout. A refusal of a later *rejoin* (after a `phx_error`,
 * e.g. the gateway's NATS connection failed over while presence was electing a leader) is left to
 * phoenix, which rejoins again, as the web app does with a refusal that can change (`unavailable`).
 *
 * @siteflow/testing's joinChannel cannot be used for that: phoenix keeps a join's reply hooks for
 * the channel's life, so its "leave on error" also runs when any later rejoin is refused, and the
 * channel is left for good: every push after it waits in phoenix's buffer until it times out,
 * never reaching the gateway.
 */
export function joinKeepingRejoins<R>(channel: Channel, timeoutMs: number): Promise<R> {
  let settled = false;
  return new Promise<R>((resolve, reject) => {
    channel
      .join(timeoutMs)
      .receive('ok', (response: R) => {
        if (settled) return;
        settled = true;
        resolve(response);
      })
      .receive('error', (response: unknown) => {
        if (settled) return;
        settled = true;
        channel.leave();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the server's refusal ({reason, code}), which callers read
        reject(response);
      })
      .receive('timeout', () => {
        if (settled) return;
        settled = true;
        channel.leave();
        reject(new Error(`join of ${channel.topic} timed out after ${timeoutMs} ms`));
      });
  });
}
