import { connect } from '@nats-io/transport-node';
import { natsOptionsFromUrl } from '@siteflow/messaging';
import pg from 'pg';
import { floorTable } from './floor-table.js';
import { bodyOf, broadcastOf, startPhxFront, type Frame } from './phx-front.js';

/**
 * The brokered floor: the least this architecture's path can cost, with none of its code. A
 * socket front and a service in two processes, talking over the same NATS as the stack's:
 *
 *   client → front (`ws`) → NATS request → service → Postgres (synchronous commit)
 *          → service publishes the broadcast on core NATS, then replies → front → every socket of the room
 *
 * which is the gateway's path for a chat post (push → `chat.message.post` request → the command's
 * transaction → fast copy → fan-out) with each step at its bare minimum: no tokens, checks, schemas,
 * event store, framework or telemetry. `ROUND_TRIPS=1` stores each push as the durable floor does
 * (one INSERT, its own transaction); `ROUND_TRIPS=2` as a command does (BEGIN and the stream's lock
 * in one round trip, then the insert with COMMIT), both as literal simple queries, sent as the event
 * store sends them. One service process answers both fronts. Env: ROLE (`front` | `service`),
 * NATS_URL, DATABASE_URL (service), PORT and ROUND_TRIPS (front).
 */
const PUSH_SUBJECT = 'bench.brokered.push';
const OUT_SUBJECT = 'bench.brokered.out';

interface PushRequest {
  trips: 1 | 2;
  topic: string;
  event: string;
  body: string;
}
interface Broadcast {
  topic: string;
  event: string;
  payload: unknown;
}

const nc = await connect(natsOptionsFromUrl(process.env.NATS_URL ?? '127.0.0.1:4222'));

if (process.env.ROLE === 'service') {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: '-c synchronous_commit=on' });
  const { insert: INSERT } = await floorTable(pool, 'bench_brokered');

  const store = async (r: PushRequest): Promise<number> => {
    if (r.trips === 1) {
      const { rows } = await pool.query<{ id: string }>({ ...INSERT, values: [r.topic, r.event, r.body] });
      return Number(rows[0]?.id);
    }
    const client = await pool.connect();
    try {
      const lit = (s: string) => client.escapeLiteral(s);
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(hashtextextended(${lit(r.topic)}, 0))`);
      const results = (await client.query(
        `INSERT INTO bench_brokered.messages (topic, event, body) VALUES (${lit(r.topic)}, ${lit(r.event)}, ${lit(r.body)}) RETURNING id; COMMIT`,
      )) as unknown as pg.QueryResult<{ id: string }>[];
      return Number(results[0]?.rows[0]?.id);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };

  nc.subscribe(PUSH_SUBJECT, {
    callback: (_err, m) => {
      const r = m.json<PushRequest>();
      store(r).then(
        (id) => {
          const b = broadcastOf(r.event, id, r.body);
          nc.publish(OUT_SUBJECT, JSON.stringify({ topic: r.topic, event: b.event, payload: b.payload } satisfies Broadcast));
          m.respond(JSON.stringify({ id }));
        },
        (err: unknown) => m.respond(JSON.stringify({ error: String(err) })),
      );
    },
  });
  await nc.flush();
  process.send?.({ ready: true });
  process.on('SIGTERM', () => void Promise.all([nc.close(), pool.end()]).then(() => process.exit(0)));
} else {
  const trips = process.env.ROUND_TRIPS === '2' ? 2 : 1;
  const front = startPhxFront(
    async ([, , topic, event, payload]: Frame) => {
      const reply = (
        await nc.request(PUSH_SUBJECT, JSON.stringify({ trips, topic, event, body: bodyOf(payload) } satisfies PushRequest), {
          timeout: 10_000,
        })
      ).json<{ id?: number; error?: string }>();
      if (reply.error !== undefined) throw new Error(reply.error);
      return { id: reply.id };
    },
    () => nc.close(),
  );
  nc.subscribe(OUT_SUBJECT, {
    callback: (_err, m) => {
      const b = m.json<Broadcast>();
      front.broadcast(b.topic, b.event, b.payload);
    },
  });
  await nc.flush();
}
