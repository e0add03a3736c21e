import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { PoolClient, QueryConfig } from 'pg';

const ids = new Map<string, string>();

// node-postgres's own conversion of a parameter to the text it sends (exported, untyped).
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue: (value: unknown) => string | Buffer | null | undefined;
};

/**
 * A named statement for the hot paths: Postgres parses it once per connection, and after a few
 * executions plans it once too, instead of parsing and planning on every call (a third of the
 * server time of a busy room went to parse and bind). The name is derived from the text, so the
 * same text always has the same name and different texts never share one.
 */
export function prepared(text: string, values: unknown[]): QueryConfig<unknown[]> {
  return { name: `sf_${statementId(text)}`, text, values };
}

/** 24 hex digits of the text's SHA-1, remembered per text. */
function statementId(text: string): string {
  let id = ids.get(text);
  if (id === undefined) {
    id = createHash('sha1').update(text).digest('hex').slice(0, 24);
    ids.set(text, id);
  }
  return id;
}

/**
 * Server-side statements this process prepared with SQL `PREPARE` on each connection: their names
 * (`sfx_…`, apart from `sf_…`, which node-postgres prepares at the protocol level and tracks itself).
 * A prepared statement outlives a rolled-back transaction, so one recorded here stays prepared for
 * the connection's life.
 */
const preparedOn = new WeakMap<PoolClient, Set<string>>();

/**
 * `query` as SQL text to ride in a simple query beside other statements (one round trip for all):
 * `EXECUTE <statement>(<arguments>)` of a statement prepared once per connection, so it is parsed
 * and planned as rarely as a `prepared` one. The first time on a connection, it is prepared first
 * (a round trip of its own). Each argument is the text node-postgres would send as its parameter,
 * as a literal: Postgres reads it as it would that parameter.
 */
export async function asExecute(client: PoolClient, query: QueryConfig<unknown[]>): Promise<string> {
  const name = `sfx_${statementId(query.text)}`;
  let done = preparedOn.get(client);
  if (!done) preparedOn.set(client, (done = new Set()));
  if (!done.has(name)) {
    await client.query(`PREPARE ${name} AS ${query.text}`);
    done.add(name);
  }
  const args = (query.values ?? []).map(sqlLiteral);
  return args.length > 0 ? `EXECUTE ${name}(${args.join(', ')})` : `EXECUTE ${name}`;
}

/** A parameter's value as an SQL literal: NULL, or the text node-postgres would send for it. */
export function sqlLiteral(value: unknown): string {
  const text = prepareValue(value);
  if (text === null || text === undefined) return 'NULL';
  if (typeof text !== 'string') throw new TypeError('a binary value cannot be sent in a simple query');
  if (text.includes('\0')) throw new RangeError('a NUL character cannot be sent to Postgres');
  return escapeLiteral(text);
}

/**
 * The text as an SQL string literal, exactly as node-postgres's `escapeLiteral` writes it (quotes
 * doubled; with a backslash, an `E''` literal with backslashes doubled), in native string
 * replacements. Its loop adds one character at a time: a document's save carries its content
 * (up to 512 KiB) through here, and that loop left most of a save's CPU to
 * the garbage collector (README, Benchmarks: the saves scenario).
 */
export function escapeLiteral(text: string): string {
  const quoted = text.replace(/'/g, "''");
  return text.includes('\\') ? ` E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}
