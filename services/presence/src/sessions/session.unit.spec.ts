import { describe, it } from 'vitest';
import { deciderSpec } from '@siteflow/testing/decider';
import { decide, evolve, initialSessionState, type SessionCommand, type SessionEvent } from './session.js';

const t0 = new Date('2026-11-24T10:00:00.000Z');
const t1 = new Date('2026-11-24T10:30:00.000Z');
const who = { connection_id: 'c-1', user_id: 2, project_id: 1 };
const joined: SessionEvent = { type: 'SessionJoined', data: { ...who, joined_at: t0.toISOString() } };
const join: SessionCommand = { type: 'JoinSession', data: { connectionId: 'c-1', userId: 2, projectId: 1, now: t0 } };

const given = deciderSpec({ decide, evolve, initialState: initialSessionState });

describe('presence session decider', () => {
  it('a connection joining a room starts a session', () => {
    given([]).when(join).then([joined]);
  });

  it('a session starts once', () => {
    given([joined]).when(join).thenFails('already_exists');
  });

  it('leaving ends the session with when it left', () => {
    given([joined])
      .when({ type: 'LeaveSession', data: { now: t1 } })
      .then([{ type: 'SessionLeft', data: { ...who, left_at: t1.toISOString() } }]);
  });

  it('the sweep evicts a connection its gateway stopped refreshing', () => {
    given([joined])
      .when({ type: 'EvictConnection', data: { now: t1 } })
      .then([{ type: 'ConnectionEvicted', data: { ...who, evicted_at: t1.toISOString() } }]);
  });

  it('a session ends once: a late leave after an eviction, or the reverse, records nothing', () => {
    const evicted: SessionEvent = { type: 'ConnectionEvicted', data: { ...who, evicted_at: t1.toISOString() } };
    given([joined, evicted])
      .when({ type: 'LeaveSession', data: { now: t1 } })
      .then([]);
    given([joined, { type: 'SessionLeft', data: { ...who, left_at: t1.toISOString() } }])
      .when({ type: 'EvictConnection', data: { now: t1 } })
      .then([]);
  });

  it('nothing to end before a session started', () => {
    given([])
      .when({ type: 'LeaveSession', data: { now: t1 } })
      .then([]);
  });
});
