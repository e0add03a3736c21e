import { describe, expect, it } from 'vitest';
import { connectionLabel, connectionState } from './connectionState.js';

describe('connectionState', () => {
  it.each([
    [{ online: false, open: true, interrupted: false }, 'offline'],
    [{ online: false, open: false, interrupted: true }, 'offline'],
    [{ online: true, open: true, interrupted: true }, 'connected'],
    [{ online: true, open: false, interrupted: false }, 'connecting'],
    [{ online: true, open: false, interrupted: true }, 'reconnecting'],
  ] as const)('%o → %s', (facts, state) => {
    expect(connectionState(facts)).toBe(state);
  });

  it('labels the badge as the E2E tests expect', () => {
    expect(connectionLabel.connected).toBe('Connected');
    expect(connectionLabel.reconnecting).toBe('Reconnecting…');
    expect(connectionLabel.offline).toBe('Offline');
  });
});
