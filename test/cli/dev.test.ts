import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDev, type DevSession } from '../../cli/dev.ts';
import { devOptions } from '../../cli/program.ts';
import { sendEvents } from '../support/sqs.ts';
import { waitFor } from '../support/wait-for.ts';

describe('settle dev options', () => {
  const exists = (path: string) => path === 'machines/index.ts' || path === 'src/mine.ts';

  it('defaults to SQS on 9324, DynamoDB on 8000, dynalite, watching, and the first registry module found', () => {
    expect(devOptions({}, {}, exists)).toEqual({
      registry: 'machines/index.ts',
      sqsPort: 9324,
      dynamodbPort: 8000,
      apiPort: 3000,
      dynamodbLocal: false,
      watch: true,
    });
  });

  it('reads ports from the environment, and flags win over it', () => {
    const env = { SETTLE_SQS_PORT: '9400', SETTLE_DYNAMODB_PORT: '8100', SETTLE_API_PORT: '3100' };
    expect(devOptions({}, env, exists)).toMatchObject({ sqsPort: 9400, dynamodbPort: 8100, apiPort: 3100 });
    expect(
      devOptions(
        { sqsPort: '0', dynamodbPort: '0', apiPort: '0', dynamodbLocal: true, registry: 'src/mine.ts', watch: false },
        env,
        exists,
      ),
    ).toEqual({
      registry: 'src/mine.ts',
      sqsPort: 0,
      dynamodbPort: 0,
      apiPort: 0,
      dynamodbLocal: true,
      watch: false,
    });
  });

  it('names every problem at once, and what to do', () => {
    expect(() => devOptions({ sqsPort: 'x', registry: 'nowhere.ts' }, { SETTLE_DYNAMODB_PORT: '70000' }, exists)).toThrow(
      "settle dev: --sqs-port must be a port from 0 to 65535, got 'x'; SETTLE_DYNAMODB_PORT must be a port from 0 to 65535, got '70000'; --registry nowhere.ts does not exist.",
    );
    expect(() => devOptions({}, {}, () => false)).toThrow(
      /no registry module: pass --registry <module> \(looked for machines\/index\.ts, src\/machines\.ts, machines\.ts\)/,
    );
  });
});

/** A registry module of the user's, in a folder of its own, written and rewritten by the test. */
const folder = join(import.meta.dirname, `.tmp-dev-${process.pid}`);
const registryFile = join(folder, 'machines.ts');
const machineFile = join(folder, 'tally.ts');

function writeMachine(events: string): void {
  writeFileSync(
    machineFile,
    `import { assign, setup } from 'xstate';
export const tally = setup({ types: { context: {} as { n: number } } }).createMachine({
  id: 'tally',
  context: { n: 0 },
  initial: 'open',
  states: { open: { tags: ['resolve'], on: { ${events} } } },
});
`,
  );
}

describe('settle dev', () => {
  let session: DevSession | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    mkdirSync(folder, { recursive: true });
    writeMachine(`ADD: { actions: assign({ n: ({ context }) => context.n + 1 }) }`);
    writeFileSync(
      registryFile,
      `import { defineRegistry } from '../../../runtime/index.ts';
import { tally } from './tally.ts';
export const registry = defineRegistry({ tally: { machine: tally, version: 1 } });
`,
    );
    session = await startDev({ registry: registryFile, sqsPort: 0, dynamodbPort: 0, dynamodbLocal: false }, (line) => lines.push(line));
  });

  afterAll(async () => {
    await session?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  async function count(): Promise<number | undefined> {
    const stack = (session as DevSession).stack;
    const { Item } = await stack.clients.document.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: 'tally/t1' }, ConsistentRead: true }),
    );
    return Item ? (JSON.parse(String(Item.snapshot)) as { context: { n: number } }).context.n : undefined;
  }

  it('runs the machines of the registry module it was given, and lists them in its banner', async () => {
    const stack = (session as DevSession).stack;

    await sendEvents(stack.clients.sqs, stack.queueUrl, [{ group: 'tally/t1', body: '{"type":"ADD"}' }]);

    await waitFor(async () => (await count()) === 1, { timeoutMs: 10_000, description: 'tally/t1 counted once' });
    expect(lines[0]).toContain('Machines  tally v1');
  });

  it('reloads the worker when a file of the registry changes, keeps the instances, and calls out an unbumped version', async () => {
    const stack = (session as DevSession).stack;
    const reloaded = (session as DevSession).nextReload();

    writeMachine(
      `ADD: { actions: assign({ n: ({ context }) => context.n + 1 }) }, DOUBLE: { actions: assign({ n: ({ context }) => context.n * 2 }) }`,
    );
    const result = await reloaded;
    await sendEvents(stack.clients.sqs, stack.queueUrl, [
      { group: 'tally/t1', body: '{"type":"ADD"}' },
      { group: 'tally/t1', body: '{"type":"DOUBLE"}' },
    ]);

    expect(result.ok).toBe(true);
    expect(result.notes).toEqual([
      expect.stringMatching(/machine 'tally' changed but is still version 1.*bump the version and give a migrate\(\)/),
    ]);
    await waitFor(async () => (await count()) === 4, { timeoutMs: 10_000, description: 'tally/t1: 1, +1, ×2' });
  });

  it('keeps the previous machines when the registry no longer loads, and says so', async () => {
    const stack = (session as DevSession).stack;
    const reloaded = (session as DevSession).nextReload();

    writeFileSync(machineFile, 'export const tally = ;\n');
    const result = await reloaded;
    await sendEvents(stack.clients.sqs, stack.queueUrl, [{ group: 'tally/t1', body: '{"type":"ADD"}' }]);

    expect(result.ok).toBe(false);
    expect(lines.some((line) => line.includes('did not load; the worker keeps the previous machines'))).toBe(true);
    await waitFor(async () => (await count()) === 5, { timeoutMs: 10_000, description: 'tally/t1 counted by the previous machine' });
  });
});
