import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { App, type Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalClients, localCredentials, type LocalClients } from '../local/clients.ts';
import { localRegion, startEmulators, type Emulators } from '../local/emulators.ts';
import { provision, type ProvisionedResources } from '../local/provision.ts';
import { bundleEnvironment, bundleFileName, lazySdkModules } from '../infra/bundling.ts';
import { SettleStack } from '../infra/settle-stack.ts';
import { fifoRecord, sequence } from './support/records.ts';

/**
 * Issue 3: the worker bundle, built by `cdk synth` exactly as the construct builds it, loads in a
 * fresh Node process and handles a batch against the emulators. The bundle itself, not the source.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
let outdir: string;
let workerBundle: string;
let emulators: Emulators;
let clients: LocalClients;
let resources: ProvisionedResources;

/** The asset folder of the stack's worker function. */
function workerAsset(stack: Stack, assembly: string): string {
  const template = (stack.node.root as App).synth().getStackByName(stack.stackName).template as {
    Resources: Record<
      string,
      { Type: string; Properties: { Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, unknown> } } }
    >;
  };
  const workers = Object.entries(template.Resources).filter(
    ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && /Worker/.test(id) && resource.Properties.Code?.S3Key,
  );
  if (workers.length !== 1) throw new Error(`expected one worker function, found ${workers.map(([id]) => id).join(', ')}`);
  const key = workers[0]?.[1].Properties.Code?.S3Key ?? '';
  return join(assembly, `asset.${key.replace(/\.zip$/, '')}`);
}

beforeAll(async () => {
  // Under the repository (cdk.out is git-ignored) so the lazily loaded, external AWS SDK packages resolve
  // from node_modules, as the Lambda runtime resolves them from its own copy.
  mkdirSync(join(root, 'cdk.out'), { recursive: true });
  outdir = mkdtempSync(join(root, 'cdk.out', 'bundle-test-'));
  const app = new App({ outdir });
  const stack = new SettleStack(app, 'SettleStack');
  workerBundle = join(workerAsset(stack, outdir), bundleFileName);

  emulators = await startEmulators();
  clients = createLocalClients(emulators);
  resources = await provision({ sqs: clients.sqs, dynamodb: clients.dynamodb });
}, 120_000);

afterAll(async () => {
  clients?.destroy();
  await emulators?.stop();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('worker bundle', () => {
  it('is one minified ESM file with the SDK clients of every batch in it: nothing imported statically from outside', () => {
    // No size cap (docs/PERFORMANCE.md §4 reports it); the bounds only catch an empty or runaway build.
    const { size } = statSync(workerBundle);
    expect(size).toBeGreaterThan(10_000);
    expect(size).toBeLessThan(2_000_000);
    const code = readFileSync(workerBundle, 'utf8');
    const external = [...code.matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]).filter((name) => !name?.startsWith('node:'));
    const lazy = [...code.matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]).filter((name) => !name?.startsWith('node:'));
    expect(external).toEqual([]);
    expect(lazy.filter((name) => !(lazySdkModules as readonly string[]).includes(name ?? ''))).toEqual([]);
  });

  it('loads in a fresh Node process and handles a batch against the emulators', async () => {
    const event = {
      Records: [
        fifoRecord('counter/bundled', sequence(1), { type: 'COUNT' }),
        fifoRecord('counter/bundled', sequence(2), { type: 'COUNT' }),
        fifoRecord('counter/bundled', sequence(3), '{"type":"xstate.init"}'),
      ],
    };
    const script = `
      const { handler } = await import(${JSON.stringify(pathToFileURL(workerBundle).href)});
      const context = { awsRequestId: 'bundle-test', getRemainingTimeInMillis: () => 10_000 };
      const response = await handler(JSON.parse(process.env.TEST_EVENT), context);
      process.stdout.write('RESPONSE ' + JSON.stringify(response) + '\\n');
    `;

    // As the construct runs it: with its environment (bundleEnvironment), nothing on the command line.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        ...bundleEnvironment,
        TEST_EVENT: JSON.stringify(event),
        AWS_REGION: localRegion,
        AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
        AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
        AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
        SETTLE_TABLE: resources.tableName,
        SETTLE_DLQ_URL: resources.deadLetterQueueUrl,
        SETTLE_QUEUE_URL: resources.queueUrl,
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
    });

    const response = JSON.parse(
      stdout
        .split('\n')
        .find((line) => line.startsWith('RESPONSE '))
        ?.slice(9) ?? 'null',
    );
    expect(response).toEqual({ batchItemFailures: [] });
    const { Item } = await clients.document.send(
      new GetCommand({ TableName: resources.tableName, Key: { pk: 'counter/bundled' }, ConsistentRead: true }),
    );
    expect(JSON.parse(String(Item?.snapshot)).context).toEqual({ count: 4 });
    expect(Item?.history.map((h: { outcome: string }) => h.outcome)).toEqual(['resolve', 'resolve', 'dead-lettered']);
  }, 60_000);
});
