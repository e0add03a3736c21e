import path from 'node:path';
import { startNatsServer, type NatsClusterNode, type NatsServer } from './nats-server.js';
import { freePort, isPortFree, portFromEnv, waitUntil } from './ports.js';
import { StackSupervisor, type StackSupervisorOptions } from './stack-supervisor.js';

/** The shape `npm run cluster` runs; every part can be changed from the environment. */
export interface ClusterShape {
  /** nats-server nodes clustered over loopback routes (NATS_NODES, default 3). */
  natsNodes: number;
  /** Instances of each service (SERVICE_INSTANCES, default 2). */
  instances: number;
  /** The gateways' ports (GATEWAY_PORTS, default PORT and PORT+1, i.e. 4000,4001). */
  gatewayPorts: number[];
  /** Replicas of every stream and of the presence bucket (JETSTREAM_REPLICAS, default min(3, nodes)). */
  replicas: number;
}

function count(env: Record<string, string | undefined>, name: string, fallback: number, max: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new Error(`${name} must be a whole number from 1 to ${max}, not "${value}"`);
  return n;
}

/** The cluster's shape from its environment; a clear error for a value that makes no sense. */
export function clusterShape(env: Record<string, string | undefined>): ClusterShape {
  const natsNodes = count(env, 'NATS_NODES', 3, 9);
  const instances = count(env, 'SERVICE_INSTANCES', 2, 16);
  const replicas = count(env, 'JETSTREAM_REPLICAS', Math.min(3, natsNodes), 5);
  if (!env.NATS_URL && replicas > natsNodes)
    throw new Error(`JETSTREAM_REPLICAS ${replicas} needs at least as many NATS nodes (NATS_NODES is ${natsNodes})`);
  let gatewayPorts: number[];
  if (env.GATEWAY_PORTS?.trim()) {
    gatewayPorts = env.GATEWAY_PORTS.split(',').map(
      (part, i) => portFromEnv({ [`GATEWAY_PORTS[${i}]`]: part }, `GATEWAY_PORTS[${i}]`) ?? 0,
    );
    if (gatewayPorts.some((p) => p === 0) || new Set(gatewayPorts).size !== gatewayPorts.length)
      throw new Error(`GATEWAY_PORTS must list distinct TCP ports, not "${env.GATEWAY_PORTS}"`);
  } else {
    const first = portFromEnv(env, 'PORT') ?? 4000;
    gatewayPorts = [first, first + 1];
  }
  return { natsNodes, instances, gatewayPorts, replicas };
}

/** One node of a NATS cluster on loopback: its ports and its part of the cluster's configuration. */
export interface NatsClusterNodePlan {
  /** `nats-<n>`: also its server name, which JetStream knows it by across restarts. */
  name: string;
  port: number;
  monitorPort: number;
  routePort: number;
  /** What startNatsServer's `cluster` option takes for this node. */
  cluster: NatsClusterNode;
}

/**
 * Ports and route configuration for `nodes` clustered nats-server nodes on 127.0.0.1, each routed
 * to all the others; start them together or one at a time (a cluster forms once a majority
 * runs). `firstPort` / `firstMonitorPort`: the first node's ports, the others follow; otherwise
 * free ports.
 */
export async function planNatsCluster(
  nodes: number,
  opts: { firstPort?: number | undefined; firstMonitorPort?: number | undefined; name?: string } = {},
): Promise<NatsClusterNodePlan[]> {
  const planned = await Promise.all(
    Array.from({ length: nodes }, async (_, i) => {
      const port = opts.firstPort === undefined ? await freePort() : opts.firstPort + i;
      const monitorPort = opts.firstMonitorPort === undefined ? await freePort() : opts.firstMonitorPort + i;
      for (const p of [port, monitorPort]) if (!(await isPortFree(p))) throw new Error(`port ${p} (NATS node ${i + 1}) is already in use`);
      return { name: `nats-${i + 1}`, port, monitorPort, routePort: await freePort() };
    }),
  );
  const routePorts = planned.map((n) => n.routePort);
  return planned.map((node) => ({
    ...node,
    cluster: {
      name: opts.name ?? 'siteflow',
      serverName: node.name,
      routePort: node.routePort,
      peers: routePorts.filter((p) => p !== node.routePort),
    },
  }));
}

/**
 * `npm run cluster`: the distributed shape on one machine, no Docker. Everything `npm start`
 * does (the same StackSupervisor: supervision, logs, `.data/stack.json`, ordered stop), with
 * NATS as `natsNodes` nodes clustered over loopback routes (JetStream clustered, each node's
 * store in `.data/nats-<n>`), `instances` of each service and a gateway on each of
 * `gatewayPorts`. Streams and the presence bucket get `replicas` replicas (JETSTREAM_REPLICAS).
 * Every process connects with the whole node list (NATS_URL, comma-separated) and fails over.
 */
export class ClusterSupervisor extends StackSupervisor {
  readonly shape: ClusterShape;

  constructor(opts: Omit<StackSupervisorOptions, 'instances' | 'gatewayPorts'>) {
    const shape = clusterShape(opts.env);
    super({
      ...opts,
      env: { ...opts.env, JETSTREAM_REPLICAS: String(shape.replicas) },
      instances: shape.instances,
      gatewayPorts: shape.gatewayPorts,
    });
    this.shape = shape;
  }

  protected override async provideNats(
    env: Record<string, string | undefined>,
    ports: { NATS_PORT?: number | undefined; NATS_MONITOR_PORT?: number | undefined },
    timeoutMs: number,
  ): Promise<void> {
    if (env.NATS_URL) return super.provideNats(env, ports, timeoutMs);
    const nodes = await planNatsCluster(this.shape.natsNodes, { firstPort: ports.NATS_PORT, firstMonitorPort: ports.NATS_MONITOR_PORT });
    const started = await Promise.allSettled(
      nodes.map(async (node) => {
        const dataDir = path.join(this.dataDir, node.name);
        const { cluster } = node;
        const entry = await this.superviseInfra(
          node.name,
          'nats',
          () => startNatsServer({ dataDir, port: node.port, monitorPort: node.monitorPort, detached: true, cluster }),
          (server: NatsServer) => ({ nats: server.url, monitoring: server.monitorUrl ?? '' }),
        );
        this.log(
          node.name,
          'info',
          `nats-server with clustered JetStream on nats://127.0.0.1:${node.port}, routes on ${node.routePort}, monitoring on http://127.0.0.1:${node.monitorPort} (pid ${entry.supervisor.current?.pid}, data in ${this.relative(dataDir)})`,
        );
      }),
    );
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    this.natsUrl = nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
    // The services create their streams at boot: wait until JetStream has a meta leader and
    // every node is current, or their first requests fail with "JetStream not available".
    await waitUntil(async () => (await Promise.all(nodes.map((n) => jetStreamHealthy(n.monitorPort)))).every(Boolean), {
      timeoutMs,
      intervalMs: 250,
      describe: () => `the NATS cluster's JetStream was not healthy within ${Math.round(timeoutMs / 1000)} s`,
    });
    this.log('nats', 'info', `JetStream cluster of ${nodes.length} nodes is healthy; streams get ${this.shape.replicas} replicas`);
  }
}

/** nats-server's /healthz: 200 once JetStream is enabled and current on this node. */
async function jetStreamHealthy(monitorPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}
