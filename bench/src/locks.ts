import { PhxClient } from './phx-client.js';
import { summarize, type LatencySummary } from './stats.js';
import { documentIdsOf, type BenchUser } from './users.js';

export interface LocksResult {
  /** One client taking and releasing a free lock, again and again. */
  uncontended: LatencySummary;
  /** `contenders` clients asking for the same lock at once, each round. */
  contended: LatencySummary;
  contenders: number;
  rounds: number;
  /** Rounds in which exactly one request won (must be all of them). */
  roundsWithOneWinner: number;
}

export async function runLocks(socketUrl: string, users: BenchUser[], opts: { rounds: number }): Promise<LocksResult> {
  const projectId = users[0]?.projectId;
  if (projectId === undefined) throw new Error('no users');
  const team = users.filter((u) => u.projectId === projectId);
  // Document ids come from the room's snapshot (the documents service allocates them).
  let snapshot: { documents?: Array<{ id: number }> } = {};
  const clients = await Promise.all(
    team.map(async (u) => {
      const c = await PhxClient.connect(socketUrl, u.token);
      snapshot = (await c.join(`project:${projectId}`)) as typeof snapshot;
      return c;
    }),
  );
  const topic = `project:${projectId}`;
  const [docA, docB] = documentIdsOf(snapshot);
  if (docA === undefined || docB === undefined) throw new Error(`project ${projectId} has fewer than two documents`);
  const [first] = clients;
  if (!first) throw new Error(`project ${projectId} has no members`);
  try {
    const uncontended: number[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      const t0 = performance.now();
      const r = await first.push(topic, 'document:start_editing', { document_id: docA });
      uncontended.push(performance.now() - t0);
      if (r.status !== 'ok') throw new Error(`uncontended lock refused: ${JSON.stringify(r.response)}`);
      await first.push(topic, 'document:stop_editing', { document_id: docA });
    }
    const contended: number[] = [];
    let oneWinner = 0;
    for (let i = 0; i < opts.rounds; i++) {
      const results = await Promise.all(
        clients.map(async (c) => {
          const t0 = performance.now();
          const r = await c.push(topic, 'document:start_editing', { document_id: docB });
          contended.push(performance.now() - t0);
          return { c, ok: r.status === 'ok' };
        }),
      );
      const winners = results.filter((r) => r.ok);
      if (winners.length === 1) oneWinner++;
      for (const w of winners) await w.c.push(topic, 'document:stop_editing', { document_id: docB });
    }
    return {
      uncontended: summarize(uncontended),
      contended: summarize(contended),
      contenders: clients.length,
      rounds: opts.rounds,
      roundsWithOneWinner: oneWinner,
    };
  } finally {
    for (const c of clients) c.close();
  }
}
