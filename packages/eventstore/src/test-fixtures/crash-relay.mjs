// Runs an outbox relay that dies (SIGKILL) right after JetStream acknowledged the first event,
// before its checkpoint is saved: the crash window the relay must survive.
// Plain node against the built package: `node crash-relay.mjs` with DATABASE_URL, NATS_URL,
// SCHEMA, STREAM_NAME, SUBJECT_PREFIX in the environment.
import pg from 'pg';
import { pino } from 'pino';
import { connect } from '@nats-io/transport-node';
import { createEventStore, startOutboxRelay } from '../../dist/index.js';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const pool = new pg.Pool({ connectionString: env('DATABASE_URL') });
const nats = await connect({ servers: env('NATS_URL') });
const prefix = env('SUBJECT_PREFIX');
await startOutboxRelay({
  store: createEventStore({ pool, schema: env('SCHEMA') }),
  nats,
  logger: pino({ level: 'silent' }),
  stream: { name: env('STREAM_NAME'), subjects: [`${prefix}.>`] },
  subjectFor: (e) => `${prefix}.project.${e.projectId ?? 0}.ev.${e.type}`,
  leaderRetryMs: 50,
  afterPublish: () => {
    process.kill(process.pid, 'SIGKILL');
  },
});
// Not reached in practice: the first publish kills the process.
setTimeout(() => process.exit(2), 10_000);
