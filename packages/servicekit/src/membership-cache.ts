import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * A process's memory of its members table, kept exactly as fresh as the table by Postgres
 * LISTEN/NOTIFY: a trigger on the table (`projectMembersNotify`) sends `<project_id>:<user_id>` on
 * the table's channel for every row inserted, updated or deleted (`*` for a TRUNCATE), delivered at
 * commit; this process LISTENs on a session of its own and forgets the pair (and whether its project
 * is known) on each notification.
 *
 * Used only while that session is established and was heard from lately (a heartbeat every
 * `heartbeatMs`, `leaseMs` of silence at most): before LISTEN has run, after the session is lost and
 * while Postgres is down, every question goes to the table and nothing is remembered; losing the
 * session also forgets everything, since notifications may have been missed. A read that was on its
 * way when a notification (any) came, or the session was lost, is not remembered: it may be older
 * than the change (the notification names one pair, but any one counts, for simplicity).
 */
export interface MembershipCache {
  /**
   * `read()` unless remembered; the answer is remembered when nothing changed meanwhile. With
   * `readProject` (every member of the project and their role, or null when there are too many to
   * keep), a miss reads the whole project instead, and remembers each of its members: the other
   * members of a room then cost nothing. A member missing from it is not a member.
   */
  role<T>(
    projectId: number,
    userId: number,
    read: () => Promise<T | null>,
    readProject?: () => Promise<ReadonlyMap<number, T> | null>,
  ): Promise<T | null>;
  /** Whether the project has any member, as `role`. */
  known(projectId: number, read: () => Promise<boolean>): Promise<boolean>;
  /** Whether answers come from memory now (the LISTEN session is up and was heard from lately). */
  readonly listening: boolean;
  /** Entries held (pairs and projects). */
  readonly size: number;
  /** Resolves once the LISTEN session is established (tests; a service does not wait for it). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

export interface MembershipCacheOptions {
  /** The members table, schema-qualified; its channel is `membersChannel(table)`. */
  table: string;
  /** A new, unconnected client for the LISTEN session: the pool's settings (`pool.options`). */
  client: () => pg.Client;
  logger?: Logger;
  /** Pairs remembered at most (the least recently used go first); as many projects. Default 100,000. */
  maxEntries?: number;
  /** How often the session is asked `SELECT 1`. Default 1,000 ms. */
  heartbeatMs?: number;
  /** Memory is not used when the session has not answered for this long. Default 3 × heartbeatMs. */
  leaseMs?: number;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** The NOTIFY channel of a members table: `chat.members` → `chat_members`. */
export function membersChannel(table: string): string {
  if (!TABLE_NAME.test(table)) throw new Error(`invalid membership table ${JSON.stringify(table)}`);
  return table.replace('.', '_');
}

const TRIGGERS_SQL = `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = ANY($2) AND tgenabled <> 'D'`;
const membersTriggers = (table: string) => {
  const name = table.split('.')[1] ?? table;
  return [`${name}_notify_changed`, `${name}_notify_truncated`];
};

/**
 * The migration that makes a members table announce its changes on `membersChannel(table)`:
 * `<project_id>:<user_id>` per row inserted, updated (old and new pair) or deleted, `*` per TRUNCATE.
 * A notification is delivered at commit, only if the transaction commits, in commit order.
 */
export function projectMembersNotify(table: string): string {
  const channel = membersChannel(table);
  const [schema, name] = table.split('.') as [string, string];
  const fn = `${schema}.${name}_notify_changed`;
  const [changed, truncated] = membersTriggers(table) as [string, string];
  return `
    CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify(TG_ARGV[0], '*');
        RETURN NULL;
      END IF;
      IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify(TG_ARGV[0], OLD.project_id::text || ':' || OLD.user_id::text);
      END IF;
      IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify(TG_ARGV[0], NEW.project_id::text || ':' || NEW.user_id::text);
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER ${changed} AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${fn}('${channel}');
    CREATE TRIGGER ${truncated} AFTER TRUNCATE ON ${table}
      FOR EACH STATEMENT EXECUTE FUNCTION ${fn}('${channel}');`;
}

/** Starts the LISTEN session (in the background, reconnecting) and returns the cache. */
export function startMembershipCache(opts: MembershipCacheOptions): MembershipCache {
  const channel = membersChannel(opts.table);
  const maxEntries = opts.maxEntries ?? 100_000;
  const heartbeatMs = opts.heartbeatMs ?? 1_000;
  const leaseMs = opts.leaseMs ?? 3 * heartbeatMs;
  const log = opts.logger;

  const triggerNames = membersTriggers(opts.table);
  let warnedNoTrigger = false;
  const roles = new Map<string, unknown>();
  const projects = new Map<number, boolean>();
  /** Bumped by every notification and every loss of the session: a read spanning one is not kept. */
  let generation = 0;
  let session: pg.Client | null = null;
  /** The session has LISTENed; when it last answered. */
  let established = false;
  let heardAt = 0;
  let stopped = false;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let backoff = RECONNECT_MIN_MS;
  let readyWaiters: Array<() => void> = [];

  const isCurrent = (client: pg.Client) => !stopped && session === client;
  const usable = () => established && Date.now() - heardAt < leaseMs;
  const forgetAll = () => {
    roles.clear();
    projects.clear();
    generation++;
  };
  const bounded = <K, V>(map: Map<K, V>, key: K, value: V) => {
    map.set(key, value);
    if (map.size > maxEntries) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  };

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== channel) return;
    const payload = msg.payload ?? '';
    const m = /^(\d+):(\d+)$/.exec(payload);
    if (!m) {
      forgetAll(); // '*' (TRUNCATE), or anything this version does not understand
      return;
    }
    roles.delete(payload);
    projects.delete(Number(m[1]));
    generation++;
  };

  const lost = (client: pg.Client, err?: unknown) => {
    if (session !== client) return;
    session = null;
    if (established) log?.warn({ err, table: opts.table }, 'membership cache lost its LISTEN session; reading the table until it is back');
    established = false;
    forgetAll();
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    heartbeatTimer = null;
    client.end().catch(() => {});
    scheduleConnect();
  };

  const scheduleConnect = () => {
    if (stopped || reconnectTimer) return;
    const delay = backoff;
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      void connect();
    }, delay);
    reconnectTimer.unref();
  };

  const connect = async () => {
    if (stopped || session) return;
    const client = opts.client();
    session = client;
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client));
    client.on('notification', onNotification);
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      // Without its triggers (a table whose migration list lacks projectMembersNotify) nothing would
      // ever be forgotten: then the cache stays off, and says so.
      const { rows } = await client.query<{ n: number }>(TRIGGERS_SQL, [opts.table, triggerNames]);
      if (rows[0]?.n !== triggerNames.length) {
        if (!warnedNoTrigger)
          log?.error(
            { table: opts.table },
            `${opts.table} has no NOTIFY triggers (projectMembersNotify): membership is read from the table every time`,
          );
        warnedNoTrigger = true;
        throw new Error(`${opts.table} has no NOTIFY triggers`);
      }
    } catch (err) {
      log?.debug({ err, table: opts.table }, 'membership cache could not LISTEN; retrying');
      lost(client, err);
      return;
    }
    // The session may have been lost, or the cache stopped, while LISTEN was on its way.
    if (!isCurrent(client)) return;
    // Everything committed from here on is notified; nothing was remembered before.
    forgetAll();
    established = true;
    heardAt = Date.now();
    backoff = RECONNECT_MIN_MS;
    const waiters = readyWaiters;
    readyWaiters = [];
    for (const w of waiters) w();
    let asking = false;
    heartbeatTimer = setInterval(() => {
      if (asking) return; // the last one is still unanswered: the lease tells
      asking = true;
      // Notifications come before the answer of a later query on the same session, so an answer
      // means nothing sent before it is still missing. A query unanswered (a half-open connection)
      // fails after the pool's query timeout and ends the session; meanwhile the lease runs out.
      client.query('SELECT 1').then(
        () => {
          asking = false;
          if (isCurrent(client)) heardAt = Date.now();
        },
        (err: unknown) => {
          asking = false;
          lost(client, err);
        },
      );
    }, heartbeatMs);
    heartbeatTimer.unref();
  };

  void connect();

  return {
    async role<T>(
      projectId: number,
      userId: number,
      read: () => Promise<T | null>,
      readProject?: () => Promise<ReadonlyMap<number, T> | null>,
    ): Promise<T | null> {
      if (!usable()) return read();
      const key = `${projectId}:${userId}`;
      if (roles.has(key)) {
        const hit = roles.get(key) as T | null;
        roles.delete(key); // most recently used last
        roles.set(key, hit);
        return hit;
      }
      const at = generation;
      const all = readProject ? await readProject() : null;
      if (all === null) {
        const value = await read();
        if (at === generation && usable()) bounded(roles, key, value);
        return value;
      }
      const value = all.get(userId) ?? null;
      if (at === generation && usable()) {
        for (const [member, role] of all) if (member !== userId) bounded(roles, `${projectId}:${member}`, role);
        bounded(roles, key, value); // the one asked about last: the most recently used
        bounded(projects, projectId, all.size > 0);
      }
      return value;
    },
    async known(projectId: number, read: () => Promise<boolean>): Promise<boolean> {
      if (!usable()) return read();
      const hit = projects.get(projectId);
      if (hit !== undefined) return hit;
      const at = generation;
      const value = await read();
      if (at === generation && usable()) bounded(projects, projectId, value);
      return value;
    },
    get listening() {
      return usable();
    },
    get size() {
      return roles.size + projects.size;
    },
    ready() {
      if (usable()) return Promise.resolve();
      return new Promise<void>((resolve) => readyWaiters.push(resolve));
    },
    async stop() {
      stopped = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      const client = session;
      session = null;
      established = false;
      forgetAll();
      for (const w of readyWaiters) w();
      readyWaiters = [];
      await client?.end().catch(() => {});
    },
  };
}
