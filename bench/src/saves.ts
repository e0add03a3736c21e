import { parseExposition, valueOf } from '@siteflow/testing';
import { CpuMeter, cpuMsPer } from './cpu.js';
import { PhxClient } from './phx-client.js';
import { markerOf } from './room.js';
import { summarize, type LatencySummary } from './stats.js';
import { documentIdsOf, type BenchUser } from './users.js';

export interface SavesResult {
  saves: number;
  contentKiB: number;
  /** Members joined to the room besides the editor: each receives every `document:updated`. */
  watchers: number;
  /** `document:save` push → its reply (stored). */
  reply: LatencySummary;
  /** `document:save` push → each watcher's `document:updated`. */
  delivery: LatencySummary;
  cpuSeconds: Record<string, number>;
  cpuMsPerSave: Record<string, number>;
  /** Then as many `document:heartbeat`s, one at a time, on the saved document: push → reply. */
  heartbeatReply: LatencySummary;
  cpuMsPerHeartbeat: Record<string, number>;
  /**
   * How the gateway took the saves' events (its /metrics, over the saves): from the service's fast
   * copy, from the relay's (fast copy skipped), and the copies dropped as already had; null if unread.
   */
  copies: { fastDelivered: number; fastSkipped: number; duplicatesDropped: number } | null;
}

const COPY_COUNTERS = {
  fastDelivered: 'siteflow_gateway_fast_copies_delivered_total',
  fastSkipped: 'siteflow_gateway_fast_copies_skipped_total',
  duplicatesDropped: 'siteflow_gateway_projection_duplicates_dropped_total',
} as const;

/** The gateway's projection-copy counters so far (its /metrics); null if unread. */
async function copyCounters(gatewayUrl: string): Promise<NonNullable<SavesResult['copies']> | null> {
  try {
    const samples = parseExposition(await (await fetch(`${gatewayUrl}/metrics`)).text());
    return {
      fastDelivered: valueOf(samples, COPY_COUNTERS.fastDelivered),
      fastSkipped: valueOf(samples, COPY_COUNTERS.fastSkipped),
      duplicatesDropped: valueOf(samples, COPY_COUNTERS.duplicatesDropped),
    };
  } catch (err) {
    process.stderr.write(`gateway /metrics: ${String(err)}\n`);
    return null;
  }
}

/**
 * What a large document save costs (the issue's known costs: a save's content in its event, its
 * broadcast and its rows, and every consumer of documents' events receives it). One editor takes a
 * lock and saves `saves` times, one at a time, a new content of `contentKiB` KiB each time, while
 * the other members watch; reply and delivery latency, and the CPU every process spent a save.
 * Then it renews its lock as many times (the editor's heartbeat, every 30 s in the app): what a
 * lock command on a large document costs.
 */
export async function runSaves(
  socketUrl: string,
  members: BenchUser[],
  opts: { saves: number; contentKiB: number; cpu: Record<string, () => number[]>; gatewayUrl: string },
): Promise<SavesResult> {
  const [editor, ...others] = members;
  if (!editor) throw new Error('no members');
  const topic = `project:${editor.projectId}`;
  const sent = new Map<string, number>();
  const delivery: number[] = [];
  const watchers = await Promise.all(
    others.map(async (u) => {
      const c = await PhxClient.connect(socketUrl, u.token);
      await c.join(topic);
      c.onEvent = (_t, event, payload: { content?: string }, at) => {
        const t0 = event === 'document:updated' ? sent.get(markerOf(payload.content) ?? '') : undefined;
        if (t0 !== undefined) delivery.push(at - t0);
      };
      return c;
    }),
  );
  const c = await PhxClient.connect(socketUrl, editor.token);
  try {
    const [documentId] = documentIdsOf((await c.join(topic)) as { documents?: Array<{ id: number }> });
    if (documentId === undefined) throw new Error(`project ${editor.projectId} has no documents`);
    const lock = await c.push(topic, 'document:start_editing', { document_id: documentId });
    if (lock.status !== 'ok') throw new Error(`lock refused: ${JSON.stringify(lock.response)}`);
    let version = ((await c.push(topic, 'document:get', { document_id: documentId })).response as { version: number }).version;
    const line = `${'lorem ipsum dolor sit amet, '.repeat(3)}\n`;
    const filler = line.repeat(Math.ceil((opts.contentKiB * 1024) / line.length)).slice(0, opts.contentKiB * 1024 - 32);
    /** One push, its push → reply time in `samples`; a refusal ends the run. */
    const timedPush = async (samples: number[], event: string, payload: Record<string, unknown>, t0 = performance.now()) => {
      const r = await c.push(topic, event, payload, 30_000);
      samples.push(performance.now() - t0);
      if (r.status !== 'ok') throw new Error(`${event} ${samples.length} refused: ${JSON.stringify(r.response)}`);
      return r.response as unknown;
    };
    const reply: number[] = [];
    const copiesBefore = await copyCounters(opts.gatewayUrl);
    const meter = new CpuMeter(opts.cpu);
    meter.start();
    for (let i = 0; i < opts.saves; i++) {
      const marker = `s${i.toString(36)}`;
      const content = `# Save ${i}\n${filler}\n#${marker}\n`;
      const t0 = performance.now();
      sent.set(marker, t0);
      const saved = await timedPush(reply, 'document:save', { document_id: documentId, content, base_version: version }, t0);
      version = (saved as { version: number }).version;
    }
    // Every watcher's last delivery, or 10 s.
    const deadline = performance.now() + 10_000;
    while (delivery.length < opts.saves * watchers.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const cpuSeconds = meter.stop();
    const copiesAfter = await copyCounters(opts.gatewayUrl);
    const heartbeatReply: number[] = [];
    const heartbeats = new CpuMeter(opts.cpu);
    heartbeats.start();
    for (let i = 0; i < opts.saves; i++) await timedPush(heartbeatReply, 'document:heartbeat', { document_id: documentId });
    const heartbeatCpu = heartbeats.stop();
    return {
      saves: opts.saves,
      contentKiB: opts.contentKiB,
      watchers: watchers.length,
      reply: summarize(reply),
      delivery: summarize(delivery),
      cpuSeconds,
      cpuMsPerSave: cpuMsPer(cpuSeconds, opts.saves),
      heartbeatReply: summarize(heartbeatReply),
      cpuMsPerHeartbeat: cpuMsPer(heartbeatCpu, opts.saves),
      copies:
        copiesBefore && copiesAfter
          ? {
              fastDelivered: copiesAfter.fastDelivered - copiesBefore.fastDelivered,
              fastSkipped: copiesAfter.fastSkipped - copiesBefore.fastSkipped,
              duplicatesDropped: copiesAfter.duplicatesDropped - copiesBefore.duplicatesDropped,
            }
          : null,
    };
  } finally {
    c.close();
    for (const w of watchers) w.close();
  }
}
