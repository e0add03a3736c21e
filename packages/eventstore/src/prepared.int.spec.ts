import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asExecute, prepared, sqlLiteral } from './prepared.js';
import { useMigratedStore } from './test-fixtures/harness.js';

const { store } = useMigratedStore('prepared_test', 2);

/**
 * A statement riding in a simple query (`asExecute`: EXECUTE of a statement prepared on the
 * connection, its arguments as literals) must mean exactly what it means with parameters: the
 * arguments are client-chosen text (chat messages, idempotency keys, names).
 */
describe('statements as EXECUTE with literal arguments', () => {
  const text = `SELECT $1::text AS t, $2::bigint AS n, $3::timestamptz AS at, $4::jsonb AS j, $5::text[] AS list, $6::int AS nothing`;

  it('reads every value back as the same statement with parameters does', async () => {
    const client = await store().pool.connect();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')),
          fc.oneof(fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(-1)),
          fc.date({ min: new Date('1970-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }),
          fc
            .jsonValue()
            .map((v) => JSON.stringify(v))
            .filter((s) => !s.includes('\\u0000')),
          fc.array(
            fc.string().filter((s) => !s.includes('\0')),
            { maxLength: 4 },
          ),
          async (t, n, at, j, list) => {
            const values = [t, n, at, j, list, null];
            const byParameters = (await client.query(prepared(text, values))).rows;
            const riding = await asExecute(client, { text, values });
            const byExecute = (await client.query(`SELECT 1;\n${riding}`)) as unknown as { rows: unknown[] }[];
            expect(byExecute[1]!.rows).toEqual(byParameters);
          },
        ),
        { numRuns: 200 },
      );
    } finally {
      client.release();
    }
  });

  it('quotes and backslashes stay inside their literal; a NUL or binary value is refused before anything is sent', () => {
    expect(sqlLiteral(`x'); DROP TABLE t; --`)).toBe(`'x''); DROP TABLE t; --'`);
    expect(sqlLiteral('a\\b')).toBe(` E'a\\\\b'`);
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral(undefined)).toBe('NULL');
    expect(() => sqlLiteral('a\0b')).toThrow(/NUL/);
    expect(() => sqlLiteral(Buffer.from('x'))).toThrow(/binary/);
  });

  it('prepares a statement once per connection', async () => {
    const client = await store().pool.connect();
    try {
      const q = { text: 'SELECT $1::int + 1 AS n', values: [41] };
      await asExecute(client, q);
      await asExecute(client, q);
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE from_sql AND statement LIKE '%$1::int + 1 AS n'`,
      );
      expect(rows).toEqual([{ n: 1 }]);
      expect(((await client.query(await asExecute(client, q))) as unknown as { rows: unknown[] }).rows).toEqual([{ n: 42 }]);
    } finally {
      client.release();
    }
  });
});
