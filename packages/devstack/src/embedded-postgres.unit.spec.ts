import { describe, expect, it } from 'vitest';
import { postgresUrl } from './embedded-postgres.js';

describe('postgresUrl', () => {
  it('builds a URL pg understands, encoding every part', () => {
    const url = postgresUrl({ user: 'postgres', password: 'p@ss/w:rd', host: '127.0.0.1', port: 5433, database: 'siteflow' });
    expect(url).toBe('postgres://postgres:p%40ss%2Fw%3Ard@127.0.0.1:5433/siteflow');
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.password)).toBe('p@ss/w:rd');
    expect(parsed.port).toBe('5433');
    expect(parsed.pathname).toBe('/siteflow');
  });

  it('leaves the password out when there is none', () => {
    expect(postgresUrl({ user: 'postgres', host: 'localhost', port: 5432, database: 'postgres' })).toBe(
      'postgres://postgres@localhost:5432/postgres',
    );
  });
});
