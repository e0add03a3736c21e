#!/usr/bin/env node
// `npm run cluster`: the distributed shape on one machine, no Docker (README "Running in
// production"). What `npm start` does (install and build when missing, the same supervision, logs
// and .data/stack.json: scripts/run-stack.mjs), with three nats-server nodes clustered over loopback
// routes (streams and the presence bucket with 3 replicas), two instances of each service and two
// gateways (4000 and 4001) serving the same rooms. Change the shape with NATS_NODES,
// SERVICE_INSTANCES, GATEWAY_PORTS and JETSTREAM_REPLICAS; NATS_URL (a node list) and
// DATABASE_URL name servers of your own instead. Ctrl-C stops the gateways, then the services,
// then NATS and Postgres.
//
// `--no-build` skips installing and building.
import { runStack } from './run-stack.mjs';

await runStack('npm run cluster', ({ ClusterSupervisor }, options) => new ClusterSupervisor(options));
