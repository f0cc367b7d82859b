import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevDiscovery } from '../../client/connection.ts';
import { SettleClient } from '../../client/index.ts';
import { exitCodes } from '../../cli/output.ts';
import { runSettle, type SettleRun, shellEnv } from '../support/settle-cli.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The "Done when" for the `settle` CLI: every command here is the real `settle` executable (a new Node
 * process) talking to a real `settle dev` process, as a user's terminal would. The dev process's discovery file
 * lives in this test's folder, so nothing here touches another `settle dev` on the machine.
 */
const root = join(import.meta.dirname, '..', '..');
const folder = join(import.meta.dirname, `.tmp-cli-${process.pid}`);
const devFile = join(folder, 'dev.json');
const registryFile = join(folder, 'machines.ts');
const laterRegistryFile = join(folder, 'later.ts');
const cliRegistry = join(root, 'test', 'support', 'cli-registry.ts');

/** A user's shell, with this test's discovery file. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return shellEnv({ SETTLE_DEV_FILE: devFile, ...extra });
}

/** Runs `settle <args>` to its end (bounded). */
function settle(args: readonly string[], environment: NodeJS.ProcessEnv = env(), timeoutMs = 60_000): Promise<SettleRun> {
  return runSettle(args, { env: environment, cwd: folder, timeoutMs });
}

function json<T>(run: SettleRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`settle printed no JSON (exit ${run.code}); stdout: ${run.stdout}; stderr: ${run.stderr}`);
  }
}

function writeRegistry(withRefund: boolean): void {
  writeFileSync(
    registryFile,
    withRefund
      ? `import { defineRegistry } from '${join(root, 'runtime', 'index.ts')}';
import { counterMachine } from '${join(root, 'machines', 'counter.ts')}';
import { registry as base } from '${cliRegistry}';
export const registry = defineRegistry({ ...base, refund: { machine: counterMachine, version: 1 } });
`
      : `export { registry } from '${cliRegistry}';\n`,
  );
}

let dev: ChildProcess | undefined;
let devOutput = '';
let discovery: DevDiscovery;
let client: SettleClient;
let sqs: SQSClient;

beforeAll(async () => {
  mkdirSync(folder, { recursive: true });
  writeRegistry(false);
  // A registry the CLI may check against that knows `refund` before the worker does (see the redrive test).
  writeFileSync(
    laterRegistryFile,
    `import { defineRegistry } from '${join(root, 'runtime', 'index.ts')}';
import { counterMachine } from '${join(root, 'machines', 'counter.ts')}';
export const registry = defineRegistry({ refund: { machine: counterMachine, version: 1 } });
`,
  );
  dev = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'cli', 'bin.ts'),
      'dev',
      '--registry',
      registryFile,
      '--sqs-port',
      '0',
      '--dynamodb-port',
      '0',
      '--api-port',
      '0',
    ],
    {
      cwd: folder,
      env: env({ TSX_DISABLE_CACHE: '1' }),
    },
  );
  dev.stdout?.on('data', (chunk: Buffer) => {
    devOutput += chunk;
  });
  dev.stderr?.on('data', (chunk: Buffer) => {
    devOutput += chunk;
  });
  discovery = await waitFor(
    () => {
      try {
        return JSON.parse(readFileSync(devFile, 'utf8')) as DevDiscovery;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, description: 'settle dev to write its discovery file' },
  );
  client = await SettleClient.connect({}, undefined);
  sqs = new SQSClient({
    endpoint: discovery.sqsEndpoint,
    region: discovery.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}, 60_000);

// The SDK reads SETTLE_DEV_FILE from this process's environment to connect the test's own client.
process.env.SETTLE_DEV_FILE = devFile;

afterAll(async () => {
  client?.destroy();
  sqs?.destroy();
  if (dev && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev?.once('exit', resolve));
    dev.kill('SIGINT');
    await exited;
  }
  rmSync(folder, { recursive: true, force: true });
}, 30_000);

