export * from './config.js';
export * from './logger.js';
export * from './kit.js';
export * from './handle.js';
export * from './health.js';
export * from './inflight.js';
export * from './boot.js';
export * from './draining-server.js';
