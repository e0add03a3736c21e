import { describe, expect, it } from 'vitest';
import { fetchProjectList, parseProjectList, ProjectListError, statusLabel } from './projectList.js';

const reply = (status: number, body: unknown) =>
  (() => Promise.resolve(new Response(JSON.stringify(body), { status }))) as unknown as typeof fetch;

describe('project list', () => {
  it('asks GET /api/projects with the bearer token and keeps the well-formed projects', async () => {
    let asked: [string, RequestInit | undefined] | null = null;
    const fetchImpl = ((url: string, init?: RequestInit) => {
      asked = [url, init];
      return Promise.resolve(
        new Response(
          JSON.stringify({
            projects: [
              { id: 7, name: 'Webshop', status: 'in_progress', role: 'customer', updated_at: '2026-12-01T10:00:00.000Z' },
              { id: 'x', name: 'broken' },
            ],
          }),
          { status: 200 },
        ),
      );
    }) as unknown as typeof fetch;
    expect(await fetchProjectList('tok', fetchImpl)).toEqual([
      { id: 7, name: 'Webshop', status: 'in_progress', role: 'customer', updated_at: '2026-12-01T10:00:00.000Z' },
    ]);
    expect(asked).toEqual(['/api/projects', { headers: { authorization: 'Bearer tok' } }]);
  });

  it('a refused token means signing in again; other failures say so', async () => {
    await expect(fetchProjectList('tok', reply(401, { code: 'unauthorized', message: 'expired' }))).rejects.toMatchObject({
      signedOut: true,
    });
    await expect(fetchProjectList('tok', reply(503, { code: 'unavailable', message: 'down' }))).rejects.toThrow(/HTTP 503/);
    await expect(fetchProjectList('tok', reply(200, { nope: true }))).rejects.toBeInstanceOf(ProjectListError);
    const offline = (() => Promise.reject(new TypeError('failed to fetch'))) as unknown as typeof fetch;
    await expect(fetchProjectList('tok', offline)).rejects.toThrow(/cannot be reached/);
  });

  it('parses an empty list and labels statuses', () => {
    expect(parseProjectList({ projects: [] })).toEqual([]);
    expect(parseProjectList(null)).toBeNull();
    expect([statusLabel('in_progress'), statusLabel('on_hold'), statusLabel('planning')]).toEqual(['In progress', 'On hold', 'Planning']);
  });
});
