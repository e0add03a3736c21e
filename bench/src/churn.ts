import { setTimeout as sleep } from 'node:timers/promises';
import { rssMiB } from './cpu.js';
import { PhxClient } from './phx-client.js';
import { nth } from './util.js';

export interface ChurnSample {
  /** Seconds since the soak started. */
  t: number;
  joins: number;
  rssMiB: number;
  /** V8 heap in use (the gateway's /metrics), MiB; NaN if not read. */
  heapUsedMiB: number;
}

export interface ChurnResult {
  seconds: number;
  rooms: number;
  /** Sockets that stay joined all along (they keep every room open). */
  residents: number;
  /** Sockets joining and leaving at once, over and over. */
  churners: number;
  joins: number;
  failed: number;
  samples: ChurnSample[];
  /** Heap in use after a GC-smoothed start (second sample) and at the end; growth per 10,000 joins. */
  heapGrowthMiBPer10kJoins: number;
  rssGrowthMiBPer10kJoins: number;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * ((ys[i] ?? my) - my);
    den += (x - mx) ** 2;
  });
  return den === 0 ? NaN : num / den;
}

async function heapUsedMiB(gatewayUrl: string): Promise<number> {
  try {
    const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
    const v = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})?\s+([\d.e+]+)/m.exec(text)?.[1];
    return v ? Number(v) / 2 ** 20 : NaN;
  } catch (err) {
    process.stderr.write(`gateway /metrics: ${String(err)}\n`);
    return NaN;
  }
}

/**
 * Session churn: `residents` sockets hold each room open, `churners` loops connect, join a room,
 * wait for their presence, then leave (phx_leave, or closing the socket, alternately) and start
 * again, for `seconds`. The gateway's memory is sampled every `sampleEvery` seconds: bounded, it
 * stays flat however many sessions came and went.
 */
export async function runChurn(opts: {
  socketUrl: string;
  gatewayUrl: string;
  gatewayPid: number;
  tokens: string[];
  projects: number[];
  residentsPerRoom: number;
  churners: number;
  seconds: number;
  sampleEverySeconds: number;
}): Promise<ChurnResult> {
  const residents: PhxClient[] = [];
  let joins = 0;
  let failed = 0;
  const samples: ChurnSample[] = [];
  const topicOf = (i: number) => `project:${nth(opts.projects, i)}`;
  try {
    for (let i = 0; i < opts.projects.length * opts.residentsPerRoom; i++) {
      const c = await PhxClient.connect(opts.socketUrl, nth(opts.tokens, i));
      await c.join(topicOf(i));
      residents.push(c);
    }
    const started = performance.now();
    const deadline = started + opts.seconds * 1000;
    const sample = async () =>
      samples.push({
        t: (performance.now() - started) / 1000,
        joins,
        rssMiB: rssMiB(opts.gatewayPid),
        heapUsedMiB: await heapUsedMiB(opts.gatewayUrl),
      });
    await sample();
    const sampler = (async () => {
      while (performance.now() < deadline) {
        await sleep(opts.sampleEverySeconds * 1000);
        await sample();
      }
    })();
    let n = 0;
    await Promise.all(
      Array.from({ length: opts.churners }, async (_, w) => {
        while (performance.now() < deadline) {
          const i = n++;
          const topic = topicOf(i);
          try {
            const c = await PhxClient.connect(opts.socketUrl, nth(opts.tokens, w));
            const presence = new Promise<void>((resolve) => {
              c.onEvent = (t, event) => t === topic && event === 'presence_state' && resolve();
            });
            await c.join(topic);
            await presence;
            joins++;
            if (i % 2 === 0) {
              await c.push(topic, 'phx_leave', {});
            }
            c.close();
          } catch {
            failed++;
          }
        }
      }),
    );
    await sampler;
    const later = samples.slice(1);
    return {
      seconds: opts.seconds,
      rooms: opts.projects.length,
      residents: residents.length,
      churners: opts.churners,
      joins,
      failed,
      samples,
      heapGrowthMiBPer10kJoins:
        slope(
          later.map((s) => s.joins),
          later.map((s) => s.heapUsedMiB),
        ) * 10_000,
      rssGrowthMiBPer10kJoins:
        slope(
          later.map((s) => s.joins),
          later.map((s) => s.rssMiB),
        ) * 10_000,
    };
  } finally {
    for (const c of residents) c.close();
  }
}
