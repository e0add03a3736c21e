import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export interface ConnectionStep {
  connections: number;
  failed: number;
  gatewayRssMiB: number;
  /** (RSS now − RSS with no sockets) / connections. */
  rssPerConnectionKiB: number;
  joinsPerSecond: number;
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Opens idle joined sockets in steps, across worker processes, and reads the gateway's RSS. */
export async function runConnections(opts: { socketUrl: string; tokens: string[]; gatewayPid: number; steps: number[]; perWorker: number }): Promise<ConnectionStep[]> {
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
      while (total < target) {
        let w = workers.find((x) => (held.get(x) ?? 0) < opts.perWorker);
        if (!w) {
          w = fork(worker, { env: { ...process.env, SOCKET_URL: opts.socketUrl, TOKENS: JSON.stringify(opts.tokens) }, stdio: 'inherit' });
          await once(w, (m) => m.ready === true);
          workers.push(w);
        }
        const n = Math.min(target - total, opts.perWorker - (held.get(w) ?? 0));
        w.send({ open: n });
        const r = await once(w, (m) => typeof m.opened === 'number');
        failed += r.failed;
        held.set(w, r.opened);
        total += n;
      }
      const seconds = (performance.now() - started) / 1000;
      await sleep(2_000); // let the gateway settle
      const rss = rssMiB(opts.gatewayPid);
      const connections = [...held.values()].reduce((a, b) => a + b, 0);
      results.push({
        connections,
        failed,
        gatewayRssMiB: rss,
        rssPerConnectionKiB: connections > 0 ? ((rss - base) * 1024) / connections : 0,
        joinsPerSecond: (target - (results.at(-1)?.connections ?? 0)) / seconds,
      });
      process.stdout.write(`  ${connections} sockets: gateway RSS ${rss.toFixed(0)} MiB\n`);
      if (failed > 0) break;
    }
    return results;
  } finally {
    for (const w of workers) w.send({ close: true });
    await sleep(1_000);
  }
}

function once(w: ChildProcess, match: (m: any) => boolean): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: any) => {
      if (match(m)) {
        w.off('message', onMessage);
        resolve(m);
      }
    };
    w.on('message', onMessage);
    w.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });
}
