import { readFileSync } from 'node:fs';

/** Prints the functions with the most self time in a V8 .cpuprofile: `node bench/dist/profile-top.js FILE [N]`. */
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
const [file, n = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top FILE [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const byFrame = new Map<string, number>();
for (const node of profile.nodes) {
  const f = node.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(services|packages)\//, '$1/')}:${f.lineNumber + 1}`;
  byFrame.set(key, (byFrame.get(key) ?? 0) + (self.get(node.id) ?? 0));
}
const total = [...byFrame.values()].reduce((a, b) => a + b, 0);
for (const [key, us] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}\n`);
}