describe('settle send --wait', () => {
  it('answers with the settled state, and an exit code for a resolve, an ignored, a reject, a done and a dead-lettered event', async () => {
    const submitted = await settle(['send', 'approval/w1', '{"type":"SUBMIT","by":"eve"}', '--wait', '--json']);
    expect(submitted.code, submitted.stderr).toBe(exitCodes.ok);
    expect(json(submitted)).toMatchObject({
      instanceKey: 'approval/w1',
      outcome: 'resolve',
      states: ['review.legal.pending', 'review.finance.pending'],
      status: 'active',
      tags: ['resolve'],
      context: { submittedBy: 'eve' },
    });
    expect(json<{ sequenceNumber: string }>(submitted).sequenceNumber).toMatch(/^\d+$/);

    const again = await settle(['send', 'approval/w1', '{"type":"SUBMIT","by":"eve"}', '--wait']);
    expect(again.code).toBe(exitCodes.ignored);
    expect(again.stdout).toMatch(/^approval\/w1 {2}\d+ {2}ignored$/m);

    const rejected = await settle(['send', 'approval/w1', '{"type":"REJECT","role":"legal","by":"bo","reason":"no"}', '--wait']);
    expect(rejected.code).toBe(exitCodes.reject);
    expect(rejected.stdout).toMatch(/reject\n {2}states {3}rejected/);

    for (const event of ['{"type":"SUBMIT","by":"eve"}', '{"type":"APPROVE","role":"legal","by":"ana"}']) {
      expect((await settle(['send', 'approval/w2', event, '--wait'])).code).toBe(exitCodes.ok);
    }
    const done = await settle(['send', 'approval/w2', '{"type":"APPROVE","role":"finance","by":"bo"}', '--wait', '--json']);
    expect(done.code).toBe(exitCodes.ok);
    expect(json(done)).toMatchObject({ outcome: 'done', status: 'done', states: ['approved'] });

    const failed = await settle(['send', 'faulty/w3', '{"type":"ACTION_THROWS"}', '--wait', '--json']);
    expect(failed.code).toBe(exitCodes.deadLettered);
    expect(json(failed)).toMatchObject({ outcome: 'dead-lettered', deadLetter: { code: 'machine-error' } });
    expect(json<{ deadLetter: { reason: string } }>(failed).deadLetter.reason).toMatch(/faulty\/w3/);
  }, 120_000);

  it('says when the time runs out, how to look later, and exits with the timeout code', async () => {
    // The CLI checks against a registry that knows `refund`; the worker does not yet, so the event is
    // dead-lettered without an instance to record it, and the wait cannot end. The redrive test fixes it.
    const result = await settle(['send', 'refund/r0', '{"type":"COUNT"}', '--wait', '--timeout', '2s', '--registry', laterRegistryFile]);
    expect(result.code).toBe(exitCodes.timeout);
    expect(result.stderr.trim()).toMatch(
      /^settle: Instance refund\/r0 had not handled event \d+ after 2000 ms\. It is queued, not lost: look later with `settle history refund\/r0`/,
    );
  }, 60_000);
});

describe('settle list', () => {
  it('finds exactly the instances in a state among 1,000, through every page', async () => {
    const signed = new Set<string>();
    const lines: string[] = [];
    for (let i = 0; i < 1000; i += 1) {
      const key = `document/l${String(i).padStart(4, '0')}`;
      lines.push(JSON.stringify({ instance: key, event: { type: 'SUBMIT', by: 'eve' } }));
      if (i % 4 === 0) {
        signed.add(key);
        lines.push(JSON.stringify({ instance: key, event: { type: 'APPROVE', role: 'legal', by: 'ana' } }));
      }
    }
    writeFileSync(join(folder, 'documents.jsonl'), `${lines.join('\n')}\n`);
    const sent = await settle(['send', '--file', 'documents.jsonl', '--wait', '--timeout', '120s'], env(), 240_000);
    expect(sent.code, sent.stderr).toBe(exitCodes.ok);

    type Listed = { items: { key: string; states: string[] }[]; cursor?: string };
    const inState = async (state: string) =>
      json<Listed>(await settle(['list', '--machine', 'document', '--state', state, '--all', '--limit', '200', '--json'])).items;
    const signedFound = await inState('review.legal.signed');
    expect(signedFound.map((item) => item.key).sort()).toEqual([...signed].sort());
    for (const item of signedFound) expect(item.states).toContain('review.legal.signed');
    expect(await inState('review.legal.pending')).toHaveLength(750);
    const all = await inState('review');
    expect(new Set(all.map((item) => item.key)).size).toBe(1000);
    expect(await inState('approved')).toEqual([]);

    const firstPage = await settle(['list', '--machine', 'document', '--state', 'review.legal.signed', '--limit', '100']);
    expect(firstPage.code).toBe(exitCodes.ok);
    expect(firstPage.stdout).toMatch(/^100 instances; more with --cursor \S+ \(or --all\)$/m);
  }, 300_000);
});

