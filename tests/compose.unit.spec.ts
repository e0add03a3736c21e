import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// docker-compose.yml runs the same stack from images (docs/operations.md, "docker compose"). No
// Docker engine or Compose binary is needed to check it: the file is validated against the Compose
// Specification's JSON schema (the copy the `dclint` package ships and validates with), and its
// variable interpolation is checked here, where `docker-compose config` used to do both.
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
/** What compose must refuse to run without: the JWT secret and every NATS password. */
const requiredVars = ['JWT_SECRET', ...natsUsers.map(passwordVar)];

// Draft 07, which the file names by an https URL Ajv does not know (it knows the http one): left out.
const composeSchema = JSON.parse(
  readFileSync(
    path.join(path.dirname(createRequire(import.meta.url).resolve('dclint/package.json')), 'schemas/compose.schema.json'),
    'utf8',
  ),
) as Record<string, unknown>;
delete composeSchema.$schema;
// The options dclint validates with: the spec's schema uses union types and keywords strict mode refuses.
const validateCompose = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(composeSchema);
const schemaErrors = (doc: unknown): string[] =>
  validateCompose(doc)
    ? []
    : (validateCompose.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);

/** Every string value of a parsed YAML document (keys too: compose interpolates only values, but a `$` in a key is a mistake). */
function strings(value: unknown, found: string[] = []): string[] {
  if (typeof value === 'string') found.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, found);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) strings(v, strings(k, found));
  return found;
}

/**
 * Compose's interpolation (Compose Specification, "Interpolation"): `$$` is a literal `$`; `$VAR`,
 * `${VAR}`, and `${VAR<op>text}` with op `:-` `-` (default), `:?` `?` (required, text is the
 * error), `:+` `+` (alternative). Returns what does not parse, and the required variables with their messages.
 */
function interpolations(texts: string[]): { malformed: string[]; required: Map<string, string> } {
  const malformed: string[] = [];
  const required = new Map<string, string>();
  for (const text of texts) {
    for (const m of text.matchAll(/\$(\$|\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)?/g)) {
      const token = m[0];
      if (token === '$$' || /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(token)) continue;
      const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}$/.exec(token);
      if (!braced) {
        malformed.push(`${token} in ${JSON.stringify(text)}`);
        continue;
      }
      const [, name, op, message] = braced;
      if (op === ':?' || op === '?') required.set(name!, message ?? '');
    }
  }
  return { malformed, required };
}

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

  it('is valid against the Compose Specification schema', () => {
    expect(schemaErrors(compose)).toEqual([]);
  });

  it('the schema check refuses what Compose would refuse (so the check above can fail)', () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.gateway!.port = ['4000:4000']; // misspelt key
    broken.services.nats!.depends_on = { postgres: { condition: 'when_ready' } }; // no such condition
    broken.services.postgres!.healthcheck = 'pg_isready'; // not a healthcheck object
    const errors = schemaErrors(broken);
    expect(errors.join('\n')).toMatch(/\/services\/gateway must NOT have additional properties/);
    expect(errors.join('\n')).toMatch(/\/services\/nats\/depends_on/);
    expect(errors.join('\n')).toMatch(/\/services\/postgres\/healthcheck must be object/);
  });

  it('interpolates only well-formed variables, and refuses to run without JWT_SECRET or a NATS password', () => {
    const { malformed, required } = interpolations(strings(compose));
    expect(malformed).toEqual([]);
    for (const name of requiredVars) {
      // `${NAME:?message}`: compose stops with the message when NAME is unset or empty.
      expect(required.get(name), name).toMatch(new RegExp(`^${name} must be set`));
    }
    // The checker itself tells a broken expression from a good one.
    expect(interpolations(['${OK:-a}', '$$literal', '${BROKEN', '${1BAD}', '${X:%y}']).malformed).toHaveLength(3);
  });

  it('depends only on services it defines, and mounts only volumes it declares', () => {
    const volumes = Object.keys((compose as unknown as { volumes?: Record<string, unknown> }).volumes ?? {});
    for (const [name, s] of Object.entries(services)) {
      const dependsOn = (s as { depends_on?: Record<string, unknown> | string[] }).depends_on ?? [];
      for (const dependency of Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn))
        expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency);
      for (const mount of s.volumes ?? []) {
        const source = mount.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(volumes, `${name} mounts ${source}`).toContain(source);
      }
    }
  });
});
