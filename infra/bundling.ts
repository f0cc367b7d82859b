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

/** Options for `NodejsFunction`'s `bundling`, shared by the worker and the sweeper. */
export const workerBundling = {
  // Local esbuild from node_modules: no Docker on build machines, and the same esbuild as tests.
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  // Prefer packages' ESM builds (xstate, Powertools): smaller bundles, no CJS interop shims.
  mainFields: ['module', 'main'],
  target: 'node22',
  minify: true,
  // Error classes name themselves with `new.target.name`: minified, a PermanentError would log as `a`.
  keepNames: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  // Stack traces point at the TypeScript files without shipping their source.
  sourcesContent: false,
  banner: esmRequireBanner,
  // The Node.js 22 runtime ships AWS SDK v3; bundling it would only add cold-start weight.
  externalModules: ['@aws-sdk/*'],
} as const satisfies BundlingOptions;

/** Environment the bundle needs at run time: stack traces through the source maps. */
export const bundleEnvironment = { NODE_OPTIONS: '--enable-source-maps' } as const;

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
