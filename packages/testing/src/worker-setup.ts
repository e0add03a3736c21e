import { afterAll } from 'vitest';
import { leaseTestNats } from './worker-nats.js';

// A setup file of the int and e2e tiers: this test file holds one of the run's NATS servers while
// it runs (testNatsUrl), and processes it spawns with the inherited environment (NATS_URL set by
// CI) reach that one too, not the one a file running beside it uses.
const lease = await leaseTestNats();
process.env.NATS_URL = lease.url;
// Registered first, so it runs after the file's own afterAll hooks (its stack stops first).
afterAll(() => lease.release());
