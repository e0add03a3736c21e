// Readiness of a NATS-only service (no HTTP port yet): ready when the process holds at least N
// established TCP connections to the NATS port. A service opens its two (its own, then the
// queue-group listener's) only after its schema is migrated, and the second means it serves
// requests (packages/servicekit, bootService). Reads the pod's own network namespace, so it
// counts this pod's connections only. Usage: node nats-connected.cjs <port> <connections>
'use strict';
const { readFileSync } = require('node:fs');

const [port, wanted] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(wanted)) {
  process.stderr.write('usage: node nats-connected.cjs <port> <connections>\n');
  process.exit(2);
}
const remotePort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
const ESTABLISHED = '01';
let established = 0;
for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
  let text = '';
  try {
    text = readFileSync(table, 'utf8');
  } catch {
    continue; // no IPv6 in this namespace
  }
  for (const line of text.split('\n').slice(1)) {
    const [, , remote, state] = line.trim().split(/\s+/);
    if (remote?.endsWith(remotePort) && state === ESTABLISHED) established += 1;
  }
}
if (established < wanted) {
  process.stderr.write(`${established} of ${wanted} NATS connections established (port ${port})\n`);
  process.exit(1);
}
