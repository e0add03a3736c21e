import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, createProcessLogger, type LogDestination } from './logger.js';

/** A destination that keeps what is written, and says whether it is a terminal. */
function output(isTTY: boolean): { destination: LogDestination; text: () => string } {
  const chunks: string[] = [];
  const destination: LogDestination = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    }),
    { isTTY },
  );
  return { destination, text: () => chunks.join('') };
}

const ESC = String.fromCharCode(27);

describe('chooseLogFormat', () => {
  it('is pretty on a terminal and JSON elsewhere, unless LOG_FORMAT says otherwise', () => {
    expect(chooseLogFormat(undefined, true)).toBe('pretty');
    expect(chooseLogFormat(undefined, false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
    expect(() => chooseLogFormat('xml', true)).toThrow('LOG_FORMAT must be json or pretty, not "xml"');
  });
});

describe("a process's logger", () => {
  const service = { service: 'chat', instance: 'h-7', level: 'info' };

  it('writes JSON lines when not on a terminal', async () => {
    const out = output(false);
    const logger = await createProcessLogger({ ...service, destination: out.destination });
    logger.error({ command: 'chat.message.post', user: 7 }, 'handler failed');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 50,
      service: 'chat',
      instance: 'h-7',
      command: 'chat.message.post',
      user: 7,
      msg: 'handler failed',
    });
  });

  it('writes one readable, coloured line per entry on a terminal: time, level, service, message, the fields it concerns', async () => {
    const out = output(true);
    const logger = await createProcessLogger({ ...service, destination: out.destination });
    logger.error({ command: 'chat.message.post', user: 7 }, 'handler failed');
    const text = out.text();
    expect(text).toContain(ESC); // coloured for a terminal
    // eslint-disable-next-line no-control-regex -- the colour codes are what is removed
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: chat \| handler failed \{"command":"chat\.message\.post","user":7\}\n$/);
    expect(plain).not.toContain('"instance"');
    expect(plain).not.toContain('"pid"');
  });

  it('LOG_FORMAT=json on a terminal writes JSON; LOG_FORMAT=pretty elsewhere writes readable lines without colour', async () => {
    const tty = output(true);
    (await createProcessLogger({ ...service, format: 'json', destination: tty.destination })).info('listening');
    expect(JSON.parse(tty.text())).toMatchObject({ msg: 'listening', service: 'chat' });

    const pipe = output(false);
    (await createProcessLogger({ ...service, format: 'pretty', destination: pipe.destination })).warn({ durable: 'd' }, 'slow');
    expect(pipe.text()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: chat \| slow \{"durable":"d"\}\n$/);
  });

  it('keeps the level', async () => {
    const out = output(false);
    const logger = await createProcessLogger({ ...service, level: 'warn', destination: out.destination });
    logger.info('not shown');
    logger.debug('nor this');
    expect(out.text()).toBe('');
  });
});
