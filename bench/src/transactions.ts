import { parseExposition, valueOf, type MetricSample } from '@siteflow/testing';
import { round } from './stats.js';

/**
 * A service's commands and event-store transactions over a measurement, from its /metrics
 * (`siteflow_command_duration_seconds`, `siteflow_eventstore_transaction_*`): how long a command
 * took, and of a command's transaction how much was the pool's wait, how much a statement
 * outstanding on the connection (Postgres's work and the round trips' wake-ups), and what is left:
 * the service's own work between its round trips. Means per command or transaction.
 */
export interface ServiceTransactions {
  commands: number;
  commandMs: number;
  /** Transactions of commands (`store.transaction`), committed or rolled back. */
  transactions: number;
  roundTrips: number;
  transactionMs: number;
  postgresMs: number;
  poolWaitMs: number;
  /** transactionMs − postgresMs − poolWaitMs. */
  ownMs: number;
  /** Snapshot reads (`store.snapshot`: a join's). */
  snapshots: number;
  snapshotMs: number;
  snapshotPostgresMs: number;
}

/** The running sums a measurement takes the difference of. */
export type TransactionTotals = Record<string, number>;

const TX = 'siteflow_eventstore_transaction';

export function transactionTotals(samples: MetricSample[]): TransactionTotals {
  const out: TransactionTotals = {
    commands: valueOf(samples, 'siteflow_command_duration_seconds_count'),
    commandSeconds: valueOf(samples, 'siteflow_command_duration_seconds_sum'),
  };
  for (const kind of ['command', 'snapshot']) {
    out[`${kind}.count`] = valueOf(samples, `${TX}_duration_seconds_count`, { kind });
    out[`${kind}.seconds`] = valueOf(samples, `${TX}_duration_seconds_sum`, { kind });
    out[`${kind}.postgres`] = valueOf(samples, `${TX}_postgres_seconds_sum`, { kind });
    out[`${kind}.poolWait`] = valueOf(samples, `${TX}_pool_wait_seconds_sum`, { kind });
    out[`${kind}.roundTrips`] = valueOf(samples, `${TX}_round_trips_sum`, { kind });
  }
  return out;
}

/** Each service's running sums now (its /metrics); a service that does not answer is left out. */
export async function scrapeTransactionTotals(metricsUrls: Record<string, string>): Promise<Record<string, TransactionTotals>> {
  const entries = await Promise.all(
    Object.entries(metricsUrls).map(async ([service, url]) => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        if (res.status !== 200) throw new Error(`answered ${res.status}`);
        return [service, transactionTotals(parseExposition(await res.text()))] as const;
      } catch (err) {
        process.stderr.write(`${service} /metrics: ${String(err)}\n`);
        return null;
      }
    }),
  );
  return Object.fromEntries(entries.filter((e) => e !== null));
}

/** What each service did between two scrapes. */
export function transactionsBetween(
  before: Record<string, TransactionTotals>,
  after: Record<string, TransactionTotals>,
): Record<string, ServiceTransactions> {
  const out: Record<string, ServiceTransactions> = {};
  for (const [service, b] of Object.entries(before)) {
    const a = after[service];
    if (!a) continue;
    const d = (k: string) => (a[k] ?? 0) - (b[k] ?? 0);
    const per = (k: string, n: string, scale = 1000) => (d(n) > 0 ? round((d(k) * scale) / d(n), 3) : 0);
    const transactionMs = per('command.seconds', 'command.count');
    const postgresMs = per('command.postgres', 'command.count');
    const poolWaitMs = per('command.poolWait', 'command.count');
    out[service] = {
      commands: d('commands'),
      commandMs: per('commandSeconds', 'commands'),
      transactions: d('command.count'),
      roundTrips: per('command.roundTrips', 'command.count', 1),
      transactionMs,
      postgresMs,
      poolWaitMs,
      ownMs: round(transactionMs - postgresMs - poolWaitMs, 3),
      snapshots: d('snapshot.count'),
      snapshotMs: per('snapshot.seconds', 'snapshot.count'),
      snapshotPostgresMs: per('snapshot.postgres', 'snapshot.count'),
    };
  }
  return out;
}

/** The table printed under a measurement (nothing when no service was scraped). */
export function transactionsTable(title: string, rows: Record<string, ServiceTransactions> | undefined): string[] {
  const busy = Object.entries(rows ?? {}).filter(([, r]) => r.commands > 0 || r.transactions > 0 || r.snapshots > 0);
  if (busy.length === 0) return [];
  return [
    `| ${title}: service | commands | command ms | transactions | round trips | transaction ms | in Postgres ms | pool wait ms | own ms | snapshots | snapshot ms (in Postgres) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...busy.map(
      ([s, r]) =>
        `| ${s} | ${r.commands} | ${r.commandMs} | ${r.transactions} | ${r.roundTrips} | ${r.transactionMs} | ${r.postgresMs} | ${r.poolWaitMs} | ${r.ownMs} | ${r.snapshots} | ${r.snapshotMs} (${r.snapshotPostgresMs}) |`,
    ),
    '',
  ];
}
