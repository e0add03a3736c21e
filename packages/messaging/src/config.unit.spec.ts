import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { booleanFlag, loadConfig, parseConfig } from './config.js';

const Schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  DATABASE_URL: z.url(),
  DEV_LOGIN: booleanFlag.default(false),
});

describe('the config loader', () => {
  afterEach(() => vi.restoreAllMocks());

  it('parses the environment: defaults, coercion, flags', () => {
    expect(parseConfig(Schema, { DATABASE_URL: 'postgres://db/x', DEV_LOGIN: 'yes' })).toEqual({
      ok: true,
      config: { PORT: 4000, DATABASE_URL: 'postgres://db/x', DEV_LOGIN: true },
    });
    expect(parseConfig(Schema, { DATABASE_URL: 'postgres://db/x', PORT: '81', DEV_LOGIN: '0' })).toMatchObject({
      config: { PORT: 81, DEV_LOGIN: false },
    });
  });

  it('names every offending variable', () => {
    const result = parseConfig(Schema, { PORT: 'eighty', DEV_LOGIN: 'maybe' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toMatch(/^invalid configuration: /);
    expect(result.message).toMatch(/PORT: /);
    expect(result.message).toMatch(/DATABASE_URL: /);
    expect(result.message).toMatch(/DEV_LOGIN: /);
  });

  it('refuses to start on bad config: the message on stderr, exit status 78', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`exit ${String(code)}`);
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(() => loadConfig(Schema, { DATABASE_URL: 'postgres://db/x', PORT: '70000' })).toThrow('exit 78');
    expect(exit).toHaveBeenCalledWith(78);
    expect(stderr).toHaveBeenCalledWith(expect.stringMatching(/^invalid configuration: PORT: .*\n$/));
  });
});
