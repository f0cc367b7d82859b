/**
 * §4 Cold start: the worker bundled exactly as the CDK construct bundles it (infra/bundling.ts), its size,
 * and a fresh Node process that imports it and handles a first batch against the local stack's emulators.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { bundleEnvironment, bundleFileName, esbuildOptions } from '../../infra/bundling.ts';
import { localCredentials } from '../../local/clients.ts';
import { median } from '../harness.ts';
import { startIdleStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import { exampleMachines, instance, plan, shapeOf, streams, toRecords } from '../workloads.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Inside the repository (and gitignored), so the bundle's external `@aws-sdk/*` resolve from node_modules as on Lambda's runtime. */
const outdir = join(repositoryRoot, 'bench', 'results', 'bundle');

export interface ColdStartFindings {
  readonly rawBytes: number;
  readonly gzipBytes: number;
  readonly sourceMapBytes: number;
  readonly byPackage: readonly (readonly [string, number])[];
  readonly bootMs: number;
  readonly importMs: number;
  readonly firstBatchMs: number;
  readonly secondBatchMs: number;
  readonly processMs: number;
  readonly bareNodeMs: number;
  /** The same child without NODE_OPTIONS=--enable-source-maps. */
  readonly importMsWithoutSourceMaps: number;
  /** Importing only the three AWS SDK packages the worker uses, in a fresh process. */
  readonly sdkImportMs: number;
  /** A variant that is not the construct's: the same build with the AWS SDK bundled in (tree-shaken). */
  readonly withSdk: { readonly rawBytes: number; readonly importMs: number; readonly firstBatchMs: number };
  readonly runs: number;
}

const marker = 'SETTLE_BENCH_COLD ';

/** Runs in the fresh process: import the bundle, then two batches through its Lambda `handler`. */
const childScript = `
const t0 = performance.now();
const { handler } = await import(process.env.BENCH_BUNDLE);
const t1 = performance.now();
const [first, second] = JSON.parse(process.env.BENCH_BATCHES);
const context = { getRemainingTimeInMillis: () => 30000, awsRequestId: 'cold-start', functionName: 'settle-worker' };
const a = await handler({ Records: first }, context);
const t2 = performance.now();
const b = await handler({ Records: second }, context);
const t3 = performance.now();
process.stdout.write('\\n${marker}' + JSON.stringify({ bootMs: t0, importMs: t1 - t0, firstBatchMs: t2 - t1, secondBatchMs: t3 - t2,
  retried: a.batchItemFailures.length + b.batchItemFailures.length }) + '\\n');
process.exit(0);
`;

const sdkScript = `
const t0 = performance.now();
await import('@aws-sdk/client-dynamodb');
await import('@aws-sdk/client-sqs');
await import('@aws-sdk/lib-dynamodb');
process.stdout.write('\\n${marker}' + JSON.stringify({ importMs: performance.now() - t0 }) + '\\n');
`;

function parseChild<T>(stdout: string): T {
  const line = stdout.split('\n').find((l) => l.startsWith(marker));
  if (!line) throw new Error(`the cold-start child printed no result: ${stdout.slice(-1000)}`);
  return JSON.parse(line.slice(marker.length)) as T;
}

interface ChildResult {
  readonly bootMs: number;
  readonly importMs: number;
  readonly firstBatchMs: number;
  readonly secondBatchMs: number;
  readonly retried: number;
}

