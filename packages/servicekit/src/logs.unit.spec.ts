import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handle, observeCommands } from './handle.js';
import { PinoNestLogger } from './logger.js';

/** A pino logger writing JSON lines into an array. */
function capture(level = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

const levelOf = (n: unknown) => pino.levels.labels[n as number];

describe("Nest's own log lines", () => {
  it('bootstrap narration is at debug; anything else Nest says keeps its level', () => {
    const { logger, lines } = capture();
    const nest = new PinoNestLogger(logger);
    for (const context of ['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestMicroservice'])
      nest.log(`${context} says hello`, context);
    nest.log('a handler said something', 'ChatController');
    nest.log('no context');
    nest.error('it broke', 'stack', 'NestMicroservice');
    expect(lines.map((l) => [l.context, levelOf(l.level)])).toEqual([
      ['NestFactory', 'debug'],
      ['InstanceLoader', 'debug'],
      ['RoutesResolver', 'debug'],
      ['RouterExplorer', 'debug'],
      ['NestMicroservice', 'debug'],
      ['ChatController', 'info'],
      [undefined, 'info'],
      ['NestMicroservice', 'error'],
    ]);
  });
});

describe('handle()', () => {
  const input = z.object({
    ctx: z.object({ user_id: z.number(), connection_id: z.string(), project_id: z.number() }),
    payload: z.object({}),
  });
  const raw = { ctx: { user_id: 7, connection_id: 'conn-1', project_id: 3 }, payload: {} };

  it('an error line names what it concerns: the command, the user, the connection, the project', async () => {
    const { logger, lines } = capture();
    const reply = await handle(logger, 'chat.message.post', input, raw, async () => Promise.reject(new TypeError('x is undefined')));
    expect(reply).toMatchObject({ ok: false, error: { code: 'internal' } });
    const line = lines.find((l) => levelOf(l.level) === 'error')!;
    expect(line).toMatchObject({ msg: 'handler failed', command: 'chat.message.post', user: 7, connection: 'conn-1', project: 3 });
  });

  it('tells the command observer of every command: subject, outcome, duration', async () => {
    const seen: Array<[string, string, number]> = [];
    observeCommands((command, outcome, seconds) => seen.push([command, outcome, seconds]));
    try {
      const { logger } = capture('silent');
      await handle(logger, 'a.ok', input, raw, () => Promise.resolve('done'));
      await handle(logger, 'a.bad', input, { nope: true }, () => Promise.resolve('never'));
      await handle(logger, 'a.broken', input, raw, async () => Promise.reject(new Error('bug')));
    } finally {
      observeCommands(null);
    }
    expect(seen.map(([c, o]) => [c, o])).toEqual([
      ['a.ok', 'ok'],
      ['a.bad', 'invalid_payload'],
      ['a.broken', 'internal'],
    ]);
    for (const [, , seconds] of seen) expect(seconds).toBeGreaterThanOrEqual(0);
  });
});
