import type {} from 'vitest';

/** What the int/e2e global setup provides to test files (a file's NATS: `testNatsUrl()`). */
declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * One NATS per parallel worker of the tier (the run's own first): a test file's stack deletes
     * every JetStream stream when it starts, so two files running at once must not share one.
     */
    natsUrls: string[];
    /** Where test files lease one of `natsUrls` while they run (`leaseTestNats`). */
    natsLeaseDir: string;
    databaseUrl: string;
  }
}

export {};