function runNode(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      if (code === 0) resolve({ stdout, stderr, wallMs });
      else reject(new Error(`node exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

export async function coldStartSection(sizes: BenchSizes['coldStart']): Promise<{ section: Section; findings: ColdStartFindings }> {
  const begun = performance.now();
  mkdirSync(outdir, { recursive: true });
  const built = await build({
    ...esbuildOptions({ entry: 'functions/worker.ts', outdir: relative(repositoryRoot, outdir) }),
    absWorkingDir: repositoryRoot,
    metafile: true,
    logLevel: 'silent',
  });
  const bundlePath = join(outdir, bundleFileName);
  const code = readFileSync(bundlePath);
  const withSdkDir = `${outdir}-with-sdk`;
  await build({
    ...esbuildOptions({ entry: 'functions/worker.ts', outdir: relative(repositoryRoot, withSdkDir) }),
    external: [],
    absWorkingDir: repositoryRoot,
    logLevel: 'silent',
  });
  const withSdkPath = join(withSdkDir, bundleFileName);
  const output = Object.values(built.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const byPackage = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'settle (functions/, machines/)';
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }

  const stack = await startIdleStack();
  const results: ChildResult[] = [];
  const processMs: number[] = [];
  const bareMs: number[] = [];
  const noMapsImportMs: number[] = [];
  const sdkMs: number[] = [];
  const withSdk: ChildResult[] = [];
  try {
    for (let run = 0; run < sizes.runs; run += 1) {
      const instances = exampleMachines.flatMap((machine) =>
        [0, 1].map((i) => instance(machine, `cold-${Date.now()}-${run}-${i}`, streams[machine])),
      );
      const batches = toRecords(plan(instances.slice(0, 10), 2, shapeOf(10, 1)));
      const env = {
        PATH: process.env.PATH,
        ...stack.env,
        AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
        ...bundleEnvironment,
        BENCH_BUNDLE: pathToFileURL(bundlePath).href,
        BENCH_BATCHES: JSON.stringify(batches),
      };
      const { stdout, wallMs } = await runNode(['--input-type=module', '-e', childScript], env);
      const result = parseChild<ChildResult>(stdout);
      if (result.retried > 0) throw new Error(`the bundled worker handed ${result.retried} records back`);
      results.push(result);
      processMs.push(wallMs);
      bareMs.push((await runNode(['-e', '0'], { PATH: process.env.PATH })).wallMs);
      const freshBatches = (suffix: string) =>
        JSON.stringify(
          toRecords(
            plan(
              instances.slice(0, 10).map((i) => instance(i.machine, `${i.instanceId}-${suffix}`, i.stream)),
              2,
              shapeOf(10, 1),
            ),
          ),
        );
      const withoutMaps = { ...env, NODE_OPTIONS: '', BENCH_BATCHES: freshBatches('nomaps') };
      noMapsImportMs.push(
        parseChild<ChildResult>((await runNode(['--input-type=module', '-e', childScript], withoutMaps)).stdout).importMs,
      );
      const sdkBundled = { ...env, BENCH_BUNDLE: pathToFileURL(withSdkPath).href, BENCH_BATCHES: freshBatches('sdk') };
      withSdk.push(parseChild<ChildResult>((await runNode(['--input-type=module', '-e', childScript], sdkBundled)).stdout));
      sdkMs.push(
        parseChild<{ importMs: number }>((await runNode(['--input-type=module', '-e', sdkScript], { PATH: process.env.PATH })).stdout)
          .importMs,
      );
    }
  } finally {
    await stack.stop();
  }
  const pick = (f: (r: ChildResult) => number) => median(results.map(f));
  const findings: ColdStartFindings = {
    rawBytes: code.byteLength,
    gzipBytes: gzipSync(code).byteLength,
    sourceMapBytes: statSync(`${bundlePath}.map`).size,
    byPackage: [...byPackage].sort((a, b) => b[1] - a[1]),
    bootMs: pick((r) => r.bootMs),
    importMs: pick((r) => r.importMs),
    firstBatchMs: pick((r) => r.firstBatchMs),
    secondBatchMs: pick((r) => r.secondBatchMs),
    processMs: median(processMs),
    bareNodeMs: median(bareMs),
    importMsWithoutSourceMaps: median(noMapsImportMs),
    sdkImportMs: median(sdkMs),
    withSdk: {
      rawBytes: statSync(withSdkPath).size,
      importMs: median(withSdk.map((r) => r.importMs)),
      firstBatchMs: median(withSdk.map((r) => r.firstBatchMs)),
    },
    runs: results.length,
  };
  return { section: coldStartSectionOf(findings, performance.now() - begun), findings };
}

function coldStartSectionOf(f: ColdStartFindings, durationMs: number): Section {
  const kb = 1024;
  const figures: Figure[] = [
    compared(
      'bundle size (index.mjs, @aws-sdk/* external)',
      f.rawBytes / kb,
      'KB',
      { name: 'goal', value: 150 },
      { goal: { text: '≤ 150 KB', met: f.rawBytes <= 150 * kb } },
    ),
    compared(
      'bundle size gzipped',
      f.gzipBytes / kb,
      'KB',
      { name: 'raw', value: f.rawBytes / kb },
      { note: `source map ${formatNumber(f.sourceMapBytes / kb)} KB, shipped beside it` },
    ),
    compared(
      'import of the bundle (fresh process)',
      f.importMs,
      'ms',
      { name: 'importing the 3 AWS SDK packages alone', value: f.sdkImportMs },
      {
        note: `without --enable-source-maps ${formatNumber(f.importMsWithoutSourceMaps)} ms`,
      },
    ),
    compared(
      'first batch (10 new instances, 4 machines)',
      f.firstBatchMs,
      'ms',
      { name: 'second batch, warm', value: f.secondBatchMs },
      {
        note: "includes the SDK clients' first connections to the emulators",
      },
    ),
    compared(
      'import + first batch',
      f.importMs + f.firstBatchMs,
      'ms',
      { name: 'goal', value: 100 },
      { goal: { text: '≤ 100 ms', met: f.importMs + f.firstBatchMs <= 100 } },
    ),
    compared(
      'process spawn → result (Node boot + import + 2 batches)',
      f.processMs,
      'ms',
      { name: 'bare `node -e 0`', value: f.bareNodeMs },
      {
        note: `Node boot before the script ${formatNumber(f.bootMs)} ms`,
      },
    ),
  ];
  figures.push(
    compared(
      'variant, AWS SDK bundled in: bundle size',
      f.withSdk.rawBytes / kb,
      'KB',
      { name: 'construct bundle', value: f.rawBytes / kb },
      {
        note: 'not what the construct ships: for the trade-off only',
      },
    ),
    compared(
      'variant, AWS SDK bundled in: import + first batch',
      f.withSdk.importMs + f.withSdk.firstBatchMs,
      'ms',
      { name: 'construct bundle', value: f.importMs + f.firstBatchMs },
      {
        goal: { text: '≤ 100 ms', met: f.withSdk.importMs + f.withSdk.firstBatchMs <= 100 },
        note: `import ${formatNumber(f.withSdk.importMs)} ms, first batch ${formatNumber(f.withSdk.firstBatchMs)} ms`,
      },
    ),
  );
  return {
    id: 'cold-start',
    title: '4. Cold start (bundled as the CDK construct bundles it)',
    figures,
    notes: [
      "Built with esbuildOptions() from infra/bundling.ts, the construct's own bundling settings (ESM, node22 target, minified, source map, @aws-sdk/* external); the bundle resolves @aws-sdk/* from node_modules as on the Lambda runtime.",
      `Bundle by package: ${f.byPackage.map(([name, bytes]) => `${name} ${formatNumber(bytes / kb)} KB`).join(', ')}.`,
      `Median of ${f.runs} fresh processes (node ${process.version}, NODE_OPTIONS=${bundleEnvironment.NODE_OPTIONS} as the construct sets); each imports the bundle and calls its Lambda handler twice: 10 new instances (counter, approval, signup, payment), then their second events. Storage and DLQ are the local stack's emulators (SETTLE_* and AWS_ENDPOINT_URL_* from the stack).`,
      "Lambda's own init (runtime boot, downloading the code) is not included; on AWS the DynamoDB round trips of the first batch also pay TLS set-up.",
    ],
    durationMs,
  };
}
