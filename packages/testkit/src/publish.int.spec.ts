import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The kit as a tester gets it: `npm pack` of the kit and of the @siteflow packages it depends on,
 * installed from those tarballs into a fresh project outside this checkout, then used from there.
 * Nothing of this repository's layout may be needed (no workspace links, no `services/*` paths).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The kit and what it needs at run time, as published (packages/testkit/README.md, "Packaging"). */
const PUBLISHED = ['contracts', 'telemetry', 'messaging', 'devstack', 'testkit'] as const;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** npm and node as a tester's shell runs them: none of the npm_* variables of an `npm test` around us. */
function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err?.message ?? '') });
    });
  });
}

const failure = (what: string, r: Run) => `${what} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`;

describe('the published kit, installed outside this checkout', () => {
  let work: string | undefined;
  let consumer: string;
  let tarballs: string[];

  beforeAll(async () => {
    for (const p of PUBLISHED) {
      // `npm test` builds before it tests; run alone, build first (`npm run build:ts`).
      if (!existsSync(path.join(ROOT, 'packages', p, 'dist', 'index.js')))
        throw new Error(`packages/${p}/dist/index.js does not exist: run npm run build:ts first`);
    }
    work = await mkdtemp(path.join(os.tmpdir(), 'siteflow-testkit-publish-'));
    const packs = path.join(work, 'packs');
    consumer = path.join(work, 'consumer');
    await mkdir(packs);
    await mkdir(consumer);

    // --ignore-scripts: the dist is already built (prepack would run tsc -b, which a publish does).
    const packed = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', packs, ...PUBLISHED.flatMap((p) => ['-w', `@siteflow/${p}`])],
      ROOT,
    );
    if (packed.code !== 0) throw new Error(failure('npm pack', packed));
    const manifest = JSON.parse(packed.stdout) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
    expect(manifest.map((m) => m.name).sort()).toEqual(PUBLISHED.map((p) => `@siteflow/${p}`).sort());
    for (const m of manifest) {
      const files = m.files.map((f) => f.path);
      expect(files, m.name).toContain('dist/index.js');
      expect(files, m.name).toContain('dist/index.d.ts');
      expect(files, m.name).toContain('README.md');
      expect(
        files.filter((f) => /\.spec\.|tsbuildinfo/.test(f)),
        `${m.name} ships no tests`,
      ).toEqual([]);
    }
    tarballs = manifest.map((m) => path.join(packs, m.filename));

    await writeFile(
      path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'a-testers-suite', version: '1.0.0', private: true, type: 'module' }),
    );
    const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs], consumer);
    if (installed.code !== 0) throw new Error(failure('npm install of the tarballs', installed));
  }, 180_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('installs as copies of the tarballs, not links into this checkout', () => {
    for (const p of PUBLISHED) {
      const dir = realpathSync(path.join(consumer, 'node_modules', '@siteflow', p));
      expect(dir.startsWith(ROOT), `@siteflow/${p} at ${dir}`).toBe(false);
    }
  });

  it('imports from the installed project: the public API resolves, and startSiteflow says where to find the services', async () => {
    await writeFile(
      path.join(consumer, 'check.mjs'),
      `import * as kit from '@siteflow/testkit';
const out = { exports: Object.fromEntries(Object.entries(kit).map(([k, v]) => [k, typeof v])) };
try {
  await kit.startSiteflow({ readyTimeoutMs: 1000 });
  out.started = true;
} catch (err) {
  out.startError = err instanceof Error ? err.message : String(err);
}
out.fromCheckout = kit.installedServiceCommand('gateway', process.argv[2]);
console.log(JSON.stringify(out));
`,
    );
    const checked = await run(process.execPath, ['check.mjs', ROOT], consumer);
    expect(checked.code, failure('node check.mjs', checked)).toBe(0);
    const out = JSON.parse(checked.stdout) as {
      exports: Record<string, string>;
      started?: boolean;
      startError?: string;
      fromCheckout: { command: string; args: string[] };
    };
    expect(out.exports).toMatchObject({
      startSiteflow: 'function',
      provideInfrastructure: 'function',
      probeContainerRuntime: 'function',
      installedServiceCommand: 'function',
      Identities: 'function',
      RealtimeClient: 'function',
      RealtimeError: 'function',
      SERVICES: 'object',
      DEFAULT_IMAGES: 'object',
    });
    // No service package beside it, no option: it refuses before starting anything, and says what to pass.
    expect(out.started).toBeUndefined();
    expect(out.startError).toMatch(/@siteflow\/gateway is not installed \(looked in .*consumer\/node_modules.*siteflowRoot.*command/s);
    // The documented option: a checkout of Siteflow Collab where the services are built.
    expect(realpathSync(out.fromCheckout.args[0] ?? '')).toBe(path.join(ROOT, 'services', 'gateway', 'dist', 'main.js'));
  });

  it('type-checks from the installed project: the types of the kit and of @siteflow/contracts resolve', async () => {
    await writeFile(
      path.join(consumer, 'check.ts'),
      `import { startSiteflow, type PushReply, type RoomSnapshot, type Siteflow, type SiteflowOptions } from '@siteflow/testkit';
export const start: (opts?: SiteflowOptions) => Promise<Siteflow> = startSiteflow;
export const options: SiteflowOptions = { services: { siteflowRoot: '/srv/siteflow-collab' } };
// Fails (unused directive) if RoomSnapshot were any, i.e. if the contracts' types did not resolve.
// @ts-expect-error the snapshot's project is an object, not a number
export const wrong: RoomSnapshot['project'] = 42;
export type Sent = PushReply<'chat:message'>;
`,
    );
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const checked = await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        'check.ts',
      ],
      consumer,
    );
    expect(checked.code, failure('tsc check.ts', checked)).toBe(0);
  });
});
