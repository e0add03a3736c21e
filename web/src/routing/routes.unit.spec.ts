import { describe, expect, it } from 'vitest';
import { loginPath, matchRoute, planningPath, safeNextPath } from './routes.js';

describe('matchRoute', () => {
  it.each([
    ['/', { name: 'home' }],
    ['/login', { name: 'login' }],
    ['/projects', { name: 'projects' }],
    ['/projects/', { name: 'projects' }],
    ['/admin/projects/1/planning', { name: 'planning', projectId: 1, area: 'admin' }],
    ['/projects/42/planning', { name: 'planning', projectId: 42, area: 'customer' }],
    ['/projects/42/planning/', { name: 'planning', projectId: 42, area: 'customer' }],
  ])('%s', (path, route) => {
    expect(matchRoute(path)).toEqual(route);
  });

  it.each([
    '/projects/0/planning',
    '/projects/01/planning',
    '/projects/abc/planning',
    '/projects/1',
    '/admin/projects/1',
    '/nope',
    '/projects/99999999999999999/planning',
  ])('%s is not found', (path) => {
    expect(matchRoute(path)).toEqual({ name: 'not_found' });
  });
});

describe('planningPath', () => {
  it('sends admins to the admin area and customers to theirs', () => {
    expect(planningPath(1, 'admin')).toBe('/admin/projects/1/planning');
    expect(planningPath(1, 'customer')).toBe('/projects/1/planning');
  });
});

describe('loginPath and safeNextPath', () => {
  it('round-trips a page through the sign-in page', () => {
    const login = loginPath('/projects/1/planning?x=1');
    expect(safeNextPath(login.slice(login.indexOf('?')))).toBe('/projects/1/planning?x=1');
  });

  it('omits a pointless next', () => {
    expect(loginPath('/')).toBe('/login');
    expect(loginPath('/login')).toBe('/login');
    expect(loginPath()).toBe('/login');
  });

  it.each([
    '',
    '?next=',
    '?next=https://evil.example/',
    '?next=//evil.example',
    '?next=/\\evil.example',
    '?next=/login',
    '?next=javascript:alert(1)',
  ])('falls back for %s', (search) => {
    expect(safeNextPath(search)).toBe('/projects');
  });
});
