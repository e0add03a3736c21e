import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// docker-compose.yml runs the same stack from images (DESIGN, "Running it"). There is no Docker
// engine here, so the check is structural plus Debian's docker-compose 1.29 validating the file.
const root = fileURLToPath(new URL('..', import.meta.url));
const composeFile = path.join(root, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  command?: string[] | string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: unknown;
  volumes?: string[];
}
const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as { version: string; services: Record<string, ComposeService> };
const services = compose.services;
const processes = ['chat', 'documents', 'presence', 'checklist', 'gateway'] as const;
/** The NATS users of infra/nats/auth.conf: one per process, and admin for operators. */
const natsUsers = ['admin', ...processes] as const;
const passwordVar = (user: string) => `NATS_${user.toUpperCase()}_PASSWORD`;
/** What `docker-compose config` needs set: the JWT secret and every NATS password. */
const requiredEnv: Record<string, string> = {
  JWT_SECRET: 'compose-check-only-not-a-real-secret-0123456789',
  ...Object.fromEntries(natsUsers.map((u) => [passwordVar(u), `compose${u}check0123`])),
};

describe('docker-compose.yml', () => {
  it('has the seven services', () => {
    expect(Object.keys(services).sort()).toEqual(['chat', 'checklist', 'documents', 'gateway', 'nats', 'postgres', 'presence']);
  });

  it('runs nats-server 2.11 or newer with JetStream and the repository config', () => {
    const nats = services.nats!;
    const version = /^nats:(\d+)\.(\d+)/.exec(nats.image ?? '');
    expect(version, `nats image ${nats.image}`).not.toBeNull();
    const [major, minor] = [Number(version![1]), Number(version![2])];
    expect(major > 2 || (major === 2 && minor >= 11), `nats image ${nats.image} is older than 2.11`).toBe(true);
    const command = Array.isArray(nats.command) ? nats.command : String(nats.command).split(/\s+/);
    expect(command).toContain('-js');
    expect(command.join(' ')).toContain('-c /etc/nats/nats.conf');
    expect(nats.volumes).toContain('./infra/nats/nats.conf:/etc/nats/nats.conf:ro');
    expect(readFileSync(path.join(root, 'infra/nats/nats.conf'), 'utf8')).toMatch(/^jetstream\s*\{/m);
  });

  it('gives NATS the users of infra/nats/auth.conf, each password required from the environment', () => {
    const nats = services.nats!;
    expect(readFileSync(path.join(root, 'infra/nats/nats.conf'), 'utf8')).toMatch(/^include \.\/auth\.conf$/m);
    expect(nats.volumes).toContain('./infra/nats/auth.conf:/etc/nats/auth.conf:ro');
    const auth = readFileSync(path.join(root, 'infra/nats/auth.conf'), 'utf8');
    for (const user of natsUsers) {
      expect(auth, user).toMatch(new RegExp(`user: ${user}\\b[\\s\\S]*?password: \\$${passwordVar(user)}\\b`));
      expect(nats.environment?.[passwordVar(user)], user).toMatch(new RegExp(`^\\$\\{${passwordVar(user)}:\\?`));
    }
  });

  it('runs PostgreSQL 17 with a health check', () => {
    expect(services.postgres!.image).toBe('postgres:17');
    expect(services.postgres!.healthcheck).toBeDefined();
  });

  it('builds every process from the one Dockerfile, selected by SERVICE', () => {
    for (const name of processes) {
      const s = services[name]!;
      expect(s.build, name).toMatchObject({ context: '.', dockerfile: 'infra/docker/Dockerfile', args: { SERVICE: name } });
      // Least privilege on NATS too: each process as its own user (infra/nats/auth.conf).
      expect(s.environment?.NATS_URL, name).toMatch(new RegExp(`^nats://${name}:\\$\\{${passwordVar(name)}:\\?[^}]*\\}@nats:4222$`));
      // Least privilege: each service as its own role (infra/postgres/roles.sql); the gateway has no database.
      if (name === 'gateway') expect(s.environment?.DATABASE_URL, name).toBeUndefined();
      else expect(s.environment?.DATABASE_URL, name).toMatch(new RegExp(`^postgres://siteflow_${name}:.*@postgres:5432/siteflow$`));
    }
    expect(services.postgres!.volumes).toContain('./infra/postgres/init:/docker-entrypoint-initdb.d:ro');
    const dockerfile = readFileSync(path.join(root, 'infra/docker/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('services/${SERVICE}/dist/main.js');
  });

  it('publishes the gateway on port 4000, with dev login off and a required JWT secret', () => {
    const gateway = services.gateway!;
    expect(gateway.ports).toContain('4000:4000');
    expect(gateway.environment).toMatchObject({ PORT: '4000', DEV_LOGIN: '${DEV_LOGIN:-false}' });
    expect(gateway.environment?.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?/);
  });

  // Four runs of docker-compose (Python), most of a second each, more on a busy machine.
  it('passes `docker-compose config -q` (and refuses to run without JWT_SECRET or a NATS password)', () => {
    const without = (name?: string) => {
      const env: Record<string, string | undefined> = { ...process.env, ...requiredEnv };
      if (name) delete env[name];
      return spawnSync('docker-compose', ['-f', composeFile, 'config', '-q'], { cwd: root, encoding: 'utf8', env });
    };
    const valid = without();
    if (valid.error && (valid.error as NodeJS.ErrnoException).code === 'ENOENT') {
      expect.fail('docker-compose is not on PATH: install it with `apt-get install --no-install-recommends docker-compose` (Debian, v1.29; no Docker engine needed)');
    }
    expect(valid.status, valid.stderr).toBe(0);

    for (const name of ['JWT_SECRET', passwordVar('admin'), passwordVar('gateway')]) {
      const missing = without(name);
      expect(missing.status, name).not.toBe(0);
      expect(missing.stderr, name).toContain(`${name} must be set`);
    }
  }, 30_000);
});
