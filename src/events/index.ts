export * from './schemas.js';
export * from './subjects.js';
export * from './sipUri.js';
export * from './limits.js';
export * from './reading.js';
export * from './codec.js';
export * from './commands.js';
export * from './calls.js';
