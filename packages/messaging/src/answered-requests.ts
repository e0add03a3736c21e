import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { RequestOne } from '@nats-io/nats-core/internal';
import type { Msg } from '@nats-io/nats-core';

/** The nats-core release whose `RequestOne.resolver` this file's replacement was written against. */
export const ANSWERED_REQUESTS_WRITTEN_FOR = '3.4.0';

let installed: boolean | null = null;

/**
 * nats.js (nats-core 3.4.0) settles an answered request in `RequestOne.resolver`: it resolves the
 * request's promise, then calls `cancel()`, which stops the timer, leaves the reply mux and rejects
 * the promise, already resolved, with `new RequestError("cancelled")`: a no-op whose Error still
 * captures a stack trace, on every request answered. That was 3.2 % of the gateway's busy time in
 * the room benchmark, and 1-2 % of each service's (their JetStream publishes and KV updates are
 * requests too); in a bare request between two processes, 15-20 % of the caller's CPU (README,
 * Benchmarks).
 *
 * This takes an answered request's path without it, doing what the library's does otherwise:
 * stop the timer, resolve, leave the mux. A failed request (no responders, a timeout, the
 * connection closed) still takes the library's own path. It replaces the method of the one
 * `RequestOne` class every connection of the process uses, only on the release it was written
 * against: on another, the library's own code runs (`answered-requests.int.spec.ts` fails then, to
 * have it looked at again). Returns whether it is in place. Idempotent.
 */
export function settleAnsweredRequestsQuietly(): boolean {
  if (installed !== null) return installed;
  // Its exports do not include package.json: read it next to the module (lib/mod.js).
  const main = createRequire(import.meta.url).resolve('@nats-io/nats-core');
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  installed = version === ANSWERED_REQUESTS_WRITTEN_FOR;
  if (!installed) return false;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with the request as `this`, below
  const libraryResolver = RequestOne.prototype.resolver;
  RequestOne.prototype.resolver = function resolver(this: RequestOne, err: Error | null, msg: Msg): void {
    if (err) {
      libraryResolver.call(this, err, msg);
      return;
    }
    this.timer.cancel();
    this.deferred.resolve(msg);
    this.mux.cancel(this);
  };
  return true;
}
