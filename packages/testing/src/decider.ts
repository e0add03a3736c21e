import { expect } from 'vitest';
import { AppError } from '@siteflow/contracts';

/**
 * given/when/then for a decider (emmett's DeciderSpecification), the one every service's decider
 * tests use: `given(events).when(command).then(events)` or `.thenFails(code, message?|details?)`.
 * `start` is the state the events apply to, for deciders whose state is partly loaded from read
 * models (a room's members). Pure: no I/O, for `*.unit.spec.ts`.
 */
export function deciderSpec<S, C, E>(decider: {
  decide: (command: C, state: S) => E[];
  evolve: (state: S, event: E) => S;
  initialState: S;
}) {
  return function given(events: E[], start: S = decider.initialState) {
    const state = events.reduce(decider.evolve, start);
    return {
      state,
      when: (command: C) => ({
        then: (expected: E[]) => expect(decider.decide(command, state)).toEqual(expected),
        /** Refused with `code`; and a message matching the RegExp, or exactly these details. */
        thenFails: (code: string, expected?: RegExp | Record<string, unknown>) => {
          try {
            decider.decide(command, state);
            expect.unreachable('decide should have refused the command');
          } catch (e) {
            expect(e).toBeInstanceOf(AppError);
            const error = e as AppError;
            expect(error.code).toBe(code);
            if (expected instanceof RegExp) expect(error.message).toMatch(expected);
            else if (expected) expect(error.details).toEqual(expected);
          }
        },
      }),
    };
  };
}
