export * from './start.js';
export * from './spans.js';
export * from './otlp-receiver.js';
export * from './logger.js';
