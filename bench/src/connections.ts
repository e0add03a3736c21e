import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { GatewayHeap } from './gateway-heap.js';
import { summarize, type LatencySummary } from './stats.js';
import { nextMessage } from './util.js';

export interface ConnectionStep {
  connections: number;
  /** The gateway's V8 heap: as deployed (infra/k8s/base/gateway.yaml's flags) or this host's default. */
  gatewayHeap: GatewayHeap;
  failed: number;
  gatewayRssMiB: number;
  /** (RSS now − RSS with no sockets) / connections. */
  rssPerConnectionKiB: number;
  joinsPerSecond: number;
  /** Rooms the sockets are spread over, and sockets per room at this step. */
  rooms: number;
  /** phx_join → its reply (the room snapshot), for this step's joins. */
  joinReply: LatencySummary;
  /** phx_join → `presence_state` (presence tracked the socket: it sees itself online). */
  presenceSettle: LatencySummary;
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Opens idle joined sockets in steps, across worker processes, and reads the gateway's RSS. */
export async function runConnections(opts: {
  socketUrl: string;
  tokens: string[];
  /** Projects the sockets join, round robin (every token's user must be a member). */
  projects: number[];
  gatewayPid: number;
  gatewayHeap: GatewayHeap;
  steps: number[];
  perWorker: number;
}): Promise<ConnectionStep[]> {
  const workers: ChildProcess[] = [];
  const worker = fileURLToPath(new URL('./connection-worker.js', import.meta.url));
  const base = rssMiB(opts.gatewayPid);
  const results: ConnectionStep[] = [];
  const held = new Map<ChildProcess, number>();
  try {
    let total = 0;
    for (const target of opts.steps) {
      const started = performance.now();
      let failed = 0;
      const replyMs: number[] = [];
      const presenceMs: number[] = [];
      while (total < target) {
        let w = workers.find((x) => (held.get(x) ?? 0) < opts.perWorker);
        if (!w) {
          w = fork(worker, {
            env: {
              ...process.env,
              SOCKET_URL: opts.socketUrl,
              TOKENS: JSON.stringify(opts.tokens),
              PROJECTS: JSON.stringify(opts.projects),
            },
            stdio: 'inherit',
          });
          await nextMessage(w, (m) => m.ready === true);
          workers.push(w);
        }
        const n = Math.min(target - total, opts.perWorker - (held.get(w) ?? 0));
        w.send({ open: n, from: total });
        const r = await nextMessage<{ opened: number; failed: number; replyMs: number[]; presenceMs: number[] }>(
          w,
          (m) => typeof m.opened === 'number',
        );
        failed += r.failed;
        replyMs.push(...r.replyMs);
        presenceMs.push(...r.presenceMs);
        held.set(w, r.opened);
        total += n;
      }
      const seconds = (performance.now() - started) / 1000;
      await sleep(2_000); // let the gateway settle
      const rss = rssMiB(opts.gatewayPid);
      const connections = [...held.values()].reduce((a, b) => a + b, 0);
      results.push({
        connections,
        gatewayHeap: opts.gatewayHeap,
        failed,
        gatewayRssMiB: rss,
        rssPerConnectionKiB: connections > 0 ? ((rss - base) * 1024) / connections : 0,
        joinsPerSecond: (target - (results.at(-1)?.connections ?? 0)) / seconds,
        rooms: Math.min(opts.projects.length, connections),
        joinReply: summarize(replyMs),
        presenceSettle: summarize(presenceMs),
      });
      const last = results[results.length - 1] ?? results[0];
      if (!last) continue;
      process.stdout.write(
        `  ${connections} sockets in ${last.rooms} rooms: gateway RSS ${rss.toFixed(0)} MiB (heap ${opts.gatewayHeap}), ${last.joinsPerSecond.toFixed(0)} joins/s, presence p99 ${last.presenceSettle.p99.toFixed(0)} ms, ${failed} failed\n`,
      );
      if (failed > 0) break;
    }
    return results;
  } finally {
    for (const w of workers) w.send({ close: true });
    await sleep(1_000);
  }
}
