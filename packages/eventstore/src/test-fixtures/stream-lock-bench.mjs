// What the stream reservation (an advisory lock before the row lock, docs/consistency.md rule 3)
// costs a command: N commands on ONE stream, each a transaction doing what the command pipeline
// does in the database (lock the stream, append one event at that version), with each given build
// of @siteflow/eventstore. Builds are run in alternating rounds, so the load of a shared machine
// falls on each alike.
//
//   node packages/eventstore/src/test-fixtures/stream-lock-bench.mjs <postgres url> <label>=<eventstore dist/index.js> ...
//
// e.g. after=packages/eventstore/dist/index.js before=/tmp/before/packages/eventstore/dist/index.js
// Options (env): BENCH_ROUNDS (6), BENCH_PER_ROUND (300), BENCH_WRITERS (1 and 8).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const [url, ...variantArgs] = process.argv.slice(2);
if (!url || variantArgs.length === 0) {
  console.error('usage: stream-lock-bench.mjs <postgres url> <label>=<path to eventstore dist/index.js> ...');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const perRound = Number(process.env.BENCH_PER_ROUND ?? 300);
const writerCounts = (process.env.BENCH_WRITERS ?? '1,8').split(',').map(Number);

const pool = new pg.Pool({ connectionString: url, max: Math.max(...writerCounts) + 1 });
const variants = [];
for (const arg of variantArgs) {
  const [label, modulePath] = arg.split('=');
  const { createEventStore } = await import(pathToFileURL(path.resolve(modulePath)).href);
  const schema = `lock_bench_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`;
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const store = createEventStore({ pool, schema });
  await store.migrate();
  variants.push({ label, store, samples: new Map(writerCounts.map((w) => [w, { latencies: [], seconds: 0, commands: 0 }])) });
}

/** One command: lock the stream, append one event at its version (the pipeline's database work). */
async function command(store, streamId) {
  const started = performance.now();
  await store.transaction(async (tx) => {
    const version = await tx.lockStream(streamId);
    await tx.append(streamId, [{ type: 'Bumped', data: { after: version + 1 }, projectId: 1 }], {
      expectedVersion: version === 0 ? 'no_stream' : version,
    });
  });
  return performance.now() - started;
}

// The streams exist before the rounds (two first writers of a new stream race; the pipeline would retry).
for (const v of variants) for (const writers of writerCounts) await command(v.store, `hot-${writers}`);

for (let round = 0; round < rounds; round++) {
  for (const writers of writerCounts) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      const streamId = `hot-${writers}`;
      const sample = v.samples.get(writers);
      let left = perRound;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: writers }, async () => {
          while (left-- > 0) sample.latencies.push(await command(v.store, streamId));
        }),
      );
      sample.seconds += (performance.now() - started) / 1000;
      sample.commands += perRound;
    }
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
console.log(`${rounds} rounds × ${perRound} commands on one stream per build and writer count (alternating)`);
console.log('build     writers  commands  commands/s  p50 ms  p95 ms  p99 ms');
for (const writers of writerCounts) {
  for (const v of variants) {
    const s = v.samples.get(writers);
    const sorted = [...s.latencies].sort((a, b) => a - b);
    console.log(
      [
        v.label.padEnd(9),
        String(writers).padStart(7),
        String(s.commands).padStart(9),
        (s.commands / s.seconds).toFixed(0).padStart(11),
        pct(sorted, 50).toFixed(2).padStart(7),
        pct(sorted, 95).toFixed(2).padStart(7),
        pct(sorted, 99).toFixed(2).padStart(7),
      ].join(' '),
    );
  }
}
for (const v of variants) await pool.query(`DROP SCHEMA IF EXISTS ${v.store.schema} CASCADE`);
await pool.end();
