import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SERVICES } from '@siteflow/contracts';
import { useStack } from '@siteflow/testing';

// The services' readiness check (infra/k8s/base/probes/nats-connected.cjs, Kubernetes' readiness
// probe and compose's health check) asks for two established NATS connections held by the service
// process. This is the claim it rests on: a booted service holds exactly two, its own and its
// queue-group listener's.
const probe = fileURLToPath(new URL('../infra/k8s/base/probes/nats-connected.cjs', import.meta.url));

describe("the services' readiness check against real services", () => {
  const stack = useStack({ gateway: false });

  it.each(SERVICES)('%s, once serving, holds exactly the two NATS connections the check asks for', (name) => {
    const natsPort = new URL(stack().natsUrl.split(',')[0]!).port || '4222';
    const pid = String(stack().process(name).pid);
    const run = (wanted: string) =>
      spawnSync(process.execPath, [probe, natsPort, wanted, pid], { cwd: path.dirname(probe), encoding: 'utf8' });
    const ready = run('2');
    expect(ready.status, ready.stderr).toBe(0);
    const more = run('3');
    expect(more.status).toBe(1);
    expect(more.stderr).toContain(`2 of 3 NATS connections established (port ${natsPort}, pid ${pid})`);
  });
});
