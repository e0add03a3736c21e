import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEPLOYED_GATEWAY_HEAP, gatewayHeapArgs, heapSizeLimitMiB } from './gateway-heap.js';

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
}

/** NODE_OPTIONS of the gateway's container, as infra/k8s/base/gateway.yaml sets it. */
function manifestNodeOptions(): string[] {
  const file = fileURLToPath(new URL('../../infra/k8s/base/gateway.yaml', import.meta.url));
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) => d.toJS() as { kind: string; spec?: { template?: { spec?: { containers?: Container[] } } } },
  );
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'gateway');
  const value = container?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  expect(value, 'gateway.yaml sets NODE_OPTIONS').toBeDefined();
  return value!.split(/\s+/).filter(Boolean);
}

describe("the bench's gateway heap", () => {
  it('is the heap the gateway is deployed with (infra/k8s/base/gateway.yaml NODE_OPTIONS)', () => {
    expect(gatewayHeapArgs('deployed')).toEqual(manifestNodeOptions());
    expect(DEPLOYED_GATEWAY_HEAP.some((a) => a.startsWith('--max-old-space-size='))).toBe(true);
  });

  it('is no flags at all with --gateway-heap host, and refuses anything else', () => {
    expect(gatewayHeapArgs('host')).toEqual([]);
    expect(() => gatewayHeapArgs('small')).toThrow(/deployed or host/);
  });

  it('is what V8 runs with: the heap limit is the old generation plus three semi-spaces', () => {
    const mib = (flag: string) => Number(DEPLOYED_GATEWAY_HEAP.find((a) => a.startsWith(`${flag}=`))?.split('=')[1]);
    expect(heapSizeLimitMiB(DEPLOYED_GATEWAY_HEAP)).toBe(mib('--max-old-space-size') + 3 * mib('--max-semi-space-size'));
  });
});
