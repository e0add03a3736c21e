import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name (state, ppid, …; utime is [11], stime [12]). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
}

/** user + system CPU time of a process so far, in µs (Linux /proc; clock ticks are 100 Hz here). 0 once it is gone. */
export function cpuMicros(pid: number): number {
  try {
    const fields = statFields(pid);
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

/** Resident set size of a process, in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function parentOf(pid: number): number | undefined {
  try {
    return Number(statFields(pid)[1]);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

const allPids = () =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);

/** The processes whose command line contains `needle` (e.g. the Postgres data directory's port). */
export function pidsByCmdline(needle: string): number[] {
  return allPids().filter((p) => p !== process.pid && cmdline(p).includes(needle));
}

/** A process and its children (Postgres' backends are children of the postmaster), now. */
export function withChildren(pid: number): number[] {
  return [pid, ...allPids().filter((p) => parentOf(p) === pid)];
}

/** Per-process CPU of a named group of processes, between `start()` and `stop()`. */
export class CpuMeter {
  private before = new Map<string, Map<number, number>>();
  constructor(private readonly groups: Record<string, () => number[]>) {}

  private read(): Map<string, Map<number, number>> {
    const out = new Map<string, Map<number, number>>();
    for (const [name, pids] of Object.entries(this.groups)) out.set(name, new Map(pids().map((p) => [p, cpuMicros(p)])));
    return out;
  }

  start(): void {
    this.before = this.read();
  }

  /** CPU seconds each group spent since `start()` (backends started meanwhile count from 0). */
  stop(): Record<string, number> {
    const after = this.read();
    const spent: Record<string, number> = {};
    for (const [name, pids] of after) {
      let us = 0;
      for (const [pid, now] of pids) us += now - (this.before.get(name)?.get(pid) ?? 0);
      spent[name] = Math.round(us / 10_000) / 100;
    }
    return spent;
  }
}

/** CPU ms each group spent a unit of work (a post, a save), from `CpuMeter.stop()`'s seconds, to `decimals` places. */
export function cpuMsPer(cpuSeconds: Record<string, number>, units: number, decimals = 2): Record<string, number> {
  const scale = 10 ** decimals;
  return Object.fromEntries(Object.entries(cpuSeconds).map(([k, s]) => [k, Math.round((s * 1000 * scale) / units) / scale]));
}

/** `cpuMsPer`'s figures as one line: the groups that spent any, `gateway 2.1, chat 3.4`. */
export function cpuMsLine(ms: Record<string, number>): string {
  return Object.entries(ms)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}
