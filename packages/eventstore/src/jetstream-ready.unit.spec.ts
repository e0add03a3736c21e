import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { JetStreamApiError } from '@nats-io/jetstream';
import { errors as natsErrors, NoRespondersError, RequestError } from '@nats-io/transport-node';
import { JetStreamNotReadyError, retryWhileJetStreamForms, transientJetStreamReason } from './jetstream-ready.js';

const apiError = (code: number, err_code: number, description: string) => new JetStreamApiError({ code, err_code, description });

/** What the client throws for a JetStream request nobody answered (it does not export the class). */
function jetStreamNotEnabled(cause: unknown): Error {
  const err = new Error('jetstream is not enabled', { cause });
  err.name = 'JetStreamNotEnabled';
  return err;
}

describe('transientJetStreamReason', () => {
  it('waits out what a forming or re-electing cluster answers', () => {
    expect(transientJetStreamReason(new natsErrors.TimeoutError())).toMatch(/timed out/);
    expect(transientJetStreamReason(new RequestError('no responders', { cause: new NoRespondersError('$JS.API.INFO') }))).toMatch(
      /no JetStream responders/,
    );
    expect(
      transientJetStreamReason(jetStreamNotEnabled(new RequestError('no responders', { cause: new NoRespondersError('$JS.API.INFO') }))),
    ).toMatch(/no JetStream responders/);
    expect(transientJetStreamReason(apiError(503, 10008, 'JetStream system temporarily unavailable'))).toMatch(/no meta leader/);
    expect(transientJetStreamReason(apiError(400, 10005, 'no suitable peers for placement'))).toMatch(/not every node has joined/);
    expect(transientJetStreamReason(apiError(503, 10023, 'insufficient resources'))).toMatch(/not every node has joined/);
    expect(transientJetStreamReason(apiError(503, 10999, 'something new and temporary'))).toMatch(/temporarily unavailable/);
  });

  it('does not wait out a refusal: conflicting settings, permissions, JetStream off for the account, a missing stream', () => {
    expect(transientJetStreamReason(apiError(500, 10065, 'subjects overlap with an existing stream'))).toBeNull();
    expect(transientJetStreamReason(apiError(500, 10058, 'stream name already in use with a different configuration'))).toBeNull();
    expect(transientJetStreamReason(apiError(500, 10074, 'replicas > 1 not supported in non-clustered mode'))).toBeNull();
    expect(transientJetStreamReason(apiError(404, 10059, 'stream not found'))).toBeNull();
    expect(transientJetStreamReason(jetStreamNotEnabled(apiError(503, 10039, 'jetstream not enabled for account')))).toBeNull();
    expect(
      transientJetStreamReason(
        new natsErrors.PermissionViolationError(
          'Permissions Violation for Publish to "$JS.API.STREAM.CREATE.X"',
          'publish',
          '$JS.API.STREAM.CREATE.X',
        ),
      ),
    ).toBeNull();
  });
});

describe('retryWhileJetStreamForms', () => {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });

  it('asks again while the answer is "not yet", says what it waits for, and returns the first success', async () => {
    lines.length = 0;
    let calls = 0;
    const result = await retryWhileJetStreamForms(
      'creating the stream S',
      () => {
        calls++;
        if (calls < 3) return Promise.reject(apiError(503, 10008, 'JetStream system temporarily unavailable'));
        return Promise.resolve('created');
      },
      { logger, minDelayMs: 1, maxDelayMs: 2, timeoutMs: 5_000 },
    );
    expect(result).toBe('created');
    expect(calls).toBe(3);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^waiting for JetStream: creating the stream S failed \(the JetStream cluster has no meta leader yet/),
      'JetStream ready: creating the stream S succeeded after 3 tries',
    ]);
  });

  it('throws a refusal at once, untouched', async () => {
    const refusal = apiError(500, 10065, 'subjects overlap with an existing stream');
    let calls = 0;
    await expect(
      retryWhileJetStreamForms(
        'creating the stream S',
        () => {
          calls++;
          return Promise.reject(refusal);
        },
        { logger, minDelayMs: 1 },
      ),
    ).rejects.toBe(refusal);
    expect(calls).toBe(1);
  });

  it('gives up after its bound with an error naming what it waited for and why', async () => {
    const started = Date.now();
    const err: unknown = await retryWhileJetStreamForms('creating the stream S', () => Promise.reject(new natsErrors.TimeoutError()), {
      logger,
      minDelayMs: 10,
      maxDelayMs: 20,
      timeoutMs: 200,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamNotReadyError);
    expect((err as Error).message).toMatch(
      /^JetStream was not ready within \d+ s: creating the stream S kept failing \(a JetStream API request timed out/,
    );
    expect((err as Error).cause).toBeInstanceOf(natsErrors.TimeoutError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
