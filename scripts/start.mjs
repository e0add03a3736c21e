#!/usr/bin/env node
// `npm start`: the whole system on one machine, no Docker (docs/operations.md). Installs and
// builds what is missing, then hands over to the devstack's StackSupervisor: NATS_URL /
// DATABASE_URL when set (checked first), otherwise nats-server (JetStream in .data/nats) and
// embedded PostgreSQL (.data/pg), then the four services and the gateway; any of them that dies is
// started again, and .data/stack.json lists them all. Ctrl-C, SIGTERM or SIGHUP stops the gateway,
// then the services, then NATS and Postgres.
//
// `--no-build` skips installing and building (tests that built already; never `npm ci` under
// other runs). Signals, builds and the supervisor's life: scripts/run-stack.mjs.
import { runStack } from './run-stack.mjs';

await runStack('npm start', ({ StackSupervisor }, options) => new StackSupervisor(options));
