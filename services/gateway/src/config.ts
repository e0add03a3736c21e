import { hostname } from 'node:os';
import { z } from 'zod';
import { booleanFlag as flag, loadConfig } from '@siteflow/messaging';
import { GatewayPresenceConfig } from './presence/presence-tracker.js';
import { loadAsymmetricKeys } from './auth/token-keys.js';
import { TOKEN_ALGORITHMS, type TokenKeys } from './auth/tokens.js';

/** Unset and empty are the same here: compose passes an unset `${VAR:-}` as "". */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** The HS256 secret's minimum length (RFC 7518 §3.2: a key at least as long as the hash). */
const MIN_SECRET_CHARS = 32;

export const GatewayConfig = GatewayPresenceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /**
   * The one signature algorithm session tokens may use (pinned: tokens naming any other are
   * refused). HS256 needs JWT_SECRET; RS256 and EdDSA need a public key and, to issue tokens
   * (dev login), the private key.
   */
  JWT_ALG: z.enum(TOKEN_ALGORITHMS).default('HS256'),
  /** HS256 secret; at least 32 bytes (RFC 7518 §3.2). Ignored for RS256/EdDSA. */
  JWT_SECRET: optionalText,
  /** RS256/EdDSA: PEM SPKI public key text (literal `\n` escapes allowed), or a file holding it. */
  JWT_PUBLIC_KEY: optionalText,
  JWT_PUBLIC_KEY_FILE: optionalText,
  /** RS256/EdDSA: PEM PKCS #8 private key, only to issue tokens (dev login). */
  JWT_PRIVATE_KEY: optionalText,
  JWT_PRIVATE_KEY_FILE: optionalText,
  /**
   * RS256/EdDSA: the issuer's keys as a JWKS, instead of JWT_PUBLIC_KEY: its endpoint (https, or
   * http on loopback) or a file. Tokens name their key by kid; the set is read again when a token
   * names a kid it lacks (at most once per cooldown), when fetched keys are older than the max
   * age, and (file) when the file changed.
   */
  JWT_JWKS_URL: optionalText,
  JWT_JWKS_FILE: optionalText,
  JWT_JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  JWT_JWKS_MAX_AGE_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(7 * 24 * 3_600_000)
    .default(600_000),
  JWT_ISSUER: z.string().min(1).default('siteflow'),
  JWT_AUDIENCE: z.string().min(1).default('siteflow-collab'),
  JWT_TTL_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 24 * 3600)
    .default(12 * 3600),
  DEV_LOGIN: flag.default(false),
  /** The demo users (`@siteflow/demo`) exist, for dev login, only with SEED_DEMO=true, as demo project 1 does. */
  SEED_DEMO: flag.default(false),
  WEB_DIST: z.string().optional(),
  PUSH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** On SIGTERM, how long pushes in flight may take to be answered before the sockets close (then: `unavailable`). */
  SHUTDOWN_PUSH_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(3_000),
  SNAPSHOT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /**
   * A room's snapshot read serves the room's other joins while in flight (each such joiner is given
   * what reached the room since the read was sent) and, if set, this long after it settled. 0, the
   * default, shares only reads in flight: a reply then never lags a write acknowledged before its
   * join was sent by more than one read's duration. See docs/protocol.md, Joining.
   */
  SNAPSHOT_SHARE_MS: z.coerce.number().int().min(0).max(10_000).default(0),
  /** A shared read stops being offered once this many projections reached its room since it was sent. */
  SNAPSHOT_SHARE_MAX_LOG: z.coerce.number().int().min(0).max(100_000).default(500),
  IDLE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(60_000),
  /** Largest frame for ordinary events; document saves have their own bound (contracts). */
  MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** A socket whose unsent data passes this is closed instead of growing gateway memory. */
  MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(8 * 1024 * 1024),
  /**
   * Browser origins allowed to open a socket (comma-separated, e.g. `https://collab.example.com`).
   * Unset: only same-origin pages (Origin's host equals the Host header); requests without an
   * Origin (non-browser clients) carry a token and are allowed. Defends against cross-site
   * WebSocket hijacking.
   */
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(',')
            .map((o) => o.trim().replace(/\/$/, ''))
            .filter(Boolean)
        : null,
    ),
  /** Sockets one user may hold on this gateway at once (tabs, devices). */
  MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Channels (topics) one socket may join. */
  MAX_CHANNELS_PER_CONNECTION: z.coerce.number().int().min(1).max(10_000).default(100),
  /**
   * Project joins this gateway works on at once (each is a membership read, a snapshot and a
   * presence track). When a gateway dies its sockets come back here all at once: the joins beyond
   * this wait in line (MAX_QUEUED_JOINS), and beyond the line are refused with `rate_limited` and a
   * retry-after the web client honours, so they arrive spread out.
   */
  MAX_CONCURRENT_JOINS: z.coerce.number().int().min(1).max(100_000).default(100),
  /**
   * Project joins that may wait in line for their turn, beyond MAX_CONCURRENT_JOINS; grouped by room,
   * a room's waiting joins start together and share one snapshot read. Beyond this line a join is
   * refused `rate_limited` with a retry-after.
   */
  MAX_QUEUED_JOINS: z.coerce.number().int().min(0).max(1_000_000).default(5_000),
  /** A join that waited this long for its turn is refused `rate_limited` (below the client's 10 s join timeout). */
  JOIN_QUEUE_MAX_WAIT_MS: z.coerce.number().int().min(100).max(60_000).default(8_000),
  /** A refused join is told to retry after the line's drain time (JoinAdmission.retryAfterMs), at least a random delay between this and twice this. */
  JOIN_RETRY_AFTER_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Frames per second per socket (token bucket; bursts up to twice this). */
  FRAMES_PER_SECOND: z.coerce.number().min(1).max(100_000).default(50),
  /** Frames refused for rate in a row before the socket is closed (sustained abuse). */
  MAX_RATE_LIMITED_FRAMES: z.coerce.number().int().min(1).default(200),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INSTANCE_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
})
  .superRefine((c, ctx) => {
    const problem = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
    const has = (variable: 'JWT_PUBLIC_KEY' | 'JWT_PRIVATE_KEY') => c[variable] !== undefined || c[`${variable}_FILE`] !== undefined;
    const keySetVariable = c.JWT_JWKS_URL !== undefined ? 'JWT_JWKS_URL' : c.JWT_JWKS_FILE !== undefined ? 'JWT_JWKS_FILE' : undefined;
    if (c.JWT_ALG === 'HS256') {
      if (c.JWT_SECRET === undefined) problem('JWT_SECRET', `is required with JWT_ALG=HS256 (at least ${MIN_SECRET_CHARS} characters)`);
      else if (c.JWT_SECRET.length < MIN_SECRET_CHARS) problem('JWT_SECRET', `must be at least ${MIN_SECRET_CHARS} characters`);
      // Keys given while the alg stayed HS256 mean a forgotten JWT_ALG, not a wish for HS256.
      for (const variable of ['JWT_PUBLIC_KEY', 'JWT_PRIVATE_KEY'] as const) {
        if (has(variable)) problem(variable, 'is set but JWT_ALG is HS256 (the default): set JWT_ALG=RS256 or JWT_ALG=EdDSA to use keys');
      }
      // A JWKS publishes public keys; an HS256 secret must never be published.
      if (keySetVariable)
        problem(
          keySetVariable,
          'is set but JWT_ALG is HS256 (the default): a key set holds public keys, set JWT_ALG=RS256 or JWT_ALG=EdDSA',
        );
      return;
    }
    for (const variable of ['JWT_PUBLIC_KEY', 'JWT_PRIVATE_KEY'] as const) {
      if (c[variable] !== undefined && c[`${variable}_FILE`] !== undefined)
        problem(variable, `set ${variable} or ${variable}_FILE, not both`);
    }
    if (c.JWT_JWKS_URL !== undefined && c.JWT_JWKS_FILE !== undefined)
      problem('JWT_JWKS_URL', 'set JWT_JWKS_URL or JWT_JWKS_FILE, not both');
    if (c.JWT_JWKS_URL !== undefined) {
      const urlProblem = keySetUrlProblem(c.JWT_JWKS_URL);
      if (urlProblem) problem('JWT_JWKS_URL', urlProblem);
    }
    if (keySetVariable && has('JWT_PUBLIC_KEY')) {
      // Two sources of trusted keys would make one of them a silent extra way in.
      problem('JWT_PUBLIC_KEY', `is set beside ${keySetVariable}: tokens are verified with the key set's keys, set one of them`);
    }
    if (!keySetVariable && !has('JWT_PUBLIC_KEY')) {
      problem(
        'JWT_PUBLIC_KEY',
        `JWT_ALG=${c.JWT_ALG} needs a public key: set JWT_PUBLIC_KEY (PEM) or JWT_PUBLIC_KEY_FILE (path), or a key set: JWT_JWKS_URL or JWT_JWKS_FILE`,
      );
    }
    if (c.DEV_LOGIN && !has('JWT_PRIVATE_KEY')) {
      problem(
        'DEV_LOGIN',
        `dev login issues tokens, which JWT_ALG=${c.JWT_ALG} signs with the private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, or DEV_LOGIN=false`,
      );
    }
  })
  // Runs only when the combination above is right; the key material itself is read and checked here.
  .transform((c, ctx) => {
    const {
      JWT_SECRET,
      JWT_PUBLIC_KEY,
      JWT_PUBLIC_KEY_FILE,
      JWT_PRIVATE_KEY,
      JWT_PRIVATE_KEY_FILE,
      JWT_JWKS_URL,
      JWT_JWKS_FILE,
      JWT_JWKS_COOLDOWN_MS,
      JWT_JWKS_MAX_AGE_MS,
      ...rest
    } = c;
    let jwtKeys: TokenKeys;
    if (c.JWT_ALG === 'HS256') {
      jwtKeys = { alg: 'HS256', secret: JWT_SECRET ?? '' };
    } else {
      const loaded = loadAsymmetricKeys({
        alg: c.JWT_ALG,
        publicKey: JWT_PUBLIC_KEY,
        publicKeyFile: JWT_PUBLIC_KEY_FILE,
        privateKey: JWT_PRIVATE_KEY,
        privateKeyFile: JWT_PRIVATE_KEY_FILE,
        keySet:
          JWT_JWKS_URL !== undefined
            ? { url: JWT_JWKS_URL, cooldownMs: JWT_JWKS_COOLDOWN_MS, maxAgeMs: JWT_JWKS_MAX_AGE_MS }
            : JWT_JWKS_FILE !== undefined
              ? { file: JWT_JWKS_FILE, cooldownMs: JWT_JWKS_COOLDOWN_MS }
              : undefined,
      });
      if ('issues' in loaded) {
        for (const issue of loaded.issues) ctx.addIssue({ code: 'custom', path: [issue.variable], message: issue.message, input: c });
        return z.NEVER;
      }
      jwtKeys = loaded.keys;
    }
    // The raw variables are dropped: `jwtKeys` is the one place the secret material is kept.
    return { ...rest, jwtKeys };
  });
export type GatewayConfig = z.output<typeof GatewayConfig>;

/**
 * Keys fetched over plain http could be swapped by anyone on the way, and with them every token
 * accepted; loopback (a sidecar, a test) is the one place http is as good as https.
 */
function keySetUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a URL: ${JSON.stringify(text)}`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol !== 'http:') return `must be an https URL, not ${url.protocol}`;
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(url.hostname);
  return loopback ? null : 'must be https (keys fetched over plain http can be replaced on the way); http is accepted only on loopback';
}

/** The gateway's environment, read by the one loader every service uses (exits 78 naming each bad variable). */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(GatewayConfig, env);
}
