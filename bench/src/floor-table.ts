import type pg from 'pg';

/** The table a floor stores its pushes in (`<schema>.messages`), created if missing; and its insert. */
export async function floorTable(pool: pg.Pool, schema: string): Promise<{ insert: { name: string; text: string } }> {
  await pool.query(`
    CREATE SCHEMA IF NOT EXISTS ${schema};
    CREATE TABLE IF NOT EXISTS ${schema}.messages (
      id bigserial PRIMARY KEY,
      topic text NOT NULL,
      event text NOT NULL,
      body text NOT NULL,
      inserted_at timestamptz NOT NULL DEFAULT now()
    );
  `);
  return {
    insert: { name: `${schema}_insert`, text: `INSERT INTO ${schema}.messages (topic, event, body) VALUES ($1, $2, $3) RETURNING id` },
  };
}
