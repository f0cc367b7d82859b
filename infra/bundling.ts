import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/**
 * How Settle's Lambda code is built: one definition for the worker and the sweeper, exported so
 * a test can build the bundle exactly as the construct does.
 *
 * @example
 * // In a test: build the worker the way `cdk synth` does, then import it.
 * import { build } from 'esbuild';
 * await build(esbuildOptions({ entry: 'functions/worker.ts', outdir }));
 * const { handler } = await import(join(outdir, 'index.mjs'));
 */

/** Lambda runtime of both functions. The bundle targets the same Node version. */
export const lambdaRuntime = Runtime.NODEJS_22_X;

/** Graviton: cheaper per GB-second than x86 and nothing in the bundle is native code. */
export const lambdaArchitecture = Architecture.ARM_64;

/**
 * ESM output needs `require` for the CommonJS dependencies esbuild folds into the bundle
 * (their `require('node:…')` calls would otherwise throw "Dynamic require is not supported").
 * The import is aliased so it cannot clash with a bundled module's own `createRequire`.
 */
export const esmRequireBanner =
  "import { createRequire as __settleCreateRequire } from 'node:module'; const require = __settleCreateRequire(import.meta.url);";

/**
 * AWS SDK packages that Settle's Lambda code only ever loads with `import()`, on a path a cold start does not take:
 * S3 (payloads over the inline limits), Secrets Manager (the callback key, on the first link), CloudFormation (the
 * client's stack lookup, never in Lambda) and the credential providers other than the environment's (Lambda gives
 * its credentials in the environment). Left external, they are not in the bundle V8 compiles on every cold start;
 * Lambda's Node.js runtime has them all. (An external package that something imports statically would load on
 * every start: test/infra/bundling.test.ts checks that none does.)
 *
 * Also `@smithy/core/event-streams`, which the SDK's HTTP protocol imports with `import()` for operations that stream
 * events; DynamoDB and SQS have none, so it is never loaded. Bundled, it was 15 KB more to compile, and because it is
 * imported dynamically esbuild wrapped it and every module it imports (most of @smithy/core, 160 modules) in lazy
 * initialisers: 4–5 ms more CPU on the import, ≈ 4 % of import + first batch (docs/PERFORMANCE.md §4).
 */
export const lazySdkModules = [
  '@aws-sdk/client-s3',
  '@aws-sdk/client-secrets-manager',
  '@aws-sdk/client-cloudformation',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@smithy/credential-provider-imds',
  '@smithy/core/event-streams',
] as const;

/** Options for `NodejsFunction`'s `bundling`, shared by the worker and the sweeper. */
export const workerBundling = {
  // Local esbuild from node_modules: no Docker on build machines, and the same esbuild as tests.
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  // Prefer packages' ESM builds (xstate, Powertools): smaller bundles, no CJS interop shims.
  mainFields: ['module', 'main'],
  target: 'node22',
  minify: true,
  // Error classes name themselves with `new.target.name`: minified, a PermanentError would log as `a`. Stack frames
  // keep their functions' names too, source maps or not.
  keepNames: true,
  // The map ships beside the bundle, linked by its `sourceMappingURL`, without the TypeScript source in it; Node only
  // reads it when source maps are enabled (sourceMapsEnvironment; see bundleEnvironment for why not by default).
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: false,
  banner: esmRequireBanner,
  // The AWS SDK clients a cold start loads (DynamoDB, SQS, their shared core) are bundled, tree-shaken and minified,
  // rather than loaded from the runtime's copy: one ESM file for V8 to compile instead of hundreds of CommonJS
  // modules to resolve, read and wrap (docs/PERFORMANCE.md §4). What only a rare path imports on demand stays the
  // runtime's: lazySdkModules.
  bundleAwsSDK: true,
  externalModules: [...lazySdkModules],
} as const satisfies BundlingOptions;

/**
 * Environment the bundle needs at run time: none. Source maps are not enabled by default. With
 * `--enable-source-maps`, Node reads and parses the bundle's map (≈ 640 KB) and scans every character of the bundle
 * when it loads it, on every cold start, whether or not a stack trace is ever printed: ≈ 10 ms of CPU, a tenth more
 * on import + first batch (docs/PERFORMANCE.md §4, the source-map variant). What it buys is TypeScript positions in the stack traces
 * of unexpected failures (the API's "unexpected failure" log, an error the Lambda runtime reports); Settle's own logs
 * carry an error's name, message and code, never its stack. Without it a frame reads
 * `at restoreActor (file:///var/task/index.mjs:1:183270)`: the function's own name (keepNames), the position in the
 * bundle. To see TypeScript positions, set {@link sourceMapsEnvironment} on the function (a configuration change,
 * no rebuild: the map is in the asset), or decode a position offline with the map
 * (`new SourceMap(map).findEntry(line - 1, column - 1)`, SourceMap from `node:module`).
 */
export const bundleEnvironment: Readonly<Record<string, string>> = {};

/** The environment that turns source-mapped stack traces on, for a function being debugged: see {@link bundleEnvironment}. */
export const sourceMapsEnvironment = { NODE_OPTIONS: '--enable-source-maps' } as const;

/** The file name `NodejsFunction` gives an ESM bundle; the handler is `index.handler`. */
export const bundleFileName = 'index.mjs';

/**
 * The esbuild API options equivalent to {@link workerBundling}, for tests that build a bundle
 * themselves. Kept next to the constant so the two cannot drift apart.
 */
export function esbuildOptions({ entry, outdir }: { entry: string; outdir: string }): BuildOptions {
  return {
    entryPoints: [entry],
    outfile: `${outdir}/${bundleFileName}`,
    bundle: true,
    platform: 'node',
    format: workerBundling.format === OutputFormat.ESM ? 'esm' : 'cjs',
    mainFields: [...workerBundling.mainFields],
    target: workerBundling.target,
    minify: workerBundling.minify,
    keepNames: workerBundling.keepNames,
    sourcemap: workerBundling.sourceMap,
    sourcesContent: workerBundling.sourcesContent,
    banner: { js: workerBundling.banner },
    external: [...workerBundling.externalModules],
  };
}
