import type {} from 'vitest';

/** What the int/e2e global setup provides to test files (`inject('natsUrl')`). */
declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    databaseUrl: string;
  }
}

export {};
