import { hostname } from 'node:os';
import { z } from 'zod';
import { describeIssues } from '@siteflow/contracts';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Settings every service reads from its environment. */
export const BaseServiceConfig = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  DATABASE_URL: z.string().url(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INSTANCE_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
  SEED_DEMO: booleanFlag.default(false),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  /** How long a stopping service waits for requests in flight. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
});
export type BaseServiceConfig = z.infer<typeof BaseServiceConfig>;

export { booleanFlag };

/**
 * Parses the environment with a zod schema; on failure prints every offending variable and exits,
 * so a misconfigured process never starts half-way.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    process.stderr.write(`invalid configuration: ${describeIssues(parsed.error)}\n`);
    process.exit(78); // EX_CONFIG
  }
  return parsed.data;
}
