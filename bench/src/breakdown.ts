import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '@siteflow/telemetry';
import { round, summarize, type LatencySummary } from './stats.js';

/**
 * Where a chat message's time goes, hop by hop, from the spans every process exports while the
 * bench runs with tracing on (`--breakdown`): an in-process OTLP/HTTP receiver keeps, per trace,
 * the few spans a chat message's path is made of, and the hops are the gaps and lengths between
 * them. Processes share this machine's clock; a gap between two processes' spans carries their
 * clocks' sub-millisecond disagreement.
 */
export interface BreakdownHop {
  hop: string;
  /** What the hop spans, in span terms. */
  measures: string;
  latency: LatencySummary;
}

export interface Breakdown {
  /** Chat messages whose every span arrived. */
  messages: number;
  hops: BreakdownHop[];
}

/** The spans of one chat message's path (the first fan-out of its MessagePosted: one gateway, one room). */
interface MessageSpans {
  push?: ReceivedSpan;
  handler?: ReceivedSpan;
  append?: ReceivedSpan;
  commit?: ReceivedSpan;
  publish?: ReceivedSpan;
  fanOut?: ReceivedSpan;
}

const MESSAGE_POSTED = '.ev.chat.MessagePosted';

export class TraceBreakdown {
  private readonly traces = new Map<string, MessageSpans>();

  private constructor(private readonly receiver: OtlpReceiver) {}

  static async start(): Promise<TraceBreakdown> {
    let breakdown: TraceBreakdown | null = null;
    const receiver = await startOtlpReceiver({ onSpan: (s) => breakdown?.take(s) });
    breakdown = new TraceBreakdown(receiver);
    return breakdown;
  }

  /**
   * Environment for the stack's processes: export to this receiver, in big batches every half
   * second (the default queue of 2048 spans would drop spans under the room scenario's load).
   */
  get env(): Record<string, string> {
    return {
      OTEL_EXPORTER_OTLP_ENDPOINT: this.receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '500',
      OTEL_BSP_MAX_QUEUE_SIZE: '100000',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096',
    };
  }

  private take(s: ReceivedSpan): void {
    const key = (name: keyof MessageSpans) => {
      let t = this.traces.get(s.traceId);
      if (!t) {
        t = {};
        this.traces.set(s.traceId, t);
      }
      t[name] ??= s;
    };
    const destination = String(s.attributes['messaging.destination.name'] ?? '');
    if (s.service === 'gateway' && s.name === 'push chat:message') key('push');
    else if (s.service === 'chat' && s.name === 'handle chat.message.post') key('handler');
    else if (
      s.service === 'chat' &&
      s.name === 'eventstore.append' &&
      String(s.attributes['siteflow.stream_id']).startsWith('chat-project-')
    )
      key('append');
    else if (s.service === 'chat' && s.name === 'eventstore.commit') key('commit');
    else if (s.name.startsWith('publish ') && destination.endsWith(MESSAGE_POSTED)) key('publish');
    else if (s.name === 'fan-out project' && destination.endsWith(MESSAGE_POSTED)) key('fanOut');
  }

  /** The hops of every chat message whose spans all arrived (wait a second or two after the load for the last batches). */
  summary(): Breakdown {
    type Complete = Omit<Required<MessageSpans>, 'append'> & Pick<MessageSpans, 'append'>;
    const hops: Array<{ hop: string; measures: string; of: (m: Complete) => number | undefined }> = [
      {
        hop: 'gateway → service',
        measures: 'push start → handler start (checks, NATS request, Nest dispatch)',
        of: (m) => m.handler.startMs - m.push.startMs,
      },
      {
        hop: 'handler',
        measures: 'handler span (membership, queue, lock, decide, append, read model, commit)',
        of: (m) => m.handler.endMs - m.handler.startMs,
      },
      {
        hop: 'of which append',
        measures: 'eventstore.append span (none when the append rides with COMMIT)',
        of: (m) => (m.append ? m.append.endMs - m.append.startMs : undefined),
      },
      {
        hop: 'of which commit',
        measures: 'eventstore.commit span (a riding append, the projection, COMMIT)',
        of: (m) => m.commit.endMs - m.commit.startMs,
      },
      {
        hop: 'relay pick-up',
        measures: 'commit end → relay publish start (NOTIFY, read below xmin)',
        of: (m) => m.publish.startMs - m.commit.endMs,
      },
      { hop: 'publish', measures: 'publish span (JetStream publish → ack)', of: (m) => m.publish.endMs - m.publish.startMs },
      { hop: 'broker → gateway', measures: 'publish start → fan-out start', of: (m) => m.fanOut.startMs - m.publish.startMs },
      {
        hop: 'gateway fan-out',
        measures: 'fan-out span (parse once, write to every member)',
        of: (m) => m.fanOut.endMs - m.fanOut.startMs,
      },
      { hop: 'push → fan-out done', measures: 'push start → fan-out end', of: (m) => m.fanOut.endMs - m.push.startMs },
    ];
    const complete: Complete[] = [];
    for (const t of this.traces.values()) {
      if (t.push && t.handler && t.commit && t.publish && t.fanOut) complete.push(t as Complete);
    }
    return {
      messages: complete.length,
      hops: hops.map(({ hop, measures, of }) => ({
        hop,
        measures,
        latency: summarize(complete.map(of).filter((v): v is number => v !== undefined)),
      })),
    };
  }

  close(): Promise<void> {
    return this.receiver.close();
  }
}

/** The breakdown as markdown table lines. */
export function breakdownTable(b: Breakdown): string[] {
  return [
    `Chat message, hop by hop (tracing on, ${b.messages} messages with every span):`,
    '',
    '| hop | p50 ms | p99 ms | what |',
    '|---|---:|---:|---|',
    ...b.hops.map((h) =>
      h.latency.count === 0
        ? `| ${h.hop} | – | – | ${h.measures} |`
        : `| ${h.hop} | ${round(h.latency.p50)} | ${round(h.latency.p99)} | ${h.measures} |`,
    ),
    '',
  ];
}
