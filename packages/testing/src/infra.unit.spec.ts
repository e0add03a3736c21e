import { describe, expect, it } from 'vitest';
import { provisionInfra } from './infra.js';

describe('provisionInfra', () => {
  it('uses NATS_URL and DATABASE_URL as they are when both are set, starting nothing', async () => {
    const infra = await provisionInfra({ env: { NATS_URL: 'nats://n:4222', DATABASE_URL: 'postgres://u@d:5432/x' } });
    expect(infra).toMatchObject({
      natsUrl: 'nats://n:4222',
      databaseUrl: 'postgres://u@d:5432/x',
      sources: { nats: 'env', database: 'env' },
    });
    await infra.stop();
  });
});
