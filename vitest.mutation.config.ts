import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run test:mutation` (StrykerJS) runs against every mutant: only the fast in-process ones.
 * Left out: anything that starts an emulator or the local stack (storage, integration, parity, poison —
 * its last suite starts the local stack —, test/local), spawns a child process (chaos, bundle), runs
 * `cdk synth` (test/infra), or reads the README or bench results.
 */
export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/worker.test.ts',
      'test/timers.test.ts',
      'test/config.test.ts',
      'test/properties/delivery.test.ts',
      'test/hardening.test.ts',
      'test/testing.test.ts',
    ],
    // A fixed seed: the same cases for the dry run and for every mutant, so a mutant's verdict is reproducible.
    env: { SETTLE_PROPERTY_SEED: '20261123' },
    testTimeout: 30_000,
  },
});
