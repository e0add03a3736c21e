import { PRESENCE_DEFAULTS } from '@siteflow/contracts';
import { BaseServiceConfig } from '@siteflow/servicekit';
import { z } from 'zod';

export const PresenceConfig = BaseServiceConfig.extend({
  /** A gateway whose liveness was not refreshed this long is gone, and so are its connections. */
  PRESENCE_TTL_MS: z.coerce.number().int().min(500).max(600_000).default(PRESENCE_DEFAULTS.ttlMs),
  /** How often each instance looks for gateways (and their connections) older than the TTL. */
  PRESENCE_SWEEP_MS: z.coerce.number().int().min(100).max(60_000).default(PRESENCE_DEFAULTS.sweepMs),
  /**
   * The bucket's max_age: what clears the delete markers of departed connections. Live connection
   * keys are rewritten (a few per refresh) once older than a third of it. At least 3 × the TTL.
   */
  PRESENCE_KEY_MAX_AGE_MS: z.coerce
    .number()
    .int()
    .min(3_000)
    .max(7 * 24 * 3600_000)
    .default(15 * 60_000),
  /** Bytes the bucket may hold (about 0.5 KiB a connection); when full its oldest keys go (see PresenceBucket.open). 0 = no bound. */
  PRESENCE_BUCKET_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(256 * 1024 * 1024),
}).refine((c) => c.PRESENCE_KEY_MAX_AGE_MS >= 3 * c.PRESENCE_TTL_MS, {
  error: 'PRESENCE_KEY_MAX_AGE_MS must be at least 3 × PRESENCE_TTL_MS',
  path: ['PRESENCE_KEY_MAX_AGE_MS'],
});
export type PresenceConfig = z.infer<typeof PresenceConfig>;