describe('settle dlq', () => {
  it('lists every one of 25 letters, twice in a row, and leaves them in place', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ instance: `faulty/d${i}`, event: { type: 'ACTION_THROWS' } }));
    writeFileSync(join(folder, 'poison.jsonl'), `${lines.join('\n')}\n`);
    expect((await settle(['send', '--file', 'poison.jsonl', '--wait'])).code).toBe(exitCodes.ok);

    type Listing = { letters: { letterId: string; instanceKey: string; code: string; reason: string; sequenceNumber: string }[] };
    const ours = (listing: Listing) => listing.letters.filter((letter) => /^faulty\/d\d+$/.test(letter.instanceKey));
    const first = ours(json<Listing>(await settle(['dlq', 'list', '--json'])));
    const second = ours(json<Listing>(await settle(['dlq', 'list', '--json'])));
    expect(first).toHaveLength(25);
    expect(new Set(first.map((letter) => letter.instanceKey)).size).toBe(25);
    expect(second.map((letter) => letter.letterId).sort()).toEqual(first.map((letter) => letter.letterId).sort());
    for (const letter of first) {
      expect(letter.code).toBe('machine-error');
      expect(letter.reason).toContain(letter.instanceKey);
    }

    const human = await settle(['dlq', 'list', '--instance', 'faulty/d7']);
    expect(human.stdout).toMatch(/faulty\/d7 +\d+ +machine-error/);
    expect(human.stdout).toMatch(/^1 letter$/m);
  }, 120_000);

  it('refuses to redrive a letter the instance applied, and applies a fixed one exactly once', async () => {
    // Before the fix: the worker still has no `refund`, and neither does the registry the CLI checks with.
    const early = await settle(['dlq', 'redrive', '--instance', 'refund/r0']);
    expect(early.code).toBe(exitCodes.notRedriven);
    expect(early.stdout).toMatch(/refused +the registry still refuses it: No machine named 'refund'/);

    // The fix: `refund` is added to the registry; settle dev reloads its worker.
    const reloads = devOutput.split('reloaded').length;
    writeRegistry(true);
    await waitFor(() => devOutput.split('reloaded').length > reloads, {
      timeoutMs: 30_000,
      description: 'settle dev to reload the registry',
    });

    const redriven = await settle(['dlq', 'redrive', '--instance', 'refund/r0', '--json']);
    expect(redriven.code, redriven.stdout + redriven.stderr).toBe(exitCodes.ok);
    const [result] = json<{ status: string; sequenceNumber: string; letter: { letterId: string } }[]>(redriven);
    expect(result?.status).toBe('redriven');
    const history = await waitFor(async () => (await client.get('refund', 'r0'))?.history, {
      timeoutMs: 20_000,
      description: 'refund/r0 to apply the redriven event',
    });
    expect(history).toEqual([
      expect.objectContaining({ seq: result?.sequenceNumber, type: 'COUNT', outcome: 'resolve', redriveOf: result?.letter.letterId }),
    ]);

    // The letter again in the DLQ, as if removing it had failed: a second redrive is refused.
    const dlqListing = json<{ letters: { instanceKey: string }[] }>(await settle(['dlq', 'list', '--json']));
    expect(dlqListing.letters.filter((letter) => letter.instanceKey === 'refund/r0')).toEqual([]);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: discovery.deadLetterQueueUrl,
        MessageGroupId: 'letter-again',
        MessageDeduplicationId: 'letter-again',
        MessageBody: '{"type":"COUNT"}',
        MessageAttributes: {
          'settle-error': { DataType: 'String', StringValue: 'unknown-machine' },
          'settle-reason': { DataType: 'String', StringValue: 'No machine named refund' },
          'settle-group': { DataType: 'String', StringValue: 'refund/r0' },
          'settle-message-id': { DataType: 'String', StringValue: result?.letter.letterId ?? '' },
        },
      }),
    );
    const twice = await settle(['dlq', 'redrive', '--instance', 'refund/r0']);
    expect(twice.code).toBe(exitCodes.notRedriven);
    expect(twice.stdout).toMatch(/refused +it was redriven before: refund\/r0 handled it as event \d+ \(resolve\)/);

    // A letter SQS moved itself (no settle-error) for an event the instance applied: refused unless forced.
    expect((await settle(['send', 'tally/m1', '{"type":"COUNT"}', '--wait'])).code).toBe(exitCodes.ok);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: discovery.deadLetterQueueUrl,
        MessageGroupId: 'tally/m1',
        MessageDeduplicationId: 'moved-1',
        MessageBody: '{"type":"COUNT"}',
      }),
    );
    const moved = await settle(['dlq', 'redrive', '--instance', 'tally/m1']);
    expect(moved.code).toBe(exitCodes.notRedriven);
    expect(moved.stdout).toMatch(
      /refused +SQS moved it after its last receive without a decision by the worker, so the event may already be applied/,
    );
    const forced = await settle(['dlq', 'redrive', '--instance', 'tally/m1', '--force']);
    expect(forced.code).toBe(exitCodes.ok);
    await waitFor(async () => (await client.get('tally', 'm1'))?.history.length === 2, {
      timeoutMs: 20_000,
      description: 'tally/m1 to apply the forced redrive',
    });

    expect((await client.get('refund', 'r0'))?.history).toHaveLength(1);
  }, 180_000);
});

