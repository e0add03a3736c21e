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

  it('LOG_FORMAT is json, pretty or unset (then chosen by whether stdout is a terminal)', () => {
    const url = { DATABASE_URL: 'postgres://db/collab' };
    expect(parseConfig(BaseServiceConfig, { ...url, LOG_FORMAT: 'pretty' })).toMatchObject({ ok: true, config: { LOG_FORMAT: 'pretty' } });
    const unset = parseConfig(BaseServiceConfig, url);
    expect(unset.ok && unset.config.LOG_FORMAT).toBeUndefined();
    const bad = parseConfig(BaseServiceConfig, { ...url, LOG_FORMAT: 'xml' });
    expect(bad.ok ? 'parsed' : bad.message).toMatch(/^invalid configuration: LOG_FORMAT: /);
  });

  it('defaults and flags as before', () => {
    expect(parseConfig(BaseServiceConfig, { DATABASE_URL: 'postgres://db/collab', SEED_DEMO: '1' })).toMatchObject({
      ok: true,
      config: { SEED_DEMO: true, DB_POOL_SIZE: 10, NATS_URL: 'nats://127.0.0.1:4222' },
    });
  });
});
