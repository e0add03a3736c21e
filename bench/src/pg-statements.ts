import pg from 'pg';
import { round } from './stats.js';

/** Postgres settings that load `pg_stat_statements` (with planning time) into the bench's own cluster. */
export const PG_STATEMENTS_SETTINGS: Record<string, string> = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'all',
  'pg_stat_statements.track_planning': 'on',
  'pg_stat_statements.max': '5000',
};

/** One normalised statement's share of a scenario (`pg_stat_statements`, this database only). */
export interface StatementStat {
  /** The normalised text (constants as $n), shortened. */
  query: string;
  calls: number;
  /** Execution plus planning time in the backend, all calls. */
  totalMs: number;
  meanUs: number;
  rows: number;
}

export interface StatementsReport {
  /** Statements counted in the scenario, all of them (not only the top ones). */
  calls: number;
  totalMs: number;
  top: StatementStat[];
}

/**
 * Postgres statement statistics of the bench's database, per scenario: reset before it, read after
 * (`--pg-statements`). Time is what the backends spent in each statement (planning and execution),
 * the first thing to read before changing what a command sends to Postgres.
 */
export class StatementStats {
  private constructor(private readonly client: pg.Client) {}

  static async open(databaseUrl: string): Promise<StatementStats> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return new StatementStats(client);
  }

  async reset(): Promise<void> {
    await this.client.query('SELECT pg_stat_statements_reset()');
  }

  async read(topN = 20): Promise<StatementsReport> {
    const { rows } = await this.client.query<{ query: string; calls: string; total: number; rows: string }>(
      `SELECT query, calls, total_exec_time + total_plan_time AS total, rows
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT LIKE '%pg_stat_statements%'
        ORDER BY total DESC`,
    );
    const all = rows.map((r) => ({ query: r.query, calls: Number(r.calls), totalMs: r.total, rows: Number(r.rows) }));
    return {
      calls: all.reduce((n, r) => n + r.calls, 0),
      totalMs: round(all.reduce((n, r) => n + r.totalMs, 0)),
      top: all.slice(0, topN).map((r) => ({
        query: r.query.replace(/\s+/g, ' ').trim().slice(0, 160),
        calls: r.calls,
        totalMs: round(r.totalMs),
        meanUs: r.calls ? round((r.totalMs / r.calls) * 1000, 0) : 0,
        rows: r.rows,
      })),
    };
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** The table of a scenario's top statements, with each one's calls per `per` (e.g. per push). */
export function statementsTable(title: string, report: StatementsReport, per?: { count: number; unit: string }): string[] {
  const perHead = per ? ` | calls per ${per.unit}` : '';
  const lines = [
    `Postgres statements, ${title}: ${report.calls} calls, ${report.totalMs} ms in the backends${per ? ` (${round(report.calls / per.count, 1)} calls and ${round(report.totalMs / per.count, 3)} ms per ${per.unit})` : ''}`,
    '',
    `| statement | calls | total ms | mean µs | rows${perHead} |`,
    `|---|---:|---:|---:|---:${per ? '|---:' : ''}|`,
  ];
  for (const s of report.top) {
    const text = s.query.replace(/\|/g, '\\|');
    lines.push(`| \`${text}\` | ${s.calls} | ${s.totalMs} | ${s.meanUs} | ${s.rows}${per ? ` | ${round(s.calls / per.count, 2)}` : ''} |`);
  }
  return lines;
}
