import { execFileSync } from 'node:child_process';

/**
 * The gateway's V8 heap flags as deployed: NODE_OPTIONS of the gateway container in
 * infra/k8s/base/gateway.yaml (old generation half its 1 GiB memory limit). The bench starts its
 * gateway with them, so its memory figures are the deployed gateway's; gateway-heap.unit.spec.ts
 * fails when this copy and the manifest disagree.
 */
export const DEPLOYED_GATEWAY_HEAP: readonly string[] = ['--max-old-space-size=512', '--max-semi-space-size=16'];

/** Which heap the bench's gateway runs with: as deployed, or whatever Node picks on this host. */
export type GatewayHeap = 'deployed' | 'host';

export interface GatewayHeapReport {
  heap: GatewayHeap;
  /** The gateway's V8 flags (none: Node's defaults for this host's memory). */
  nodeArgs: string[];
  /** V8's heap limit with those flags on this host (old generation + 3 semi-spaces), MiB. */
  heapSizeLimitMiB: number;
}

/** The flags for --gateway-heap (deployed or host). */
export function gatewayHeapArgs(heap: string): string[] {
  if (heap === 'deployed') return [...DEPLOYED_GATEWAY_HEAP];
  if (heap === 'host') return [];
  throw new Error(`--gateway-heap: deployed or host, not ${heap}`);
}

/** What V8 makes of the flags on this machine: a Node started with them reports its heap limit. */
export function heapSizeLimitMiB(nodeArgs: readonly string[]): number {
  const out = execFileSync(process.execPath, [...nodeArgs, '-p', 'require("node:v8").getHeapStatistics().heap_size_limit'], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return Number(out.trim()) / 2 ** 20;
}

export function gatewayHeapReport(heap: string): GatewayHeapReport {
  const nodeArgs = gatewayHeapArgs(heap);
  return { heap: heap as GatewayHeap, nodeArgs, heapSizeLimitMiB: heapSizeLimitMiB(nodeArgs) };
}

/** The table's line: which heap the gateway had. */
export function gatewayHeapLine(r: GatewayHeapReport): string {
  return r.heap === 'deployed'
    ? `Gateway heap as deployed (infra/k8s/base/gateway.yaml NODE_OPTIONS): ${r.nodeArgs.join(' ')}, heap limit ${Math.round(r.heapSizeLimitMiB)} MiB`
    : `Gateway heap: this host's default (no heap flags, --gateway-heap host), heap limit ${Math.round(r.heapSizeLimitMiB)} MiB; production runs ${DEPLOYED_GATEWAY_HEAP.join(' ')}`;
}
