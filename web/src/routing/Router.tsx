import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type AnchorHTMLAttributes,
  type MouseEvent,
  type ReactNode,
} from 'react';
import { isPlainLeftClick } from './linkClick.js';
import { matchRoute, type Route } from './routes.js';

interface Location {
  pathname: string;
  search: string;
}

interface RouterValue {
  location: Location;
  route: Route;
  navigate: (to: string, options?: { replace?: boolean }) => void;
}

const RouterContext = createContext<RouterValue | null>(null);

const currentLocation = (): Location => ({ pathname: window.location.pathname, search: window.location.search });

/** A tiny history-API router: the URL is the state, `popstate` and `navigate` update it. */
export function RouterProvider({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState(currentLocation);

  useEffect(() => {
    const onPopState = () => setLocation(currentLocation());
    window.addEventListener('popstate', onPopState);
    return () => window.removeEventListener('popstate', onPopState);
  }, []);

  const navigate = useCallback((to: string, options?: { replace?: boolean }) => {
    const url = new URL(to, window.location.origin);
    if (url.origin !== window.location.origin) throw new Error(`refusing to navigate off-site: ${to}`);
    const target = url.pathname + url.search + url.hash;
    if (target === window.location.pathname + window.location.search + window.location.hash) return;
    if (options?.replace) window.history.replaceState(null, '', target);
    else window.history.pushState(null, '', target);
    setLocation(currentLocation());
    if (!options?.replace) window.scrollTo(0, 0);
  }, []);

  const value = useMemo(() => ({ location, route: matchRoute(location.pathname), navigate }), [location, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  const router = useContext(RouterContext);
  if (!router) throw new Error('useRouter outside <RouterProvider>');
  return router;
}

/** Renders nothing and replaces the current entry: for redirects decided while rendering. */
export function Redirect({ to }: { to: string }) {
  const { navigate } = useRouter();
  useEffect(() => navigate(to, { replace: true }), [navigate, to]);
  return null;
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string };

/** An ordinary `<a href>` (so open-in-new-tab works) whose plain clicks stay in the app. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const { navigate } = useRouter();
  const handleClick = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    const { button, defaultPrevented, metaKey, altKey, ctrlKey, shiftKey } = e;
    if (!isPlainLeftClick({ button, defaultPrevented, metaKey, altKey, ctrlKey, shiftKey, target: e.currentTarget.target })) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handleClick} {...rest} />;
}
