/**
 * §4 Cold start: the worker bundled exactly as the CDK construct bundles it (infra/bundling.ts), its size, and fresh
 * Node processes that import it and handle a first batch against the local stack's emulators — side by side with
 * the worker as commit `d24b9d0` (before issue 16) bundled it by its own infra/bundling.ts, alternating the two.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { bundleEnvironment, bundleFileName, esbuildOptions, sourceMapsEnvironment } from '../../infra/bundling.ts';
import { localCredentials } from '../../local/clients.ts';
import { median } from '../harness.ts';
import { startIdleStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import { exampleMachines, instance, plan, shapeOf, streams, toRecords } from '../workloads.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Inside the repository (and gitignored), so a bundle's external `@aws-sdk/*` resolve from node_modules as on Lambda's runtime. */
const outdir = join(repositoryRoot, 'bench', 'results', 'bundle');

/** The code before issue 16 (cold start, per-event overhead, local throughput): the baseline of this section. */
export const baselineCommit = 'd24b9d0';

interface BundleFacts {
  readonly rawBytes: number;
  readonly gzipBytes: number;
  readonly sourceMapBytes: number;
}

interface Timings {
  readonly importMs: number;
  readonly firstBatchMs: number;
  readonly secondBatchMs: number;
  /** Spawn → exit of the whole child: Node boot, import, both batches. */
  readonly processMs: number;
  /** Import + first batch, per process. */
  readonly totalMs: number;
  /** CPU time (user + system, all threads) of the import and of the first batch, summed per process. */
  readonly cpuMs: number;
}

export interface ColdStartFindings {
  readonly now: BundleFacts & Timings & { readonly byPackage: readonly (readonly [string, number])[] };
  /** The worker of {@link baselineCommit}, bundled by that commit's infra/bundling.ts; absent when git cannot give it. */
  readonly baseline: (BundleFacts & Timings) | undefined;
  /** Today's code with `@aws-sdk/*` left external (the runtime's copy), to split the gain of bundling the SDK from the rest. */
  readonly sdkExternal: BundleFacts & Timings;
  /** Today's bundle run with source maps enabled (`sourceMapsEnvironment`), what a function being debugged pays. */
  readonly sourceMaps: Timings;
  /** NODE_OPTIONS of the construct now and at {@link baselineCommit} (each contender runs with its own). */
  readonly nodeOptions: { readonly now: string; readonly baseline: string | undefined };
  readonly bareNodeMs: number;
  readonly bootMs: number;
  readonly runs: number;
}

const marker = 'SETTLE_BENCH_COLD ';

/** Runs in the fresh process: import the bundle, then two batches through its Lambda `handler`. */
const childScript = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const { handler } = await import(process.env.BENCH_BUNDLE);
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
const [first, second] = JSON.parse(process.env.BENCH_BATCHES);
const context = { getRemainingTimeInMillis: () => 30000, awsRequestId: 'cold-start', functionName: 'settle-worker' };
const a = await handler({ Records: first }, context);
const t2 = performance.now();
const c2 = process.cpuUsage(c0);
const b = await handler({ Records: second }, context);
const t3 = performance.now();
process.stdout.write('\\n${marker}' + JSON.stringify({ bootMs: t0, importMs: t1 - t0, firstBatchMs: t2 - t1, secondBatchMs: t3 - t2,
  cpuImportMs: (c1.user + c1.system) / 1000, cpuFirstBatchMs: (c2.user + c2.system - c1.user - c1.system) / 1000,
  retried: a.batchItemFailures.length + b.batchItemFailures.length }) + '\\n');
process.exit(0);
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
  readonly cpuImportMs: number;
  readonly cpuFirstBatchMs: number;
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

function factsOf(bundlePath: string): BundleFacts {
  const code = readFileSync(bundlePath);
  return { rawBytes: code.byteLength, gzipBytes: gzipSync(code).byteLength, sourceMapBytes: statSync(`${bundlePath}.map`).size };
}

async function bundle(options: BuildOptions, workingDir: string, dir: string): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({ ...options, absWorkingDir: workingDir, logLevel: 'silent' });
  return join(dir, bundleFileName);
}

/**
 * The baseline commit's worker, bundled by that commit's own `esbuildOptions()`: its tree is extracted with `git
 * archive` into a temporary folder (node_modules linked to this one, so both build from the same packages), and
 * the bundle written under bench/results, so its external SDK resolves from node_modules as on Lambda's runtime.
 * With it, the environment that commit's construct gave the function (`bundleEnvironment`: source maps enabled).
 * Undefined when the commit is not in this clone (a shallow checkout).
 */
