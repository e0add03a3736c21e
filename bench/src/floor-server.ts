import pg from 'pg';
import { floorTable } from './floor-table.js';
import { bodyOf, broadcastOf, startPhxFront, type Frame } from './phx-front.js';

/**
 * The durable floor: what a room costs at the least when every message is stored before anyone
 * sees it. One Node process on `ws` and `pg`, speaking just enough Phoenix framing
 * (`phx-front.ts`): each push is taken as a chat message, inserted into Postgres (one statement,
 * its own transaction, synchronous commit: the reply and the broadcast wait for the disk), then
 * serialised once and written to every socket joined to the topic. Run against the same Postgres
 * as the gateway's services. Env: DATABASE_URL, PORT (0 = any).
 */
// Every connection commits synchronously, whatever the server's default.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: '-c synchronous_commit=on' });
const { insert: INSERT } = await floorTable(pool, 'bench_floor');

const front = startPhxFront(
  async ([, , topic, event, payload]: Frame) => {
    const body = bodyOf(payload);
    const { rows } = await pool.query<{ id: string }>({ ...INSERT, values: [topic, event, body] });
    const id = Number(rows[0]?.id);
    const b = broadcastOf(event, id, body);
    front.broadcast(topic, b.event, b.payload);
    return { id };
  },
  () => pool.end(),
);
