import { describe, expect, it } from 'vitest';
import { parseExposition } from '@siteflow/testing';
import { transactionsBetween, transactionsTable, transactionTotals } from './transactions.js';

/** A service's /metrics with these running sums (other families and labels as prom-client writes them). */
const exposition = (n: {
  commands: number;
  commandS: number;
  tx: number;
  txS: number;
  pgS: number;
  waitS: number;
  trips: number;
  snaps: number;
}) =>
  [
    '# HELP siteflow_command_duration_seconds x',
    `siteflow_command_duration_seconds_bucket{le="0.001",command="chat.message.post",outcome="ok",service="chat"} 1`,
    `siteflow_command_duration_seconds_sum{command="chat.message.post",outcome="ok",service="chat"} ${n.commandS}`,
    `siteflow_command_duration_seconds_count{command="chat.message.post",outcome="ok",service="chat"} ${n.commands}`,
    `siteflow_command_duration_seconds_count{command="chat.snapshot",outcome="ok",service="chat"} 0`,
    `siteflow_eventstore_transaction_duration_seconds_sum{kind="command",outcome="committed",service="chat"} ${n.txS}`,
    `siteflow_eventstore_transaction_duration_seconds_count{kind="command",outcome="committed",service="chat"} ${n.tx}`,
    `siteflow_eventstore_transaction_duration_seconds_count{kind="command",outcome="rolled_back",service="chat"} 0`,
    `siteflow_eventstore_transaction_postgres_seconds_sum{kind="command",outcome="committed",service="chat"} ${n.pgS}`,
    `siteflow_eventstore_transaction_pool_wait_seconds_sum{kind="command",outcome="committed",service="chat"} ${n.waitS}`,
    `siteflow_eventstore_transaction_round_trips_sum{kind="command",outcome="committed",service="chat"} ${n.trips}`,
    `siteflow_eventstore_transaction_duration_seconds_count{kind="snapshot",outcome="committed",service="chat"} ${n.snaps}`,
    `siteflow_eventstore_transaction_duration_seconds_sum{kind="snapshot",outcome="committed",service="chat"} ${n.snaps * 0.002}`,
  ].join('\n');

describe("a measurement's transactions", () => {
  it('are the means of what happened between two scrapes, by part', () => {
    const before = {
      chat: transactionTotals(
        parseExposition(exposition({ commands: 10, commandS: 0.05, tx: 10, txS: 0.04, pgS: 0.02, waitS: 0.001, trips: 25, snaps: 1 })),
      ),
    };
    const after = {
      chat: transactionTotals(
        parseExposition(exposition({ commands: 110, commandS: 0.35, tx: 110, txS: 0.29, pgS: 0.17, waitS: 0.006, trips: 225, snaps: 3 })),
      ),
    };
    const rows = transactionsBetween(before, after);
    expect(rows.chat).toEqual({
      commands: 100,
      commandMs: 3,
      transactions: 100,
      roundTrips: 2,
      transactionMs: 2.5,
      postgresMs: 1.5,
      poolWaitMs: 0.05,
      ownMs: 0.95,
      snapshots: 2,
      snapshotMs: 2,
      snapshotPostgresMs: 0,
    });
    expect(transactionsTable('room (gateway)', rows)[2]).toBe('| chat | 100 | 3 | 100 | 2 | 2.5 | 1.5 | 0.05 | 0.95 | 2 | 2 (0) |');
  });

  it('prints nothing for a target no service took part in, or a service that was not scraped both times', () => {
    const idle = {
      chat: transactionTotals(
        parseExposition(exposition({ commands: 5, commandS: 0.01, tx: 5, txS: 0.01, pgS: 0, waitS: 0, trips: 10, snaps: 0 })),
      ),
    };
    expect(transactionsTable('room (floor)', transactionsBetween(idle, idle))).toEqual([]);
    expect(transactionsBetween(idle, {})).toEqual({});
  });
});
