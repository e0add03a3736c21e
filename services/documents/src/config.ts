import { z } from 'zod';
import { BaseServiceConfig, type ServiceKit } from '@siteflow/servicekit';
import type { LockPolicy } from './documents/document.js';

export const DocumentsConfig = BaseServiceConfig.extend({
  /** A lock not renewed (heartbeat, save) within this lapses. */
  LOCK_LEASE_MS: z.coerce.number().int().min(100).default(120_000),
  /** A lock lapses this long after the holder's last save (or the acquire), renewed or not (docs/presence-and-locks.md, "Lifetime"). */
  LOCK_IDLE_CAP_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30 * 60_000),
  /** How often an instance looks for lapsed locks. */
  LOCK_SWEEP_MS: z.coerce.number().int().min(20).default(5_000),
});
export type DocumentsConfig = z.infer<typeof DocumentsConfig>;

export function lockPolicyOf(kit: ServiceKit): LockPolicy {
  const c = kit.config as DocumentsConfig;
  return { leaseMs: c.LOCK_LEASE_MS, idleCapMs: c.LOCK_IDLE_CAP_MS };
}
