import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/wait-for.ts';

/**
 * Settle as a team takes it: `npm pack`, then every block of the README's "Use Settle in your project"
 * run in a fresh folder outside the repository, with the packed tarball in place of `settle` and the
 * versions this repository pins (so npm takes them from its cache). Blocks are `<!-- app:NAME -->`
 * followed by a fenced block; a `.ts`/`.json` name is written as that file, `sh` blocks are run.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };

function block(name: string): string {
  const match = new RegExp(`<!-- app:${name.replace('.', '\\.')} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README has no <!-- app:${name} --> block`);
  return match[1];
}

const pinned = (name: string): string => {
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`package-lock.json has no ${name}`);
  return `${name}@${version}`;
};

let work: string;
let app: string;
let tarball: string;
let dev: ChildProcess | undefined;
/** Where the app's `settle dev` says how to reach it: this suite's own file, never the machine's default. */
let devFile: string;
let devOutput = '';

/** Runs a script in the app folder; returns its output (stdout, then stderr). */
function sh(script: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const result = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], {
    cwd: app,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 240_000,
    env: {
      ...process.env,
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      ...options.env,
    },
  });
  if (result.status !== 0) throw new Error(`exit ${result.status}: ${script}\n${result.stdout}\n${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'settle-app-'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  ) as { filename: string }[];
  tarball = join(work, packed[0]?.filename ?? '');
  app = join(work, 'my-flows');
  devFile = join(work, 'settle-dev.json');
  mkdirSync(app);
  const install = block('install')
    .replace(/npm install settle /, `npm install ${tarball} `)
    .replace(/\b(aws-cdk-lib|constructs|aws-cdk|tsx|vitest)(?=\s|$)/g, (name) => pinned(name));
  sh(install, { timeoutMs: 300_000 });
  for (const file of ['machines.ts', 'machines.test.ts', 'worker.ts', 'app.ts', 'client.ts']) writeFileSync(join(app, file), block(file));
}, 420_000);

afterAll(async () => {
  if (dev?.pid !== undefined && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev?.once('exit', resolve));
    process.kill(-dev.pid, 'SIGINT');
    await exited;
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('Settle installed from its package', () => {
  it('packs the library alone: no tests, bench, examples or fixtures', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);

    expect(listing).toContain('package/dist/runtime/index.js');
    expect(listing).toContain('package/dist/runtime/index.d.ts');
    expect(listing).toContain('package/dist/cli/bin.js');
    expect(listing).toContain('package/dist/client/index.js');
    expect(listing).toContain('package/dist/client/index.d.ts');
    // The dashboard ships built: its page, script and stylesheet, not its source.
    for (const file of ['index.html', 'app.js', 'app.css']) expect(listing).toContain(`package/dist/dashboard/${file}`);
    expect(listing.filter((path) => path.startsWith('package/dist/dashboard/app/') || path.endsWith('.tsx'))).toEqual([]);
    expect(listing).toContain('package/LICENSE');
    expect(listing.filter((path) => /^package\/(test|bench|machines|docs)\/|\/machines\/|\.test\.|fixtures/.test(path))).toEqual([]);
  });

  it("runs the app's own unit test through settle/testing: the machine settles and a 3-day timer fires", () => {
    const output = sh(block('test'));

    expect(output).toMatch(/1 passed/);
  });

  it('`settle dev --registry ./machines.ts` takes an event sent with the AWS CLI and saves the settled instance', async () => {
    // The README's command, on free ports: other test files run the local stack on the default ones.
    dev = spawn('bash', ['-c', `exec ${block('dev').trim()} --sqs-port 0 --dynamodb-port 0 --api-port 0`], {
      cwd: app,
      env: { ...process.env, TSX_DISABLE_CACHE: '1', SETTLE_DEV_FILE: devFile },
      detached: true, // its own process group: Ctrl-C reaches npx and node alike
    });
    dev.stdout?.on('data', (chunk: Buffer) => (devOutput += chunk.toString()));
    dev.stderr?.on('data', (chunk: Buffer) => (devOutput += chunk.toString()));
    await waitFor(() => devOutput.includes('Try it with the AWS CLI'), {
      timeoutMs: 30_000,
      description: `settle dev ready; output so far:\n${devOutput}`,
    });
    const sqs = /SQS {7}(http:\/\/127\.0\.0\.1:\d+)/.exec(devOutput)?.[1];
    const dynamodb = /DynamoDB {2}(http:\/\/127\.0\.0\.1:\d+)/.exec(devOutput)?.[1];
    expect(devOutput).toContain('Machines  order v1');

    const local = (text: string) => text.replaceAll('http://127.0.0.1:9324', sqs ?? '').replaceAll('http://127.0.0.1:8000', dynamodb ?? '');
    const send = local(block('send'));
    sh(send);
    const item = await waitFor(
      () => {
        const output = sh(`${send.split('\n')[0]}\n${local(block('read'))}`, { env: { NODE_NO_WARNINGS: '1' } });
        return output.includes('awaitingPayment') ? output : undefined;
      },
      { timeoutMs: 20_000, description: 'order/o1 saved' },
    );

    expect(JSON.parse(item)).toEqual({ states: ['awaitingPayment'], outcome: 'resolve' });
    await waitFor(() => /order\/o1 {2}PLACE {2}draft → awaitingPayment {2}resolve/.test(devOutput), {
      timeoutMs: 5_000,
      description: `the applied line in:\n${devOutput}`,
    });
  }, 60_000);

  it('`npx settle send --wait` and `settle list` reach the same settle dev, and so does a SettleClient script', () => {
    // Runs after the test above, on the settle dev it started.
    const env = { SETTLE_DEV_FILE: devFile, NODE_NO_WARNINGS: '1' };

    const cli = sh(block('settle'), { env });

    expect(cli).toMatch(/^order\/o2 {2}\d+ {2}resolve\n {2}states {3}awaitingPayment$/m);
    expect(cli).toMatch(/^order\/o1 +awaitingPayment +active +resolve/m);
    expect(cli).toMatch(/^order\/o2 +awaitingPayment +active +resolve/m);
    expect(cli).toMatch(/^2 instances$/m);
    expect(sh(block('client'), { env }).trim()).toBe("resolve [ 'awaitingPayment' ]");
  }, 60_000);

  it("`cdk synth` in the app produces a template whose worker bundle holds the app's machine", () => {
    // --no-notices: the CDK CLI would otherwise ask the internet for notices.
    const output = sh(`${block('synth').trim()} --no-notices`, { env: { CDK_DISABLE_VERSION_CHECK: '1' }, timeoutMs: 180_000 });

    // No warning the user did not cause (Node's own deprecation notices aside).
    expect(
      output.split('\n').filter((line) => /warn/i.test(line) && !/NodeVersionSupportWarning|node --trace-warnings/.test(line)),
    ).toEqual([]);
    const out = join(app, 'cdk.out');
    const template = JSON.parse(readFileSync(join(out, 'MyFlows.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: { Description?: string } }>;
    };
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    expect(functions.map((fn) => fn.Properties?.Description?.split(':')[0]).sort()).toEqual(
      expect.arrayContaining(['Settle sweeper', 'Settle worker']),
    );
    const bundles = readdirSync(out)
      .filter((name) => name.startsWith('asset.') && existsSync(join(out, name, 'index.mjs')))
      .map((name) => readFileSync(join(out, name, 'index.mjs'), 'utf8'));
    expect(bundles.filter((code) => code.includes('awaitingPayment') && code.includes('paymentWindow'))).toHaveLength(1);
  }, 200_000);
});
