import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleEnvironment,
  bundleFileName,
  esbuildOptions,
  esmRequireBanner,
  lazySdkModules,
  sourceMapsEnvironment,
} from '../../infra/bundling.ts';
import { SettleStack } from '../../infra/settle-stack.ts';
import { fixtureEntry, repositoryRoot } from './helpers.ts';

// Built under the repository's (git-ignored) cdk.out so the bundle resolves the lazily loaded, external AWS SDK
// packages from node_modules, as the Lambda runtime resolves them from its own copy.
const scratch = join(repositoryRoot, 'cdk.out');
let outdir: string;
let assetDir: string;

beforeAll(() => {
  mkdirSync(scratch, { recursive: true });
  outdir = mkdtempSync(join(scratch, 'infra-bundling-'));
  const app = new App({ outdir });
  new SettleStack(app, 'SettleStack', { service: { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry } });
  app.synth();
  const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
  // The worker, the sweeper and the API function share the fixture entry, so they share one asset.
  expect(assets).toHaveLength(1);
  assetDir = join(outdir, assets[0] ?? '');
}, 60_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('SettleService', () => {
  describe('bundling', () => {
    it('builds with local esbuild: a minified ESM index.mjs with a linked source map', () => {
      expect(readdirSync(assetDir).sort()).toEqual([bundleFileName, `${bundleFileName}.map`]);
      const code = readFileSync(join(assetDir, bundleFileName), 'utf8');
      const map = JSON.parse(readFileSync(join(assetDir, `${bundleFileName}.map`), 'utf8'));

      expect(code.startsWith(esmRequireBanner)).toBe(true);
      expect(code.trimEnd().endsWith(`//# sourceMappingURL=${bundleFileName}.map`)).toBe(true);
      // Minified: long lines (the bundled SDK keeps a few newlines inside template literals and license comments).
      expect(code.length / code.split('\n').length).toBeGreaterThan(2_000);
      expect(map.sources).toContain('../../../test/infra/fixtures/handler.ts');
      expect(map.sourcesContent).toBeUndefined();
    });

    it('bundles the AWS SDK clients, leaving external only the lazily loaded SDK packages, each by import()', () => {
      const code = readFileSync(join(assetDir, bundleFileName), 'utf8');
      const packages = [...code.matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]).filter((name) => !name?.startsWith('node:'));
      const dynamic = [...code.matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]).filter((name) => !name?.startsWith('node:'));

      // Nothing is imported statically from outside the bundle: the fixture's SQSClient, XState and Powertools are in it.
      expect(packages).toEqual([]);
      expect(code).toContain('SQSClient');
      expect(dynamic.every((name) => (lazySdkModules as readonly string[]).includes(name ?? ''))).toBe(true);
    });

    it('loads as ESM and runs the handler, CommonJS dependencies included', async () => {
      const bundle = await import(pathToFileURL(join(assetDir, bundleFileName)).href);

      await expect(bundle.handler({ ping: 1 })).resolves.toEqual({ machine: 'fixture', sdk: 'SQSClient', received: { ping: 1 } });
    });

    it('esbuildOptions() builds the same bundle as the construct', async () => {
      const own = mkdtempSync(join(scratch, 'infra-esbuild-'));
      try {
        await build({
          ...esbuildOptions({ entry: relative(repositoryRoot, fixtureEntry), outdir: own }),
          absWorkingDir: repositoryRoot,
          logLevel: 'silent',
        });

        expect(readFileSync(join(own, bundleFileName), 'utf8')).toBe(readFileSync(join(assetDir, bundleFileName), 'utf8'));
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    it("keeps class names, so Settle's errors log as PermanentError, not as a minified letter", async () => {
      // Bug: minify without keepNames renamed the error classes, and `new.target.name` gave names like 'a'.
      const own = mkdtempSync(join(scratch, 'infra-names-'));
      try {
        const entry = join(own, 'entry.ts');
        writeFileSync(entry, `export { PermanentError, VersionConflictError } from '${join(repositoryRoot, 'runtime/core/errors.ts')}';\n`);
        await build({ ...esbuildOptions({ entry, outdir: own }), absWorkingDir: repositoryRoot, logLevel: 'silent' });
        const { PermanentError, VersionConflictError } = await import(pathToFileURL(join(own, bundleFileName)).href);

        expect(new PermanentError('invalid-json', 'bad').name).toBe('PermanentError');
        expect(new VersionConflictError('counter/c1', 1).name).toBe('VersionConflictError');
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    it('runs without source maps enabled, yet a stack frame names its function and the shipped map decodes its position', async () => {
      // bundleEnvironment leaves --enable-source-maps off (its cost on every cold start, docs/PERFORMANCE.md §4):
      // a frame then reads `at <name> (…/index.mjs:<line>:<column>)`, and the map beside the bundle finds the TypeScript.
      expect(bundleEnvironment).toEqual({});
      expect(sourceMapsEnvironment).toEqual({ NODE_OPTIONS: '--enable-source-maps' });
      const own = mkdtempSync(join(scratch, 'infra-frames-'));
      try {
        const entry = join(own, 'entry.ts');
        writeFileSync(entry, "export function failingStep(): never {\n  throw new Error('boom');\n}\n");
        await build({ ...esbuildOptions({ entry, outdir: own }), absWorkingDir: repositoryRoot, logLevel: 'silent' });
        const bundle = pathToFileURL(join(own, bundleFileName)).href;
        const script = `const { failingStep } = await import(${JSON.stringify(bundle)}); try { failingStep(); } catch (error) { process.stdout.write(error.stack); }`;
        const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
          env: { PATH: process.env.PATH, ...bundleEnvironment },
        });

        const frame = /at failingStep \((.+):(\d+):(\d+)\)/.exec(stdout);
        expect(frame?.[1]).toBe(bundle);
        const map = new SourceMap(JSON.parse(readFileSync(join(own, `${bundleFileName}.map`), 'utf8')));
        const found = map.findEntry(Number(frame?.[2]) - 1, Number(frame?.[3]) - 1) as { originalSource?: string; originalLine?: number };
        expect(found.originalSource).toMatch(/entry\.ts$/);
        expect(found.originalLine).toBe(1); // zero-based: the throw
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    it('writes and bundles a worker entry over a registry module, so an app needs no entry file of its own', async () => {
      const own = mkdtempSync(join(scratch, 'infra-registry-'));
      try {
        const app = new App({ outdir: own });
        new SettleStack(app, 'RegistryStack', { service: { registry: join(repositoryRoot, 'machines/index.ts') } });
        app.synth();
        const bundles = readdirSync(own)
          .filter((name) => name.startsWith('asset.'))
          .map((name) => join(own, name, bundleFileName));
        const worker = bundles.find((file) => readFileSync(file, 'utf8').includes('paymentWindow'));

        expect(worker, "a bundle holding the example registry's payment machine").toBeDefined();
        expect(readFileSync(worker ?? '', 'utf8')).toContain('checkBudget'); // the approval machine's named actor
        const { handler } = await import(pathToFileURL(worker ?? '').href);
        expect(typeof handler).toBe('function');
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    }, 60_000);
  });
});
