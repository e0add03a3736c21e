import { describe, expect, it } from 'vitest';
import { BaseServiceConfig, parseConfig } from './config.js';

describe("a service's configuration", () => {
  it('is read with the loader the gateway uses: a bad value names its variable', () => {
    const result = parseConfig(BaseServiceConfig, { DATABASE_URL: 'postgres://db/collab', DB_POOL_SIZE: 'lots', SEED_DEMO: 'maybe' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toMatch(/^invalid configuration: /);
    expect(result.message).toMatch(/\bDB_POOL_SIZE: /);
    expect(result.message).toMatch(/\bSEED_DEMO: /);
    const missing = parseConfig(BaseServiceConfig, {});
    expect(missing.ok ? 'parsed' : missing.message).toMatch(/^invalid configuration: DATABASE_URL: /);
  });

  it('defaults and flags as before', () => {
    expect(parseConfig(BaseServiceConfig, { DATABASE_URL: 'postgres://db/collab', SEED_DEMO: '1' })).toMatchObject({
      ok: true,
      config: { SEED_DEMO: true, DB_POOL_SIZE: 10, NATS_URL: 'nats://127.0.0.1:4222' },
    });
  });
});
