import { describe, expect, it } from 'vitest';
import type { PresenceMeta } from '@siteflow/contracts';
import { withOwnMeta } from './presence-tracker.js';

const meta = (ref: string, user_id = 1): PresenceMeta => ({
  phx_ref: ref,
  user_id,
  username: user_id === 1 ? 'alice' : 'bob',
  avatar_url: '',
  role: 'customer',
  online_at: '2026-11-24T10:00:00.000Z',
  current_document: null,
  editing: false,
  editing_since: null,
});

describe("the joiner's presence_state", () => {
  it('adds the connection just tracked to the snapshot that predates it', () => {
    const state = { '2': { metas: [meta('b1', 2)] }, '1': { metas: [meta('a1')] } };
    expect(withOwnMeta(state, { meta: meta('a2'), replaced_phx_ref: null })).toEqual({
      '2': { metas: [meta('b1', 2)] },
      '1': { metas: [meta('a1'), meta('a2')] },
    });
  });

  it('on a rejoin of the same connection, replaces its previous meta instead of doubling it', () => {
    const state = { '1': { metas: [meta('a1'), meta('a-old')] } };
    expect(withOwnMeta(state, { meta: meta('a-new'), replaced_phx_ref: 'a-old' })).toEqual({ '1': { metas: [meta('a1'), meta('a-new')] } });
  });

  it('does not repeat a meta the snapshot already holds', () => {
    expect(withOwnMeta({ '1': { metas: [meta('a1')] } }, { meta: meta('a1'), replaced_phx_ref: null })).toEqual({
      '1': { metas: [meta('a1')] },
    });
  });
});
