// Mutation testing of the runtime core: `npm run test:mutation` (about half an hour; not part of CI).
// One module while iterating: `npx stryker run --mutate runtime/core/event.ts`.
// The report lands in reports/mutation/ (mutation.html, mutation.json); docs/RELIABILITY.md has the scores.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    // The runtime core and its in-memory adapters. Not runtime/aws: the AWS adapters' rules (conditional
    // writes, the due-index query, SQS attributes) are only observable against the emulators, in
    // test/storage.test.ts and the local-stack tests, which this run leaves out.
    'runtime/core/**/*.ts',
    'runtime/memory/**/*.ts',
    // Plain data (names, sizes, attribute names) shared by the CDK stack and the local stack: checked by the
    // synth tests (test/infra) and the local-stack tests; an in-process test could only restate the values.
    '!runtime/core/resources.ts',
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Keep the sandbox small: these directories are not needed to run the tests above.
  ignorePatterns: ['cdk.out', '.settle', 'bench/results'],
  // One test runner: leaves a core free on a 2-core machine. Raise it (e.g. to the number of cores - 1) to go faster.
  concurrency: 1,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
