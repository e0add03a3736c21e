// Readiness of a NATS-only service (no HTTP port yet): ready when the service process holds at
// least N established TCP connections to the NATS port. A service opens its two (its own, then the
// queue-group listener's) only after its schema is migrated, and the second means it serves
// requests (packages/servicekit, bootService). Only the sockets of that process count: its open
// file descriptors are matched against the kernel's TCP table by inode.
// Usage: node nats-connected.cjs <port> <connections> [pid, default 1: the container's main process]
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script (plain node runs it from a ConfigMap, no package.json beside it): require is how it imports
const { readdirSync, readFileSync, readlinkSync } = require('node:fs');

const [port, wanted, pid = 1] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(wanted) || !Number.isInteger(pid)) {
  process.stderr.write('usage: node nats-connected.cjs <port> <connections> [pid]\n');
  process.exit(2);
}

let fds;
try {
  fds = readdirSync(`/proc/${pid}/fd`);
} catch (err) {
  process.stderr.write(`cannot read the sockets of pid ${pid}: ${err.message}\n`);
  process.exit(1);
}
const sockets = new Set();
for (const fd of fds) {
  try {
    const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    if (target.startsWith('socket:[')) sockets.add(target.slice('socket:['.length, -1));
  } catch {
    // closed while we looked
  }
}

const remotePort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
const ESTABLISHED = '01';
let established = 0;
// The process's network namespace: a pod's own, shared by its containers.
for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
  let text;
  try {
    text = readFileSync(table, 'utf8');
  } catch {
    continue; // no IPv6 in this namespace
  }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, , remote, state] = fields;
    const inode = fields[9];
    if (remote?.endsWith(remotePort) && state === ESTABLISHED && inode !== undefined && sockets.has(inode)) established += 1;
  }
}
if (established < wanted) {
  process.stderr.write(`${established} of ${wanted} NATS connections established (port ${port}, pid ${pid})\n`);
  process.exit(1);
}
