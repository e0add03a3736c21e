import { describe, expect, it } from 'vitest';
import { clusterShape } from './cluster.js';
import { natsServerConfig } from './nats-server.js';

describe('clusterShape: what npm run cluster runs, from its environment', () => {
  it('defaults: three NATS nodes, two instances of each service, gateways on PORT and PORT+1, three replicas', () => {
    expect(clusterShape({})).toEqual({ natsNodes: 3, instances: 2, gatewayPorts: [4000, 4001], replicas: 3 });
    expect(clusterShape({ PORT: '5000' }).gatewayPorts).toEqual([5000, 5001]);
    expect(clusterShape({ GATEWAY_PORTS: '4100, 4200,4300' }).gatewayPorts).toEqual([4100, 4200, 4300]);
    expect(clusterShape({ NATS_NODES: '1' }).replicas).toBe(1);
  });

  it('refuses shapes that cannot work, naming the variable', () => {
    expect(() => clusterShape({ NATS_NODES: '0' })).toThrow(/NATS_NODES/);
    expect(() => clusterShape({ SERVICE_INSTANCES: 'two' })).toThrow(/SERVICE_INSTANCES/);
    expect(() => clusterShape({ NATS_NODES: '2', JETSTREAM_REPLICAS: '3' })).toThrow(/JETSTREAM_REPLICAS 3 needs at least/);
    expect(() => clusterShape({ GATEWAY_PORTS: '4000,4000' })).toThrow(/GATEWAY_PORTS/);
    expect(() => clusterShape({ GATEWAY_PORTS: '4000,x' })).toThrow(/GATEWAY_PORTS/);
    // Another NATS (a node list of its own) may hold more replicas than the local node count.
    expect(clusterShape({ NATS_URL: 'nats://a:4222,nats://b:4222', NATS_NODES: '1', JETSTREAM_REPLICAS: '3' }).replicas).toBe(3);
  });
});

describe('natsServerConfig for a cluster node', () => {
  it('names the node and routes to the other nodes on loopback', () => {
    const text = natsServerConfig('/tmp/n1/siteflow-nats.conf', undefined, {
      name: 'siteflow',
      serverName: 'nats-1',
      routePort: 6001,
      peers: [6002, 6003],
    });
    expect(text).toContain('server_name: "nats-1"');
    expect(text).toContain(
      'cluster { name: "siteflow", listen: "127.0.0.1:6001", routes: ["nats-route://127.0.0.1:6002", "nats-route://127.0.0.1:6003"] }',
    );
  });
});
