import { describe, expect, it } from 'vitest';
import { connectionSettings } from './pool.js';

describe('connectionSettings', () => {
  it('bounds every connection and asks the server for keepalive probes', () => {
    const c = connectionSettings('postgres://u:p@db:5432/siteflow', { keepAliveIdleMs: 9_000, statementTimeoutMs: 2_000 });
    expect(c).toMatchObject({
      connectionString: 'postgres://u:p@db:5432/siteflow',
      options: '-c tcp_keepalives_idle=9 -c tcp_keepalives_interval=3 -c tcp_keepalives_count=3',
      statement_timeout: 2_000,
      query_timeout: 15_000,
      idle_in_transaction_session_timeout: 10_000,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 9_000,
    });
  });

  it("keeps the URL's own options (pg would let them replace ours) and adds the keepalive ones to them", () => {
    const c = connectionSettings('postgres://u@db/siteflow?options=-c%20search_path%3Dchat&sslmode=disable');
    expect(c.options).toBeUndefined();
    const url = new URL(c.connectionString!);
    expect(url.searchParams.get('options')).toBe(
      '-c search_path=chat -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=4 -c tcp_keepalives_count=3',
    );
    expect(url.searchParams.get('sslmode')).toBe('disable');
  });
});
