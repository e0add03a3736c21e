import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { natsOptionsFromUrl, settleAnsweredRequestsQuietly } from '@siteflow/messaging';
import { provisionInfra } from '@siteflow/testing';

/**
 * What one NATS request costs its caller, with nats.js's own settling of an answered request and
 * with ours (`settleAnsweredRequestsQuietly`, packages/messaging): a responder process and, by
 * turns, a caller process of each kind, each sending requests one at a time through the same
 * nats-server; per round, the caller's CPU (user + system) and wall time a request.
 *
 * `node bench/dist/nats-requests.js [requests per round, 20000] [rounds, 3]`
 */
const self = fileURLToPath(import.meta.url);
const [role = 'main', arg1, arg2] = process.argv.slice(2);
const SUBJECT = 'bench.requests.echo';

if (role === 'responder') {
  const nc = await connect(natsOptionsFromUrl(arg1 ?? ''));
  nc.subscribe(SUBJECT, { callback: (_err, msg) => void msg.respond(msg.data) });
  await nc.flush();
  process.send?.('ready');
} else if (role === 'library' || role === 'quiet') {
  if (role === 'quiet' && !settleAnsweredRequestsQuietly())
    throw new Error('settleAnsweredRequestsQuietly is not in place on this nats-core');
  const n = Number(arg2);
  const nc = await connect({ ...natsOptionsFromUrl(arg1 ?? ''), noAsyncTraces: true });
  const payload = new TextEncoder().encode('x'.repeat(200));
  for (let i = 0; i < 2_000; i++) await nc.request(SUBJECT, payload, { timeout: 5_000 }); // warm up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await nc.request(SUBJECT, payload, { timeout: 5_000 });
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  await nc.close();
  process.send?.({ cpuUs: (cpu.user + cpu.system) / n, wallUs: (wallMs * 1_000) / n });
} else {
  const requests = Number(role === 'main' ? (arg1 ?? 20_000) : role);
  const rounds = Number(role === 'main' ? (arg2 ?? 3) : (arg1 ?? 3));
  const infra = await provisionInfra({ log: (line) => process.stdout.write(`${line}\n`) });
  const responder = fork(self, ['responder', infra.natsUrl]);
  await new Promise((resolve) => responder.once('message', resolve));
  const rows: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate which goes first, so a drift of the machine's speed falls on both.
    for (const kind of round % 2 === 1 ? ['library', 'quiet'] : ['quiet', 'library']) {
      const caller = fork(self, [kind, infra.natsUrl, String(requests)]);
      const result = await new Promise<{ cpuUs: number; wallUs: number }>((resolve, reject) => {
        caller.once('message', (m) => resolve(m as { cpuUs: number; wallUs: number }));
        caller.once('exit', (code) => reject(new Error(`${kind} caller exited ${String(code)}`)));
      });
      caller.kill();
      rows.push(`| ${round} | ${kind} | ${result.cpuUs.toFixed(1)} | ${result.wallUs.toFixed(1)} |`);
    }
  }
  responder.kill();
  await infra.stop();
  process.stdout.write(
    [
      '',
      `NATS requests, one at a time, ${requests} a round, 200-byte payload (caller: nats.js's settling = library, ours = quiet)`,
      '',
      '| round | caller | CPU µs a request | wall µs a request |',
      '|---|---|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
}
