import { hostname } from 'node:os';
import { z } from 'zod';
import { describeIssues } from '@siteflow/contracts';
import { GatewayPresenceConfig } from './presence/presence-tracker.js';

const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const GatewayConfig = GatewayPresenceConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** HS256 secret; at least 32 bytes (RFC 7518 §3.2). */
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters'),
  JWT_ISSUER: z.string().min(1).default('siteflow'),
  JWT_AUDIENCE: z.string().min(1).default('siteflow-collab'),
  JWT_TTL_S: z.coerce.number().int().min(60).max(7 * 24 * 3600).default(12 * 3600),
  DEV_LOGIN: flag.default(false),
  WEB_DIST: z.string().optional(),
  PUSH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  SNAPSHOT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  IDLE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(60_000),
  /** Largest frame for ordinary events; document saves have their own bound (contracts). */
  MAX_FRAME_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** A socket whose unsent data passes this is closed instead of growing gateway memory. */
  MAX_BUFFERED_BYTES: z.coerce.number().int().min(64 * 1024).default(8 * 1024 * 1024),
  /**
   * Browser origins allowed to open a socket (comma-separated, e.g. `https://collab.example.com`).
   * Unset: only same-origin pages (Origin's host equals the Host header); requests without an
   * Origin (non-browser clients) carry a token and are allowed. Defends against cross-site
   * WebSocket hijacking.
   */
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').map((o) => o.trim().replace(/\/$/, '')).filter(Boolean) : null)),
  /** Sockets one user may hold on this gateway at once (tabs, devices). */
  MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Channels (topics) one socket may join. */
  MAX_CHANNELS_PER_CONNECTION: z.coerce.number().int().min(1).max(10_000).default(100),
  /** Frames per second per socket (token bucket; bursts up to twice this). */
  FRAMES_PER_SECOND: z.coerce.number().min(1).max(100_000).default(50),
  /** Frames refused for rate in a row before the socket is closed (sustained abuse). */
  MAX_RATE_LIMITED_FRAMES: z.coerce.number().int().min(1).default(200),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INSTANCE_ID: z.string().min(1).default(`${hostname()}-${process.pid}`),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = GatewayConfig.safeParse(env);
  if (!parsed.success) {
    process.stderr.write(`invalid configuration: ${describeIssues(parsed.error)}\n`);
    process.exit(78);
  }
  return parsed.data;
}
