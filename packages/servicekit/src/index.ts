export * from './config.js';
export * from './logger.js';
export * from './kit.js';
export * from './handle.js';
export * from './command.js';
export * from './health.js';
export * from './inflight.js';
export * from './boot.js';
export * from './draining-server.js';
export * from './serial.js';
// Parsing a NATS body, shared with the gateway (packages/messaging/src/json.ts).
export { safeJson } from '@siteflow/messaging';
export * from './consume.js';
export * from './membership.js';
export * from './membership-cache.js';
export * from './metrics.js';
export * from './fast-copies.js';
