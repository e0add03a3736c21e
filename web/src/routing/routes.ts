import type { Role } from '@siteflow/contracts';

/** Every page of the app, as the pure result of matching a pathname. */
export type Route =
  | { name: 'home' }
  | { name: 'login' }
  | { name: 'projects' }
  | { name: 'planning'; projectId: number; area: 'admin' | 'customer' }
  | { name: 'not_found' };

const PROJECT_ID = '([1-9][0-9]{0,15})';
const patterns: ReadonlyArray<{ pattern: RegExp; toRoute: (m: RegExpExecArray) => Route | null }> = [
  { pattern: /^\/$/, toRoute: () => ({ name: 'home' }) },
  { pattern: /^\/login$/, toRoute: () => ({ name: 'login' }) },
  { pattern: /^\/projects$/, toRoute: () => ({ name: 'projects' }) },
  { pattern: new RegExp(`^/admin/projects/${PROJECT_ID}/planning$`), toRoute: (m) => planning(m[1], 'admin') },
  { pattern: new RegExp(`^/projects/${PROJECT_ID}/planning$`), toRoute: (m) => planning(m[1], 'customer') },
];

function planning(id: string | undefined, area: 'admin' | 'customer'): Route | null {
  const projectId = Number(id);
  return Number.isSafeInteger(projectId) && projectId > 0 ? { name: 'planning', projectId, area } : null;
}

/** Matches a pathname (a trailing slash is ignored) to a route. */
export function matchRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') || '/' : pathname;
  for (const { pattern, toRoute } of patterns) {
    const m = pattern.exec(path);
    if (m) return toRoute(m) ?? { name: 'not_found' };
  }
  return { name: 'not_found' };
}

/** Admins work in the admin area; customers in their own. Both show the same planning room. */
export function planningPath(projectId: number, role: Role): string {
  return role === 'admin' ? `/admin/projects/${projectId}/planning` : `/projects/${projectId}/planning`;
}

/** Where the sign-in page sends people afterwards; `/login?next=…` for a page that needs a session. */
export function loginPath(next?: string): string {
  return next && next !== '/' && next !== '/login' ? `/login?next=${encodeURIComponent(next)}` : '/login';
}

/**
 * Reads `next` from a query string, accepting only a path on this origin: anything else
 * (`//evil.example`, `https://…`, `/\evil`) would make the sign-in page an open redirect.
 */
export function safeNextPath(search: string, fallback = '/projects'): string {
  const next = new URLSearchParams(search).get('next');
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return fallback;
  if (matchRoute(next.split(/[?#]/)[0] ?? '').name === 'login') return fallback;
  return next;
}
