import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevDiscovery } from '../../client/connection.ts';
import type { SettleClient } from '../../client/settle-client.ts';
import { exitCodes } from '../../cli/output.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { registry } from '../../machines/index.ts';
import { silentLogger } from '../../runtime/core/logger.ts';
import { indexed } from './support.ts';
import { parseXml } from './xml.ts';
import { runSettle, type SettleRun, shellEnv } from '../support/settle-cli.ts';

/** `settle diagram`, as a user runs it: the real executable in a new Node process. */
const root = join(import.meta.dirname, '..', '..');
const folder = mkdtempSync(join(tmpdir(), 'settle-diagram-'));
const registryModule = join(root, 'machines', 'index.ts');

/** A shell with no AWS or Settle settings, and a discovery file where no `settle dev` ever wrote one. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return shellEnv({ SETTLE_DEV_FILE: join(folder, 'no-dev.json'), ...extra });
}

function settle(args: readonly string[], environment: NodeJS.ProcessEnv = env(), timeoutMs = 30_000): Promise<SettleRun> {
  return runSettle(args, { env: environment, cwd: root, timeoutMs });
}

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('settle diagram', () => {
  it('writes the SVG to --out, and says so in one line', async () => {
    const out = join(folder, 'approval.svg');
    const run = await settle(['diagram', 'approval', '--registry', 'machines/index.ts', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(exitCodes.ok);
    expect(run.stdout.trim()).toBe(`approval → ${out}`);
    const drawn = indexed(parseXml(readFileSync(out, 'utf8')));
    expect([...drawn.states.keys()]).toEqual(expect.arrayContaining(['draft', 'review', 'review.legal', 'review.finance.pending']));
    expect([...drawn.states.values()].some((group) => group.attributes['data-active'])).toBe(false);
  });

  it('writes the SVG to standard output without --out', async () => {
    const run = await settle(['diagram', 'payment', '--registry', 'machines/index.ts']);
    expect(run.code).toBe(exitCodes.ok);
    expect(parseXml(run.stdout).attributes['data-machine']).toBe('payment');
  });

  it("draws from a running settle dev's registry when --registry is not given", async () => {
    // What `settle dev` writes; this test's own process stands in for it (the file counts while its pid is alive).
    const devFile = join(folder, 'dev.json');
    const discovery: DevDiscovery = {
      pid: process.pid,
      sqsEndpoint: 'http://127.0.0.1:9',
      dynamodbEndpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      queueUrl: 'http://127.0.0.1:9/000000000000/settle-events.fifo',
      deadLetterQueueUrl: 'http://127.0.0.1:9/000000000000/settle-dlq.fifo',
      tableName: 'settle-instances',
      registry: registryModule,
    };
    writeFileSync(devFile, JSON.stringify(discovery));
    const run = await settle(['diagram', 'signup'], env({ SETTLE_DEV_FILE: devFile }));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(exitCodes.ok);
    expect(parseXml(run.stdout).attributes['data-machine']).toBe('signup');
  });

  it('refuses an unknown machine, a missing registry, and an instance of another machine: one line, exit code 2', async () => {
    const [unknown, noRegistry, absent, otherMachine, badKey] = await Promise.all([
      settle(['diagram', 'invoice', '--registry', 'machines/index.ts']),
      settle(['diagram', 'approval']),
      settle(['diagram', 'approval', '--registry', 'nowhere/machines.ts']),
      settle(['diagram', 'approval', '--registry', 'machines/index.ts', '--instance', 'payment/p1']),
      settle(['diagram', 'approval', '--registry', 'machines/index.ts', '--instance', 'not a key']),
    ]);
    for (const run of [unknown, noRegistry, absent, otherMachine, badKey]) {
      expect(run.code, run.stderr).toBe(exitCodes.usage);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(unknown.stderr).toMatch(/No machine 'invoice' in .*machines\/index\.ts: it has counter, approval, signup, payment\./);
    expect(noRegistry.stderr).toMatch(/No registry to draw from: pass --registry <module>/);
    expect(absent.stderr).toMatch(/--registry nowhere\/machines\.ts does not exist/);
    expect(otherMachine.stderr).toMatch(/an instance of 'payment', not of 'approval'/);
    expect(badKey.stderr).toMatch(/is not an instance key/);
  });

  describe('--instance, against a running local stack', () => {
    let stack: LocalStack;
    let client: SettleClient<typeof registry>;
    let environment: NodeJS.ProcessEnv;

    beforeAll(async () => {
      stack = await startLocalStack({ registry, logger: silentLogger, sweeper: null, poller: { waitTimeSeconds: 1 } });
      client = stack.client(registry);
      environment = env({ ...stack.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
    }, 60_000);

    afterAll(async () => {
      // The client shares the stack's SDK clients: the stack closes them.
      await stack?.stop();
    }, 30_000);

    it("lights the states the instance is in: every region's leaf and their ancestors", async () => {
      const result = await client.sendAndWait('approval', 'doc-1', { type: 'SUBMIT', by: 'eve' }, { timeoutMs: 20_000 });
      expect(result.outcome).toBe('resolve');
      const view = await client.get('approval', 'doc-1');
      expect(view?.states.length).toBe(2);

      const run = await settle(['diagram', 'approval', '--instance', 'approval/doc-1', '--registry', registryModule], environment);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(exitCodes.ok);
      const drawn = indexed(parseXml(run.stdout));
      const lit = [...drawn.states].filter(([, group]) => group.attributes['data-active'] === 'true').map(([path]) => path);
      const expected = new Set(
        view?.states.flatMap((path) => path.split('.').map((_, index, parts) => parts.slice(0, index + 1).join('.'))),
      );
      expect(lit.sort()).toEqual([...expected].sort());
      expect(lit).toEqual(expect.arrayContaining(['review', 'review.legal', 'review.finance']));
    });

    it('refuses an instance that does not exist, with exit code 2', async () => {
      const run = await settle(['diagram', 'approval', '--instance', 'approval/never', '--registry', registryModule], environment);
      expect(run.code).toBe(exitCodes.usage);
      expect(run.stderr).toMatch(/approval\/never does not exist/);
      expect(run.stdout).toBe('');
    });
  });
});
