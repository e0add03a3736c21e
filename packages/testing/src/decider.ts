import { expect } from 'vitest';
import { AppError } from '@siteflow/contracts';

/**
 * given/when/then for a decider (emmett's DeciderSpecification): `given(events).when(command)
 * .then(events)` or `.thenFails(code)`. Pure: no I/O, for `*.unit.spec.ts`.
 */
export function deciderSpec<S, C, E>(decider: {
  decide: (command: C, state: S) => E[];
  evolve: (state: S, event: E) => S;
  initialState: S;
}) {
  return function given(events: E[]) {
    const state = events.reduce(decider.evolve, decider.initialState);
    return {
      when: (command: C) => ({
        then: (expected: E[]) => expect(decider.decide(command, state)).toEqual(expected),
        thenFails: (code: string) => {
          try {
            decider.decide(command, state);
            expect.unreachable('decide should have refused the command');
          } catch (e) {
            expect(e).toBeInstanceOf(AppError);
            expect((e as AppError).code).toBe(code);
          }
        },
      }),
    };
  };
}
