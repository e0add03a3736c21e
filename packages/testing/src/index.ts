export * from './provided-context.js';
export * from './infra.js';
export * from './database.js';
export * from './stack.js';
export * from './phoenix.js';
export * from './use-stack.js';
export * from './browser.js';
export * from './use-browser-room.js';
