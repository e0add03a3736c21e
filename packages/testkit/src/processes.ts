import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { hasExited, OutputTail, stopChild, stopOnProcessExit } from '@siteflow/devstack';

/** The processes of the system: the four services and the gateway. */
export type SiteflowService = 'documents' | 'presence' | 'chat' | 'checklist';
export type SiteflowPartName = SiteflowService | 'gateway';

/** How to start one part: a command with its arguments (the kit adds the environment). */
export interface PartCommand {
  command: string;
  args: string[];
  cwd?: string;
}

/**
 * Where the compiled services come from, in this order:
 * - `command(name)`: any command (a wrapper script, `docker run …` with the env passed through);
 * - `siteflowRoot`: a directory from which the service packages resolve (`node_modules/@siteflow/<name>`,
 *   walking up, as Node does); each is run as `node <package main>`;
 * - default: the same resolution from `process.cwd()`, i.e. the service packages installed beside the kit.
 */
export interface ServiceLocation {
  command?: (name: SiteflowPartName) => PartCommand;
  siteflowRoot?: string;
}

/** The `node <main>` of an installed `@siteflow/<name>` package, found from `from` upward. */
export function installedServiceCommand(name: SiteflowPartName, from: string = process.cwd()): PartCommand {
  let dir = path.resolve(from);
  const tried: string[] = [];
  for (;;) {
    const pkgDir = path.join(dir, 'node_modules', '@siteflow', name);
    const manifest = path.join(pkgDir, 'package.json');
    tried.push(pkgDir);
    if (existsSync(manifest)) {
      const main = (JSON.parse(readFileSync(manifest, 'utf8')) as { main?: string }).main ?? 'dist/main.js';
      const entry = path.resolve(pkgDir, main);
      if (!existsSync(entry)) throw new Error(`@siteflow/${name} is installed at ${pkgDir} but its ${main} does not exist: is it built?`);
      return { command: process.execPath, args: [entry], cwd: pkgDir };
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `@siteflow/${name} is not installed (looked in ${tried[0]} and every node_modules above). ` +
      "Pass `services: { siteflowRoot: '/path/to/siteflow-collab' }` (a checkout after `npm ci && npm run build:ts`), " +
      '`services: { command: (name) => ({ command, args }) }` (e.g. a wrapper around `docker run`), ' +
      'or install the built service packages beside the kit.',
  );
}

export function commandFor(name: SiteflowPartName, location: ServiceLocation | undefined): PartCommand {
  if (location?.command) return location.command(name);
  return installedServiceCommand(name, location?.siteflowRoot);
}

/** A running part: its child process and what it wrote. */
export class PartProcess {
  readonly tail = new OutputTail(400);
  /** Set while the kit itself stops or kills it, so the exit is not reported as a crash. */
  expectedExit = false;

  private constructor(
    readonly name: SiteflowPartName,
    readonly child: ChildProcess,
  ) {}

  static spawn(name: SiteflowPartName, cmd: PartCommand, env: Record<string, string>, mirror: boolean): PartProcess {
    // detached: a pause (SIGSTOP) or kill reaches the whole part even when `command` is a wrapper.
    const child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const part = new PartProcess(name, child);
    const onOutput = (chunk: Buffer) => {
      part.tail.write(chunk);
      if (mirror) process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, `[${name}] `));
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', (err) => part.tail.write(`[testkit] could not start ${cmd.command}: ${err.message}\n`));
    stopOnProcessExit(child, 'SIGKILL');
    return part;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return hasExited(this.child);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined || this.exited) return;
    try {
      // The whole process group (see spawn).
      process.kill(-this.child.pid, signal);
    } catch {
      this.child.kill(signal);
    }
  }

  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    this.expectedExit = true;
    // A paused part cannot act on SIGTERM: let it run again first.
    this.signal('SIGCONT');
    if (signal === 'SIGKILL') this.signal('SIGKILL');
    await stopChild(this.child, { signal, graceMs });
  }
}
