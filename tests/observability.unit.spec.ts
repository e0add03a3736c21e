import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EventStore } from '@siteflow/eventstore';
import { DeadLetterCounter, Histogram, ServiceMetrics, type Registry } from '@siteflow/servicekit';
import { lockMetrics } from '../services/documents/src/locks/locks.metrics.js';
import { GatewayMetrics } from '../services/gateway/src/metrics.js';
import { emptyRoomStats } from '../services/gateway/src/rooms/rooms.js';
import { definePresenceMetrics } from '../services/presence/src/room/presence.metrics.js';

// infra/prometheus and infra/grafana name metrics in PromQL: each name must be one the processes
// export. The names come from the registries the code builds (nothing is scraped, no process runs).
const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Every series name a registry exposes: histograms as their _bucket, _sum and _count. */
function seriesNames(registry: Registry): string[] {
  return registry.getMetricsAsArray().flatMap((m) => {
    const { name } = m as unknown as { name: string };
    return m instanceof Histogram ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  });
}

function exportedNames(): Set<string> {
  const gateway = new GatewayMetrics();
  gateway.watch({
    sockets: () => [],
    rooms: () => emptyRoomStats(),
  });
  const service = new ServiceMetrics('documents');
  const pool = { totalCount: 0, idleCount: 0, waitingCount: 0 } as unknown as Pool;
  service.watch({
    pool,
    store: {} as EventStore,
    nats: {} as never,
    relay: { isLeader: false },
    deadLetters: new DeadLetterCounter(),
    consumers: new Map(),
    logger: {} as unknown as Logger,
  });
  definePresenceMetrics(service.registry, { trackedConnections: () => 0, liveGateways: () => 0 });
  lockMetrics(service.registry, pool);
  return new Set([...seriesNames(gateway.registry), ...seriesNames(service.registry)]);
}

/** Metric names a PromQL expression uses: ours and the process defaults. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(?:siteflow|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

interface Rule {
  alert: string;
  expr: string;
}
const alerts = (parse(read('infra/prometheus/alerts.yml')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(read('infra/grafana/siteflow.dashboard.json')) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};
const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

describe('dashboards and alerts name only exported metrics', () => {
  const exported = exportedNames();

  it('the registries hold the families the issue asks for, named siteflow_<what>_<unit>', () => {
    for (const name of [
      'siteflow_gateway_open_sockets',
      'siteflow_gateway_joined_topics',
      'siteflow_gateway_join_duration_seconds_count',
      'siteflow_gateway_pushes_total',
      'siteflow_gateway_push_duration_seconds_bucket',
      'siteflow_gateway_deliveries_total',
      'siteflow_gateway_frames_sent_total',
      'siteflow_gateway_buffered_bytes',
      'siteflow_gateway_slow_consumers_closed_total',
      'siteflow_gateway_rate_limited_frames_total',
      'siteflow_gateway_nats_request_duration_seconds_bucket',
      'siteflow_gateway_rooms',
      'siteflow_gateway_room_members',
      'siteflow_command_duration_seconds_bucket',
      'siteflow_eventstore_append_duration_seconds_bucket',
      'siteflow_postgres_pool_connections',
      'siteflow_postgres_pool_waiting_requests',
      'siteflow_outbox_lag_seconds',
      'siteflow_outbox_unpublished_events',
      'siteflow_outbox_relay_leader',
      'siteflow_consumer_pending_messages',
      'siteflow_consumer_redelivered_messages',
      'siteflow_dead_letters_total',
      'siteflow_presence_tracked_connections',
      'siteflow_presence_live_gateways',
      'siteflow_presence_evictions_total',
      'siteflow_presence_sweep_duration_seconds_bucket',
      'siteflow_documents_locks_held',
      'siteflow_documents_lock_expiries_total',
      'siteflow_documents_force_unlocks_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(exported.has(name), name).toBe(true);
    }
    for (const name of exported)
      if (name.startsWith('siteflow_'))
        expect(name, 'a unit or a count in the name').toMatch(
          /_(seconds|bytes|total|messages|events|connections|requests|round_trips|sockets|topics|rooms|members|gateways|leader|held)(_bucket|_sum|_count)?$/,
        );
  });

  it('every metric an alert rule names is exported', () => {
    expect(alerts.map((r) => r.alert).sort()).toEqual(
      [
        'SiteflowCommandErrorRate',
        'SiteflowConsumerBehind',
        'SiteflowDeadLetters',
        'SiteflowOutboxLag',
        'SiteflowPushErrorRate',
        'SiteflowPushLatencyP99',
        'SiteflowRelayWithoutLeader',
      ].sort(),
    );
    for (const rule of alerts) {
      expect(metricsIn(rule.expr).length, rule.alert).toBeGreaterThan(0);
      for (const name of metricsIn(rule.expr)) expect(exported.has(name), `${rule.alert}: ${name}`).toBe(true);
    }
  });

  it('every metric the Grafana dashboard names is exported, and it shows what operators asked for', () => {
    for (const expr of dashboardExprs) {
      expect(metricsIn(expr).length, expr).toBeGreaterThan(0);
      for (const name of metricsIn(expr)) expect(exported.has(name), `${expr}: ${name}`).toBe(true);
    }
    const all = dashboardExprs.join('\n');
    expect(all).toContain('siteflow_gateway_open_sockets');
    expect(all).toMatch(/histogram_quantile\(0\.5, sum by \(le\) \(rate\(siteflow_gateway_push_duration_seconds_bucket/);
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \(le\) \(rate\(siteflow_gateway_push_duration_seconds_bucket/);
    expect(all).toMatch(/sum by \(outcome\) \(rate\(siteflow_gateway_pushes_total\{outcome!="ok"\}/);
    for (const name of ['siteflow_outbox_lag_seconds', 'siteflow_consumer_pending_messages', 'siteflow_presence_evictions_total'])
      expect(all).toContain(name);
  });

  it('the check can fail: a misspelt name in an expression is not exported', () => {
    expect(metricsIn('rate(siteflow_gateway_pushes_totl[5m])').every((n) => exported.has(n))).toBe(false);
  });

  it('Prometheus loads the rules and scrapes every process where it serves metrics', () => {
    const config = parse(read('infra/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{
        job_name: string;
        static_configs?: Array<{ targets: string[] }>;
        dns_sd_configs?: Array<{ names: string[]; port: number }>;
      }>;
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
    const compose = parse(read('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    const services = config.scrape_configs.find((c) => c.job_name === 'services')!.dns_sd_configs![0]!;
    expect(services.names.sort()).toEqual(['chat', 'checklist', 'documents', 'presence']);
    for (const name of services.names) expect(compose.services[name]!.environment!.METRICS_PORT, name).toBe(String(services.port));
    const gatewayPort = compose.services.gateway!.environment!.PORT;
    expect(config.scrape_configs.find((c) => c.job_name === 'gateway')!.static_configs![0]!.targets).toEqual([`gateway:${gatewayPort}`]);
  });
});
