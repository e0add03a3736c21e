import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

const names = new Map<string, string>();

/**
 * A named statement for the hot paths: Postgres parses it once per connection, and after a few
 * executions plans it once too, instead of parsing and planning on every call (a third of the
 * server time of a busy room went to parse and bind). The name is derived from the text, so the
 * same text always has the same name and different texts never share one.
 */
export function prepared(text: string, values: unknown[]): QueryConfig<unknown[]> {
  let name = names.get(text);
  if (name === undefined) {
    name = `sf_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return { name, text, values };
}
