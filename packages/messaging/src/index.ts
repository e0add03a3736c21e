export * from './service-client.js';
export * from './connect.js';
export * from './serial.js';
export * from './json.js';
export * from './config.js';
export * from './answered-requests.js';
