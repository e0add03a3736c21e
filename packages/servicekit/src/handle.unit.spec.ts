import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { handle } from './handle.js';

const logger = pino({ level: 'silent' });
const failingWith = (err: Error) => handle(logger, 'test.subject', z.object({}), {}, async () => Promise.reject(err));
const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('handle: a database outage is unavailable, not internal', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a reset connection', withCode('read ECONNRESET', 'ECONNRESET')],
    ['a connection that ended', new Error('Connection terminated unexpectedly')],
    ['an exhausted pool', new Error('timeout exceeded when trying to connect')],
    ['a query the server never answered', new Error('Query read timeout')],
    ['a statement timeout', withCode('canceling statement due to statement timeout', '57014')],
    ['a server shutting down', withCode('terminating connection due to administrator command', '57P01')],
    ['a server starting up', withCode('the database system is starting up', '57P03')],
    ['too many connections', withCode('sorry, too many clients already', '53300')],
  ])('%s', async (_, err) => {
    const reply = await failingWith(err);
    expect(reply).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    if (!reply.ok) expect(reply.error.message).toMatch(/database.*try again/);
  });

  it('a bug stays internal, and a constraint violation is not mistaken for an outage', async () => {
    expect(await failingWith(new TypeError('x is undefined'))).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(await failingWith(withCode('duplicate key value violates unique constraint', '23505'))).toMatchObject({
      ok: false,
      error: { code: 'internal' },
    });
  });
});
