#!/usr/bin/env node
// Operators' CLI over the projects API (`npm run admin -- <command> …`): the same calls Siteflow's
// backend makes, so what works here works there. `npm run admin -- help` lists the commands.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The key `npm start` signs session tokens with (packages/devstack writes it on first start, in DATA_DIR). */
const DEV_SECRET_FILE = path.join(path.resolve(ROOT, process.env.DATA_DIR || '.data'), 'jwt-secret');

const USAGE = `usage: npm run admin -- <command> [options]

  list                                          every project (id, name, status, members)
  create --name NAME [--id N] --member ID:USERNAME:ROLE [--member …]
                                                a project with its members (role: admin | customer)
  add-member PROJECT USER_ID USERNAME ROLE      add a member, or change their role
  remove-member PROJECT USER_ID                 remove a member (closed out of the room, locks released)
  update PROJECT [--name NAME] [--status STATUS]
  mine                                          the projects of the token's user (GET /api/projects)
  token --sub ID --username NAME [--role ROLE] [--scope SCOPE] [--ttl SECONDS]
                                                a development token, signed with the dev key only

options: --url URL (default $SITEFLOW_URL or http://localhost:4000)
         --token TOKEN (default $SITEFLOW_ADMIN_TOKEN; without one, a development admin token
                        is minted with the dev key when there is one)

The dev key is $JWT_SECRET or ${path.relative(process.cwd(), DEV_SECRET_FILE) || DEV_SECRET_FILE} (written by npm start).
A gateway configured with Siteflow's keys (RS256/EdDSA, JWKS) does not accept these tokens: use a
token from Siteflow's issuer with the scope projects:admin.`;

class CliError extends Error {}

function devSecret() {
  const fromEnv = process.env.JWT_SECRET?.trim();
  if (fromEnv) return fromEnv;
  if (existsSync(DEV_SECRET_FILE)) return readFileSync(DEV_SECRET_FILE, 'utf8').trim();
  return null;
}

async function mintToken({ sub, username, role = 'customer', scope, ttl = 3600 }) {
  const secret = devSecret();
  if (!secret) throw new CliError(`no dev key: set JWT_SECRET or run npm start once (it writes ${DEV_SECRET_FILE})`);
  if (!/^[1-9][0-9]{0,15}$/.test(String(sub))) throw new CliError('--sub must be a positive integer (the Siteflow user id)');
  if (!username) throw new CliError('--username is required');
  if (role !== 'admin' && role !== 'customer') throw new CliError('--role must be admin or customer');
  const seconds = Number(ttl);
  if (!Number.isInteger(seconds) || seconds < 1) throw new CliError('--ttl must be a positive number of seconds');
  return new SignJWT({ username, role, ...(scope ? { scope } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(sub))
    .setIssuer(process.env.JWT_ISSUER ?? 'siteflow')
    .setAudience(process.env.JWT_AUDIENCE ?? 'siteflow-collab')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(secret));
}

async function bearer(values) {
  const given = values.token ?? process.env.SITEFLOW_ADMIN_TOKEN;
  if (given) return given;
  if (!devSecret()) throw new CliError('give --token (or SITEFLOW_ADMIN_TOKEN): a token with the scope projects:admin');
  return mintToken({ sub: '999999999', username: 'admin-cli', role: 'admin', scope: 'projects:admin', ttl: 300 });
}

async function call(values, method, route, body) {
  const base = (values.url ?? process.env.SITEFLOW_URL ?? 'http://localhost:4000').replace(/\/$/, '');
  let res;
  try {
    res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${await bearer(values)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach ${base}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.text();
  const parsed = text === '' ? null : JSON.parse(text);
  if (!res.ok) throw new CliError(`${method} ${route} → ${res.status} ${parsed?.code ?? ''}: ${parsed?.message ?? text}`);
  return parsed;
}

function positional(args, count, names) {
  if (args.length !== count) throw new CliError(`expected ${names}`);
  return args;
}

function member(spec) {
  const [id, username, role] = spec.split(':');
  if (!id || !username || !role) throw new CliError(`--member ${spec}: expected ID:USERNAME:ROLE`);
  return { user_id: Number(id), username, role };
}

function printProjects(projects) {
  if (projects.length === 0) return console.log('(no projects)');
  for (const p of projects)
    console.log([String(p.id).padStart(6), p.status.padEnd(11), p.role ?? `${p.members} members`, p.name].join('  '));
}

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      id: { type: 'string' },
      status: { type: 'string' },
      member: { type: 'string', multiple: true },
      sub: { type: 'string' },
      username: { type: 'string' },
      role: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  const out = (value, human) => (values.json || !human ? console.log(JSON.stringify(value, null, 2)) : human(value));
  switch (command) {
    case 'list':
      return out(await call(values, 'GET', '/api/admin/projects'), (r) => printProjects(r.projects));
    case 'mine':
      return out(await call(values, 'GET', '/api/projects'), (r) => printProjects(r.projects));
    case 'create': {
      if (!values.name) throw new CliError('--name is required');
      if (!values.member?.length) throw new CliError('at least one --member ID:USERNAME:ROLE is required');
      const body = { name: values.name, members: values.member.map(member), ...(values.id ? { id: Number(values.id) } : {}) };
      return out(await call(values, 'POST', '/api/admin/projects', body), (p) =>
        console.log(`created project ${p.id} "${p.name}" with ${p.members.length} members`),
      );
    }
    case 'add-member': {
      const [project, userId, username, role] = positional(args, 4, 'PROJECT USER_ID USERNAME ROLE');
      return out(await call(values, 'PUT', `/api/admin/projects/${project}/members/${userId}`, { username, role }), (m) =>
        console.log(`${m.username} (${m.user_id}) is ${m.role} of project ${m.project_id}${m.changed ? '' : ' (unchanged)'}`),
      );
    }
    case 'remove-member': {
      const [project, userId] = positional(args, 2, 'PROJECT USER_ID');
      await call(values, 'DELETE', `/api/admin/projects/${project}/members/${userId}`);
      return console.log(`user ${userId} removed from project ${project}`);
    }
    case 'update': {
      const [project] = positional(args, 1, 'PROJECT');
      const body = { ...(values.name ? { name: values.name } : {}), ...(values.status ? { status: values.status } : {}) };
      return out(await call(values, 'PATCH', `/api/admin/projects/${project}`, body), (p) =>
        console.log(`project ${p.id}: "${p.name}", ${p.status}`),
      );
    }
    case 'token':
      return console.log(
        await mintToken({ sub: values.sub, username: values.username, role: values.role, scope: values.scope, ttl: values.ttl ?? 3600 }),
      );
    case undefined:
    case 'help':
      return console.log(USAGE);
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof CliError || err?.code?.startsWith?.('ERR_PARSE_ARGS') ? `admin: ${err.message}` : err);
  process.exitCode = 1;
});
