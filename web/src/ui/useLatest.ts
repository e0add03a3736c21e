import { useLayoutEffect, useRef, type RefObject } from 'react';

/**
 * A ref holding the latest value passed, for callbacks bound once (subscriptions, timers, key
 * handlers) that must act with the current props. It is updated in a layout effect, so before
 * any passive effect or event of the same commit reads it.
 */
export function useLatest<T>(value: T): RefObject<T> {
  const ref = useRef(value);
  useLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}