describe('settle send --file', () => {
  it('sends 10,000 events with a progress bar, and every event is applied', async () => {
    const lines: string[] = [];
    for (let round = 0; round < 100; round += 1) {
      for (let i = 0; i < 100; i += 1) lines.push(JSON.stringify({ instance: `tally/b${i}`, event: { type: 'COUNT' } }));
    }
    writeFileSync(join(folder, 'bulk.jsonl'), `${lines.join('\n')}\n`);

    const run = await settle(['send', '--file', 'bulk.jsonl', '--wait', '--timeout', '300s'], env(), 600_000);

    expect(run.code, run.stderr).toBe(exitCodes.ok);
    expect(run.stderr).toMatch(/sent \[[=-]+\] \d+\/10000/);
    expect(run.stderr).toContain('sent [========================================] 10000/10000 100%');
    expect(run.stdout).toMatch(/^sent 10000 events to 100 instances; every instance has handled its events/);
    for (let i = 0; i < 100; i += 1) {
      const tally = await client.get('tally', `b${i}`);
      // Each COUNT adds 2 (counting → odd → even); 100 COUNTs, each applied once.
      expect(tally?.context).toEqual({ count: 200 });
      expect(tally?.history.every((entry) => entry.outcome === 'resolve')).toBe(true);
    }
  }, 600_000);
});