async function baselineBundle(): Promise<{ path: string; environment: Readonly<Record<string, string>> } | undefined> {
  try {
    execFileSync('git', ['cat-file', '-e', `${baselineCommit}^{commit}`], { cwd: repositoryRoot, stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const source = mkdtempSync(join(tmpdir(), `settle-baseline-${baselineCommit}-`));
  try {
    const archive = execFileSync('git', ['archive', '--format=tar', baselineCommit], { cwd: repositoryRoot, maxBuffer: 256 * 2 ** 20 });
    execFileSync('tar', ['-x', '-C', source], { input: archive });
    symlinkSync(join(repositoryRoot, 'node_modules'), join(source, 'node_modules'), 'dir');
    const { esbuildOptions: baselineOptions, bundleEnvironment: environment } = (await import(
      pathToFileURL(join(source, 'infra', 'bundling.ts')).href
    )) as { esbuildOptions: typeof esbuildOptions; bundleEnvironment: Readonly<Record<string, string>> };
    const dir = `${outdir}-baseline`;
    return { path: await bundle(baselineOptions({ entry: 'functions/worker.ts', outdir: dir }), source, dir), environment };
  } finally {
    rmSync(source, { recursive: true, force: true });
  }
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
  const nowPath = join(outdir, bundleFileName);
  const sdkExternalPath = await bundle(
    {
      ...esbuildOptions({ entry: 'functions/worker.ts', outdir: relative(repositoryRoot, `${outdir}-sdk-external`) }),
      external: ['@aws-sdk/*'],
    },
    repositoryRoot,
    `${outdir}-sdk-external`,
  );
  const baseline = await baselineBundle();
  const output = Object.values(built.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const byPackage = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'settle (functions/, machines/)';
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }

  // Each contender runs with the environment its construct gives the function.
  const contenders = [
    { id: 'now', path: nowPath, environment: bundleEnvironment },
    ...(baseline ? [{ id: 'baseline', path: baseline.path, environment: baseline.environment }] : []),
    { id: 'sdkExternal', path: sdkExternalPath, environment: bundleEnvironment },
    { id: 'sourceMaps', path: nowPath, environment: { ...bundleEnvironment, ...sourceMapsEnvironment } },
  ] as const;
  const results = new Map<string, (ChildResult & { processMs: number })[]>(contenders.map((c) => [c.id, []]));
  const bareMs: number[] = [];
  const stack = await startIdleStack();
  try {
    for (let run = 0; run < sizes.runs; run += 1) {
      const instances = exampleMachines.flatMap((machine) =>
        [0, 1].map((i) => instance(machine, `cold-${Date.now()}-${run}-${i}`, streams[machine])),
      );
      const env = {
        PATH: process.env.PATH,
        ...stack.env,
        AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
      };
      // Contenders alternate, the order rotating each run, each with instances of its own (all new to the table).
      const order = contenders.map((_, i) => contenders[(i + run) % contenders.length] ?? contenders[0]);
      for (const contender of order) {
        const batches = toRecords(
          plan(
            instances.slice(0, 10).map((i) => instance(i.machine, `${i.instanceId}-${contender.id}`, i.stream)),
            2,
            shapeOf(10, 1),
          ),
        );
        const { stdout, wallMs } = await runNode(['--input-type=module', '-e', childScript], {
          ...env,
          ...contender.environment,
          BENCH_BUNDLE: pathToFileURL(contender.path).href,
          BENCH_BATCHES: JSON.stringify(batches),
        });
        const result = parseChild<ChildResult>(stdout);
        if (result.retried > 0) throw new Error(`the ${contender.id} bundle handed ${result.retried} records back`);
        results.get(contender.id)?.push({ ...result, processMs: wallMs });
      }
      bareMs.push((await runNode(['-e', '0'], { PATH: process.env.PATH })).wallMs);
    }
  } finally {
    await stack.stop();
  }
  const timings = (id: string): Timings => {
    const rows = results.get(id) ?? [];
    const pick = (f: (r: ChildResult & { processMs: number }) => number) => median(rows.map(f));
    return {
      importMs: pick((r) => r.importMs),
      firstBatchMs: pick((r) => r.firstBatchMs),
      secondBatchMs: pick((r) => r.secondBatchMs),
      processMs: pick((r) => r.processMs),
      totalMs: pick((r) => r.importMs + r.firstBatchMs),
      cpuMs: pick((r) => r.cpuImportMs + r.cpuFirstBatchMs),
    };
  };
  const findings: ColdStartFindings = {
    now: { ...factsOf(nowPath), ...timings('now'), byPackage: [...byPackage].sort((a, b) => b[1] - a[1]) },
    baseline: baseline ? { ...factsOf(baseline.path), ...timings('baseline') } : undefined,
    sdkExternal: { ...factsOf(sdkExternalPath), ...timings('sdkExternal') },
    sourceMaps: timings('sourceMaps'),
    nodeOptions: { now: bundleEnvironment.NODE_OPTIONS ?? '', baseline: baseline && (baseline.environment.NODE_OPTIONS ?? '') },
    bareNodeMs: median(bareMs),
    bootMs: median((results.get('now') ?? []).map((r) => r.bootMs)),
    runs: sizes.runs,
  };
  return { section: coldStartSectionOf(findings, performance.now() - begun), findings };
}

const shownOptions = (options: string | undefined) => (options === undefined ? 'unknown' : options === '' ? 'none' : `\`${options}\``);

/** The goal of issue 16: import plus first batch at most half the baseline's. */
const goalRatio = 0.5;

function coldStartSectionOf(f: ColdStartFindings, durationMs: number): Section {
  const kb = 1024;
  const { now, baseline: base, sdkExternal, sourceMaps } = f;
  const against = (value: number | undefined) => (value === undefined ? undefined : { name: `before, ${baselineCommit}`, value });
  const total = (t: Timings) => t.totalMs;
  const figures: Figure[] = [
    compared('import + first batch', total(now), 'ms', against(base && total(base)), {
      ...(base ? { goal: { text: `≤ ${goalRatio} × before`, met: total(now) <= goalRatio * total(base) } } : {}),
      note: "wall clock, median over the processes of each one's import + first batch",
    }),
    compared('import + first batch, CPU time', now.cpuMs, 'ms', against(base?.cpuMs), {
      note: 'user + system of the child process: steadier than wall clock on a loaded box',
    }),
    compared('import of the bundle (fresh process)', now.importMs, 'ms', against(base?.importMs)),
    compared('first batch (10 new instances, 4 machines)', now.firstBatchMs, 'ms', against(base?.firstBatchMs), {
      note: "includes the SDK clients' first connections to the emulators",
    }),
    compared('second batch, warm', now.secondBatchMs, 'ms', against(base?.secondBatchMs)),
    compared('process spawn → result (Node boot + import + 2 batches)', now.processMs, 'ms', against(base?.processMs), {
      note: `bare \`node -e 0\` ${formatNumber(f.bareNodeMs)} ms; Node boot before the script ${formatNumber(f.bootMs)} ms`,
    }),
    compared('bundle size (index.mjs)', now.rawBytes / kb, 'KB', against(base && base.rawBytes / kb), {
      note: `no cap; source map ${formatNumber(now.sourceMapBytes / kb)} KB beside it${base ? ` (before ${formatNumber(base.sourceMapBytes / kb)} KB)` : ''}`,
    }),
    compared('bundle size gzipped', now.gzipBytes / kb, 'KB', against(base && base.gzipBytes / kb)),
    compared(
      'variant, today’s code with @aws-sdk/* external: import + first batch',
      total(sdkExternal),
      'ms',
      against(base && total(base)),
      {
        note: `import ${formatNumber(sdkExternal.importMs)} ms, first batch ${formatNumber(sdkExternal.firstBatchMs)} ms, bundle ${formatNumber(sdkExternal.rawBytes / kb)} KB: the lazy loading alone, without bundling the SDK`,
      },
    ),
    compared(
      'variant, today’s bundle with source maps enabled: import + first batch',
      total(sourceMaps),
      'ms',
      against(base && total(base)),
      {
        note: `NODE_OPTIONS=${sourceMapsEnvironment.NODE_OPTIONS} (what a function being debugged pays): import ${formatNumber(sourceMaps.importMs)} ms, first batch ${formatNumber(sourceMaps.firstBatchMs)} ms, CPU ${formatNumber(sourceMaps.cpuMs)} ms (${formatNumber(sourceMaps.cpuMs / now.cpuMs)}× now's)`,
      },
    ),
  ];
  return {
    id: 'cold-start',
    title: '4. Cold start (bundled as the CDK construct bundles it)',
    figures,
    notes: [
      `"Now": built with esbuildOptions() from infra/bundling.ts, the construct's own settings (ESM, node22 target, minified, the AWS SDK bundled in, the source map beside it but not enabled). "Before": the worker of commit ${baselineCommit} (git archive into a temporary folder), built by that commit's own esbuildOptions() (@aws-sdk/* external, resolved from node_modules as on the Lambda runtime).`,
      `Bundle by package (now): ${now.byPackage.map(([name, bytes]) => `${name} ${formatNumber(bytes / kb)} KB`).join(', ')}.`,
      `Median of ${f.runs} fresh processes per contender (node ${process.version}; each with the NODE_OPTIONS its construct sets: now ${shownOptions(f.nodeOptions.now)}, before ${shownOptions(f.nodeOptions.baseline)}), the contenders alternating and their order rotating run by run; each imports its bundle and calls its Lambda handler twice: 10 new instances (counter, approval, signup, payment), then their second events. Storage and DLQ are the local stack's emulators (SETTLE_* and AWS_ENDPOINT_URL_* from the stack).`,
      "Lambda's own init (runtime boot, downloading the code) is not included; on AWS the DynamoDB round trips of the first batch also pay TLS set-up.",
    ],
    durationMs,
  };
}
