import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { addToast, removeToast, type Toast } from './toasts.js';

type ShowToast = (toast: Omit<Toast, 'id'>) => void;
const ToastContext = createContext<ShowToast>(() => {});

/** How long a toast stays; one with an action stays longer, so there is time to reach the button. */
const TOAST_MS = 6_000;
const ACTION_TOAST_MS = 15_000;

/** Toasts in a polite live region: announced, never stealing focus. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);
  const timers = useRef(new Map<number, number>());

  const dismiss = useCallback((id: number) => {
    setToasts((list) => removeToast(list, id));
    const timer = timers.current.get(id);
    if (timer !== undefined) window.clearTimeout(timer);
    timers.current.delete(id);
  }, []);

  const show = useCallback<ShowToast>(
    (toast) => {
      const id = nextId.current++;
      setToasts((list) => addToast(list, { ...toast, id }));
      timers.current.set(
        id,
        window.setTimeout(() => dismiss(id), toast.action ? ACTION_TOAST_MS : TOAST_MS),
      );
    },
    [dismiss],
  );

  useEffect(() => {
    const all = timers.current;
    return () => all.forEach((t) => window.clearTimeout(t));
  }, []);

  const value = useMemo(() => show, [show]);
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.tone}`}>
            <span className="toast-text">{t.text}</span>
            {t.action && (
              <button
                type="button"
                className="button button-quiet toast-action"
                onClick={() => {
                  t.action?.run();
                  dismiss(t.id);
                }}
              >
                {t.action.label}
              </button>
            )}
            <button type="button" className="toast-close" aria-label="Dismiss notification" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ShowToast {
  return useContext(ToastContext);
}
