import { z } from 'zod';
import { describeIssues } from '@siteflow/contracts';

/** `true`/`false`, `1`/`0`, `yes`/`no`, as environment variables are written. */
export const booleanFlag = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** The startup line of a process refused for its configuration; each problem names its variable. */
export type ConfigResult<T> = { ok: true; config: T } | { ok: false; message: string };

/** Parses the environment with a zod schema (every service's and the gateway's). */
export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): ConfigResult<z.output<S>> {
  const parsed = schema.safeParse(env);
  return parsed.success
    ? { ok: true, config: parsed.data }
    : { ok: false, message: `invalid configuration: ${describeIssues(parsed.error)}` };
}

/** Exits with EX_CONFIG (78) after saying why on stderr: a misconfigured process never starts half-way. */
export function refuseConfiguration(message: string): never {
  process.stderr.write(`${message.startsWith('invalid configuration: ') ? message : `invalid configuration: ${message}`}\n`);
  return process.exit(78);
}

/**
 * The one config loader: the environment parsed with a zod schema; on failure prints every
 * offending variable (`invalid configuration: PORT: …; DATABASE_URL: …`) and exits 78.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = parseConfig(schema, env);
  if (!result.ok) refuseConfiguration(result.message);
  return result.config;
}
