export * from './ports.js';
export * from './output-tail.js';
export * from './child-processes.js';
export * from './local-server.js';
export * from './nats-server.js';
export * from './embedded-postgres.js';
