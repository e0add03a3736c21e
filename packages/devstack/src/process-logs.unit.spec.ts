import { describe, expect, it } from 'vitest';
import { ProcessLogFormatter } from './process-logs.js';

// chooseLogFormat (LOG_FORMAT, terminal or not) is @siteflow/telemetry's: logger.unit.spec.ts.

const entry = JSON.stringify({
  level: 30,
  time: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  pid: 7,
  hostname: 'h',
  service: 'chat',
  instance: 'h-7',
  msg: 'chat service listening',
  queue: 'chat',
});

describe('ProcessLogFormatter', () => {
  it('pretty: one readable line per pino entry, named by the process, without pid, host or instance', () => {
    const line = new ProcessLogFormatter('pretty').processLine('chat', entry);
    expect(line).toMatch(/^chat {6}\| \[\d\d:\d\d:\d\d\.006\] INFO: chat service listening \{"queue":"chat"\}\n$/);
    expect(line.split('\n')).toHaveLength(2);
  });

  it('pretty: other output is shown as it is', () => {
    expect(new ProcessLogFormatter('pretty').processLine('gateway', '    at main (file.js:1:1)')).toBe(
      'gateway   |     at main (file.js:1:1)\n',
    );
  });

  it('json: pino entries pass through unchanged; other output becomes an entry of the process', () => {
    const logs = new ProcessLogFormatter('json');
    expect(logs.processLine('chat', entry)).toBe(`${entry}\n`);
    const wrapped = JSON.parse(logs.processLine('gateway', 'Error: boom')) as Record<string, unknown>;
    expect(wrapped).toMatchObject({ level: 30, service: 'gateway', msg: 'Error: boom' });
    expect(typeof wrapped.time).toBe('number');
  });

  it("its own lines: pino levels in JSON, the level's name when pretty", () => {
    expect(JSON.parse(new ProcessLogFormatter('json').ownLine('nats', 'warn', 'exited (SIGKILL)'))).toMatchObject({
      level: 40,
      service: 'start',
      process: 'nats',
      msg: 'exited (SIGKILL)',
    });
    expect(new ProcessLogFormatter('pretty').ownLine('nats', 'warn', 'exited (SIGKILL)')).toMatch(
      /^nats {6}\| \[[\d:.]+\] WARN: exited \(SIGKILL\)\n$/,
    );
  });
});
