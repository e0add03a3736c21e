import { SignJWT } from 'jose';
import type { NatsConnection } from '@nats-io/transport-node';
import { CREATE_PROJECT_SUBJECT } from '@siteflow/contracts';
import { DEMO_USERS } from '@siteflow/demo';
import { callService } from '@siteflow/messaging';

export interface BenchUser {
  id: number;
  username: string;
  role: 'admin' | 'customer';
  projectId: number;
  token: string;
}

/** Mints a session token the gateway accepts (the bench started the gateway and knows its secret). */
export function mintToken(secret: string, user: { id: number; username: string; role: 'admin' | 'customer' }): Promise<string> {
  return new SignJWT({ name: user.username, role: user.role, avatar_url: `/avatars/${user.username}.svg` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(user.id))
    .setIssuer('siteflow')
    .setAudience('siteflow-collab')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret));
}

/**
 * Creates projects firstProjectId…+N-1 (default 2…N+1) with `perProject` members each (the first an
 * admin; user ids from `firstUserId`, default 1000), through the documents service.
 */
export async function createProjects(
  nats: NatsConnection,
  secret: string,
  projects: number,
  perProject: number,
  opts: { firstProjectId?: number; firstUserId?: number } = {},
): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  for (let p = 0; p < projects; p++) {
    const projectId = p + (opts.firstProjectId ?? 2);
    const members = Array.from({ length: perProject }, (_, i) => {
      const id = (opts.firstUserId ?? 1000) + p * perProject + i;
      return {
        user_id: id,
        username: `u${id}`,
        role: i === 0 ? ('admin' as const) : ('customer' as const),
        avatar_url: `/avatars/u${id}.svg`,
      };
    });
    await createProject(nats, projectId, `Bench project ${projectId}`, members);
    for (const m of members)
      users.push({
        id: m.user_id,
        username: m.username,
        role: m.role,
        projectId,
        token: await mintToken(secret, { id: m.user_id, username: m.username, role: m.role }),
      });
  }
  return users;
}

/**
 * Creates projects `ids` (a few at a time) whose members are the demo users, for scenarios that
 * spread many sockets of few users over many rooms.
 */
export async function createDemoMemberProjects(nats: NatsConnection, ids: number[]): Promise<void> {
  const members = DEMO_USERS.map((u) => ({ user_id: u.id, username: u.username, role: u.role, avatar_url: u.avatar_url }));
  let next = 0;
  const worker = async () => {
    for (let projectId = ids[next++]; projectId !== undefined; projectId = ids[next++]) {
      await createProject(nats, projectId, `Bench room ${projectId}`, members);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

type Member = { user_id: number; username: string; role: 'admin' | 'customer'; avatar_url: string };

/** `documents.project.create`, asked by the project's first admin member (as an admin tool would). */
async function createProject(nats: NatsConnection, projectId: number, name: string, members: Member[]): Promise<void> {
  const admin = members.find((m) => m.role === 'admin');
  if (!admin) throw new Error(`project ${projectId} needs an admin member`);
  await callService(
    nats,
    CREATE_PROJECT_SUBJECT,
    {
      ctx: {
        user_id: admin.user_id,
        username: admin.username,
        role: 'admin',
        avatar_url: admin.avatar_url,
        connection_id: 'bench',
        project_id: projectId,
      },
      payload: { project_id: projectId, name, members },
    },
    { timeoutMs: 30_000 },
  );
}

/**
 * The ids of a room's documents, from its join snapshot (in id order): the documents service
 * allocates them, so they cannot be derived from the project id.
 */
export const documentIdsOf = (snapshot: { documents?: Array<{ id: number }> }): number[] => (snapshot.documents ?? []).map((d) => d.id);
