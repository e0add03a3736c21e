import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { escapeLiteral, sqlLiteral } from './prepared.js';

describe('escapeLiteral', () => {
  it("writes any text exactly as node-postgres's escapeLiteral does", () => {
    const quotesAndBackslashes = fc.string({ unit: fc.constantFrom("'", '\\', 'a', 'é', '"', '\n', ' ') });
    for (const texts of [fc.string(), fc.string({ unit: 'grapheme' }), quotesAndBackslashes])
      fc.assert(
        fc.property(texts, (text) => {
          expect(escapeLiteral(text)).toBe(pg.escapeLiteral(text));
        }),
        { numRuns: 2_000 },
      );
  });

  it('quotes the edge cases as Postgres reads them', () => {
    expect(escapeLiteral('')).toBe("''");
    expect(escapeLiteral("it's")).toBe("'it''s'");
    expect(escapeLiteral('C:\\path')).toBe(" E'C:\\\\path'");
    expect(escapeLiteral("\\'")).toBe(" E'\\\\'''");
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral({ content: "a 'quoted' \\ word" })).toBe(` E'{"content":"a ''quoted'' \\\\\\\\ word"}'`);
  });
});
