export * from './users.js';
export * from './project.js';