describe('settle link', () => {
  it("makes a callback link on the local stack's API: GET shows it, POST sends the event", async () => {
    const made = await settle(['link', 'counter/k1', '{"type":"COUNT"}', '--expires-in', '1h']);
    expect(made.code, made.stderr).toBe(exitCodes.ok);
    const link = made.stdout.trim();
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callbacks\/[\w-]+\.[\w-]+$/);

    expect(await (await fetch(link)).json()).toMatchObject({ decision: 'open', instanceKey: 'counter/k1', event: { type: 'COUNT' } });
    expect(await client.get('counter', 'k1')).toBeUndefined();
    expect(await (await fetch(link, { method: 'POST' })).json()).toMatchObject({ decision: 'done', context: { count: 2 } });

    const refused = await settle(['link', 'counter/k1', '{"type":"COUNT"}', '--expires-in', '400d']);
    expect(refused.code).toBe(exitCodes.usage);
    expect(refused.stderr.trim()).toBe('settle: expiresIn must be from 1 second to 365 days, got 400d.');
  }, 60_000);
});

describe('settle: bad input', () => {
  it('says what was wrong and what to do in one line, exits 2, and sends nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['send', 'counter-x1', '{"type":"COUNT"}'], /'counter-x1' is not an instance key: write <machine>\/<instanceId>/],
      [['send', 'nope/x1', '{"type":"COUNT"}'], /No machine named 'nope' is registered .* known machines: counter, approval/],
      [['send', 'counter/x1', '{"type":'], /The event is not JSON \(.*\): write it as '\{"type":"COUNT"\}'/],
      [['send', 'counter/x1', '{"type":"SUBMIT"}'], /No state of machine 'counter' takes an event of type 'SUBMIT'.* It takes: COUNT\./],
      [['send', 'counter/x1', '{"type":"xstate.init"}'], /Event type 'xstate\.init' .* reserved prefix 'xstate\.'/],
      [['send', 'approval/x1', '{"type":"APPROVE","role":"sales","by":"x"}'], /"role" must be "legal" or "finance"/],
      [['send', 'counter/x1', '{"type":"COUNT"}', '--wait', '--timeout', 'soon'], /--timeout must be a duration such as 30s/],
      [['list', '--machine', 'Counter'], /machine 'Counter' is not a machine name/],
      [['dlq', 'redrive'], /Choose the letters to redrive: --instance <key>, --letter <id…> \(see settle dlq list\), or --all\./],
      [['get', 'counter/x1'], /counter\/x1 does not exist \(no event has created it yet\)/],
    ];
    for (const [args, expected] of cases) {
      const run = await settle(args);
      expect(run.code, `settle ${args.join(' ')}: ${run.stderr}`).toBe(exitCodes.usage);
      expect(run.stderr.trim().split('\n'), `settle ${args.join(' ')}`).toHaveLength(1);
      expect(run.stderr).toMatch(/^settle: /);
      expect(run.stderr).toMatch(expected);
      expect(run.stdout).toBe('');
    }

    const nowhere = env({ SETTLE_DEV_FILE: join(folder, 'no-dev.json') });
    const unconfigured = await settle(['send', 'counter/x1', '{"type":"COUNT"}'], nowhere);
    expect(unconfigured.code).toBe(exitCodes.usage);
    expect(unconfigured.stderr.trim()).toBe(
      'settle: No Settle stack to talk to: start `settle dev` in another terminal, or pass --stack <name> for a deployed stack, or set SETTLE_QUEUE_URL, SETTLE_DLQ_URL and SETTLE_TABLE.',
    );
    const noCredentials = await settle(['get', 'counter/x1', '--stack', 'orders-prod', '--region', 'eu-west-1'], {
      ...nowhere,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(folder, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(folder, 'none'),
    });
    expect(noCredentials.code).toBe(exitCodes.usage);
    expect(noCredentials.stderr.trim()).toMatch(
      /^settle: No usable AWS credentials to reach stack 'orders-prod' in eu-west-1 \(CredentialsProviderError: .*\): configure AWS credentials: aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY\.$/,
    );

    // Nothing was sent: no instance was created, and no letter names them.
    expect(await client.get('counter', 'x1')).toBeUndefined();
    expect(await client.get('approval', 'x1')).toBeUndefined();
    const { letters } = await client.deadLetters.list();
    expect(letters.filter((letter) => /\/x1$/.test(letter.instanceKey))).toEqual([]);
  }, 180_000);
});
