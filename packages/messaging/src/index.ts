export * from './service-client.js';
export * from './connect.js';
