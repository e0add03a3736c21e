import { Counter, Gauge, Histogram, type Registry } from '@siteflow/servicekit';

/** What presence's gauges read on each scrape: this instance's view of the bucket. */
export interface PresenceMetricSources {
  trackedConnections(): number;
  liveGateways(): number;
}

export interface PresenceMetrics {
  evictions: Counter;
  sweepSeconds: Histogram;
  diffsPublished: Counter;
  diffChanges: Counter;
}

/** Presence's own families, in the service's registry (kit.metrics.registry). */
export function definePresenceMetrics(registry: Registry, sources: PresenceMetricSources): PresenceMetrics {
  const registers = [registry];
  new Gauge({
    name: 'siteflow_presence_tracked_connections',
    help: "Connections in this instance's view of the presence bucket",
    registers,
    collect() {
      this.set(sources.trackedConnections());
    },
  });
  new Gauge({
    name: 'siteflow_presence_live_gateways',
    help: 'Gateways with a liveness key not declared dead, as this instance sees them',
    registers,
    collect() {
      this.set(sources.liveGateways());
    },
  });
  return {
    evictions: new Counter({
      name: 'siteflow_presence_evictions_total',
      help: 'Connections evicted because their gateway stopped refreshing (counted by the instance that won the eviction)',
      registers,
    }),
    diffsPublished: new Counter({
      name: 'siteflow_presence_diffs_published_total',
      help: 'presence_diff messages published (the changes of a project in one event-loop turn are merged into one)',
      registers,
    }),
    diffChanges: new Counter({
      name: 'siteflow_presence_diff_changes_total',
      help: 'Presence changes (joins, leaves, updates) published in presence_diff messages; over diffs published, the merge factor',
      registers,
    }),
    sweepSeconds: new Histogram({
      name: 'siteflow_presence_sweep_duration_seconds',
      help: 'Presence sweeps (finding stale gateways and evicting their connections)',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers,
    }),
  };
}
