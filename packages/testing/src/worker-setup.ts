import { testNatsUrl } from './worker-nats.js';

// A setup file of the int and e2e tiers: processes a test spawns with the inherited environment
// (NATS_URL set by CI) reach this worker's NATS, not the one another worker's file is using.
process.env.NATS_URL = testNatsUrl();
