import { PRESENCE_DEFAULTS } from '@siteflow/contracts';
import { BaseServiceConfig } from '@siteflow/servicekit';
import { z } from 'zod';

export const PresenceConfig = BaseServiceConfig.extend({
  /** A connection not refreshed this long is gone; also the bucket's max_age. */
  PRESENCE_TTL_MS: z.coerce.number().int().min(500).max(600_000).default(PRESENCE_DEFAULTS.ttlMs),
  /** How often each instance looks for entries older than the TTL. */
  PRESENCE_SWEEP_MS: z.coerce.number().int().min(100).max(60_000).default(PRESENCE_DEFAULTS.sweepMs),
});
export type PresenceConfig = z.infer<typeof PresenceConfig>;
