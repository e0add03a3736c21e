import type { Pool } from 'pg';
import { Counter, Gauge, type Registry } from '@siteflow/servicekit';

export interface LockMetrics {
  expiries: Counter;
  forceUnlocks: Counter;
}

const defined = new WeakMap<Registry, LockMetrics>();

/**
 * The documents service's lock families, defined once per registry (the sweep and the controller
 * both count into them). Locks held are read from the read model on each scrape.
 */
export function lockMetrics(registry: Registry, pool: Pool): LockMetrics {
  const known = defined.get(registry);
  if (known) return known;
  const registers = [registry];
  new Gauge({
    name: 'siteflow_documents_locks_held',
    help: 'Documents with an edit lock held (all instances: read from the read model)',
    registers,
    async collect() {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM documents.documents WHERE lock_user_id IS NOT NULL');
      this.set(rows[0]?.n ?? 0);
    },
  });
  const metrics: LockMetrics = {
    expiries: new Counter({
      name: 'siteflow_documents_lock_expiries_total',
      help: 'Edit locks released because they lapsed (lease or idle cap)',
      registers,
    }),
    forceUnlocks: new Counter({ name: 'siteflow_documents_force_unlocks_total', help: 'Edit locks force-released by an admin', registers }),
  };
  defined.set(registry, metrics);
  return metrics;
}
