import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { CredentialsProviderError } from '@smithy/core/config';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionClients, resolveConnection, type DevDiscovery, type SettleConnection } from '../../client/connection.ts';
import { devDiscoveryFile } from '../../cli/dev.ts';
import { SettleStack } from '../../infra/settle-stack.ts';
import { RequestError } from '../../runtime/core/errors.ts';
import { stackOutputKeys } from '../../runtime/core/resources.ts';
import { fixtureEntry, skipBundling } from '../infra/helpers.ts';
import { describeStacksXml, errorXml, type FakeCloudFormation, startCloudFormation } from '../support/cloudformation.ts';
import { waitFor } from '../support/wait-for.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every test's discovery file lives here, never at the default path a developer's `settle dev` uses. */
let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'settle-connection-'));
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** An environment with no discovery file unless a test writes one to `devFile`. */
function environment(variables: Record<string, string> = {}, devFile = join(folder, 'absent.json')): NodeJS.ProcessEnv {
  return { SETTLE_DEV_FILE: devFile, ...variables };
}

const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/111122223333/orders-events.fifo';
const deadLetterQueueUrl = 'https://sqs.eu-west-1.amazonaws.com/111122223333/orders-dlq.fifo';
const settings = { SETTLE_QUEUE_URL: queueUrl, SETTLE_DLQ_URL: deadLetterQueueUrl, SETTLE_TABLE: 'orders-instances' };

/** What `promise` rejected with, which must be a RequestError. */
async function refusal(promise: Promise<unknown>): Promise<RequestError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(RequestError);
  expect((error as RequestError).message).not.toContain('\n');
  return error as RequestError;
}

/** A discovery file as `settle dev` writes it, for process `pid`. */
function writeDevFile(pid: number): string {
  const file = join(folder, `dev-${pid}.json`);
  const discovery: DevDiscovery = {
    pid,
    sqsEndpoint: 'http://127.0.0.1:9400',
    dynamodbEndpoint: 'http://127.0.0.1:8100',
    region: 'us-east-1',
    queueUrl: 'http://127.0.0.1:9400/000000000000/settle-events.fifo',
    deadLetterQueueUrl: 'http://127.0.0.1:9400/000000000000/settle-events-dlq.fifo',
    tableName: 'settle-instances',
    registry: join(root, 'machines/index.ts'),
  };
  writeFileSync(file, JSON.stringify(discovery));
  return file;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const exited = spawnSync(process.execPath, ['-e', '']);
  if (exited.pid === undefined) throw new Error('could not start a process to take a pid from');
  return exited.pid;
}

const notConfigured =
  'No Settle stack to talk to: start `settle dev` in another terminal, or pass --stack <name> for a deployed stack, ' +
  'or set SETTLE_QUEUE_URL, SETTLE_DLQ_URL and SETTLE_TABLE.';

describe('resolveConnection: settings given outright', () => {
  it('takes the queue URLs and the table from flags, in the region given', async () => {
    const connection = await resolveConnection(
      { queueUrl, deadLetterQueueUrl, tableName: 'orders-instances', region: 'eu-west-1' },
      environment(),
    );

    expect(connection).toEqual({ queueUrl, deadLetterQueueUrl, tableName: 'orders-instances', region: 'eu-west-1', source: 'flags' });
  });

  it('takes them from SETTLE_QUEUE_URL, SETTLE_DLQ_URL and SETTLE_TABLE, with the region from AWS_REGION or left to the SDK', async () => {
    expect(await resolveConnection({}, environment({ ...settings, AWS_REGION: 'eu-west-1' }))).toEqual({
      queueUrl,
      deadLetterQueueUrl,
      tableName: 'orders-instances',
      region: 'eu-west-1',
      source: 'environment',
    });
    expect((await resolveConnection({}, environment({ ...settings, AWS_DEFAULT_REGION: 'eu-north-1' }))).region).toBe('eu-north-1');
    expect((await resolveConnection({}, environment(settings))).region).toBeUndefined();
  });

  it('lets each flag win over its variable', async () => {
    const connection = await resolveConnection({ tableName: 'other-table' }, environment(settings));

    expect(connection).toMatchObject({ queueUrl, tableName: 'other-table', source: 'flags and environment' });
  });

  it('refuses a part of them, naming what is missing and where to give it', async () => {
    const onlyQueue = await refusal(resolveConnection({}, environment({ SETTLE_QUEUE_URL: queueUrl })));
    const onlyTable = await refusal(resolveConnection({ tableName: 't' }, environment()));

    expect(onlyQueue.code).toBe('invalid-option');
    expect(onlyQueue.message).toBe(
      'Got SETTLE_QUEUE_URL but not the dead-letter queue URL (--dlq-url or SETTLE_DLQ_URL) and the table name (--table or SETTLE_TABLE): ' +
        'give all three, or --stack <name> for a deployed stack.',
    );
    expect(onlyTable.message).toMatch(/^Got --table but not the queue URL \(--queue-url or SETTLE_QUEUE_URL\) and the dead-letter/);
  });

  it('refuses a queue URL that is not a FIFO queue, and the same queue twice', async () => {
    const notFifo = await refusal(resolveConnection({ queueUrl: 'orders' }, environment(settings)));
    const same = await refusal(resolveConnection({ deadLetterQueueUrl: queueUrl }, environment(settings)));

    expect(notFifo.code).toBe('invalid-option');
    expect(notFifo.message).toBe(
      "--queue-url must be the URL of a FIFO queue (https://sqs.<region>.amazonaws.com/<account>/<name>.fifo), got 'orders'.",
    );
    expect(same.message).toBe('SETTLE_QUEUE_URL and --dlq-url are the same queue; the dead-letter queue is another one.');
  });
});

describe('resolveConnection: a running settle dev', () => {
  it('finds it through its discovery file while its process is alive', async () => {
    const file = writeDevFile(process.pid);

    expect(await resolveConnection({}, environment({}, file))).toEqual({
      queueUrl: 'http://127.0.0.1:9400/000000000000/settle-events.fifo',
      deadLetterQueueUrl: 'http://127.0.0.1:9400/000000000000/settle-events-dlq.fifo',
      tableName: 'settle-instances',
      region: 'us-east-1',
      local: { sqsEndpoint: 'http://127.0.0.1:9400', dynamodbEndpoint: 'http://127.0.0.1:8100', registry: join(root, 'machines/index.ts') },
      source: `settle dev (pid ${process.pid})`,
    });
  });

  it('ignores the file of a settle dev that has exited, or a file that is not one, and says what to do', async () => {
    const stale = await refusal(resolveConnection({}, environment({}, writeDevFile(deadPid()))));
    const garbled = join(folder, 'garbled.json');
    writeFileSync(garbled, '{"pid":');
    const none = await refusal(resolveConnection({}, environment({}, garbled)));

    expect(stale.code).toBe('not-configured');
    expect(stale.message).toBe(notConfigured);
    expect(none.message).toBe(notConfigured);
  });

  it('comes after settings given outright', async () => {
    const connection = await resolveConnection({}, environment(settings, writeDevFile(process.pid)));

    expect(connection.source).toBe('environment');
    expect(connection.local).toBeUndefined();
  });

  it('is looked for at SETTLE_DEV_FILE, or settle-dev.json in the temporary folder', () => {
    expect(devDiscoveryFile({ SETTLE_DEV_FILE: '/somewhere/dev.json' })).toBe('/somewhere/dev.json');
    expect(devDiscoveryFile({})).toBe(join(tmpdir(), 'settle-dev.json'));
  });
});

describe('resolveConnection: a deployed stack', () => {
  const keys = stackOutputKeys();
  /** The placeholder each of the example app's outputs has once deployed. */
  const deployed: Record<string, string> = {
    [keys.queueUrl]: queueUrl,
    [keys.deadLetterQueueUrl]: deadLetterQueueUrl,
    [keys.tableName]: 'OrdersProd-SettleTable1A2B3C4D-0ABCDEF12345',
    [keys.region]: 'eu-west-1',
    [keys.apiUrl]: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/',
    [keys.callbackSecretArn]: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SettleCallbackKey-AbCdEf',
    [keys.bucketName]: 'ordersprod-settlebucket-1a2b3c4d5e6f',
  };
  /** The example app's output keys, from its synthesized template: what CloudFormation will answer with. */
  let templateOutputs: string[];
  let cloudFormation: FakeCloudFormation;

  beforeAll(async () => {
    const app = new App({ context: skipBundling });
    const stack = new SettleStack(app, 'OrdersProd', { service: { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry } });
    templateOutputs = Object.keys(Template.fromStack(stack).toJSON().Outputs as Record<string, unknown>);
    cloudFormation = await startCloudFormation((stackName) => {
      if (stackName === 'OrdersProd') {
        return describeStacksXml(
          stackName,
          Object.fromEntries(templateOutputs.map((key) => [key, deployed[key] ?? `<placeholder ${key}>`])),
        );
      }
      if (stackName === 'website') return describeStacksXml(stackName, { BucketName: 'website-bucket-1a2b3c' });
      if (stackName.includes(' ')) {
        return errorXml(
          400,
          'ValidationError',
          `1 validation error detected: Value '${stackName}' at 'stackName' failed to satisfy constraint: ` +
            'Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*',
        );
      }
      if (stackName === 'expired') return errorXml(400, 'ExpiredToken', 'The security token included in the request is expired');
      if (stackName === 'forged') return errorXml(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
      return errorXml(400, 'ValidationError', `Stack with id ${stackName} does not exist`);
    });
  }, 60_000);
  afterAll(() => cloudFormation?.close());

  it("reads the queue URLs, the table, the bucket, the region and the HTTP API from the outputs Settle's construct adds", async () => {
    expect(templateOutputs).toEqual(expect.arrayContaining(Object.values(keys)));

    const connection = await resolveConnection({ stack: 'OrdersProd' }, environment(settings), { cloudFormation: cloudFormation.client() });

    expect(connection).toEqual({
      queueUrl,
      deadLetterQueueUrl,
      tableName: 'OrdersProd-SettleTable1A2B3C4D-0ABCDEF12345',
      bucketName: 'ordersprod-settlebucket-1a2b3c4d5e6f',
      region: 'eu-west-1',
      api: {
        url: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/',
        callbackSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SettleCallbackKey-AbCdEf',
      },
      source: "stack 'OrdersProd'",
    });
    expect(cloudFormation.requests.at(-1)?.get('StackName')).toBe('OrdersProd');
  });

  it('takes the stack from SETTLE_STACK, before a running settle dev, and lets a flag override one output', async () => {
    const env = environment({ SETTLE_STACK: 'OrdersProd' }, writeDevFile(process.pid));

    const connection = await resolveConnection({ tableName: 'orders-copy' }, env, { cloudFormation: cloudFormation.client() });

    expect(connection).toMatchObject({ queueUrl, tableName: 'orders-copy', source: "stack 'OrdersProd' with --table" });
    expect(connection.local).toBeUndefined();
  });

  it('says which outputs a stack lacks, and that it must be deployed with the construct or another prefix given', async () => {
    const error = await refusal(
      resolveConnection({ stack: 'OrdersProd', outputPrefix: 'Billing' }, environment(), { cloudFormation: cloudFormation.client() }),
    );

    expect(error.code).toBe('stack-not-found');
    expect(error.message).toBe(
      "Stack 'OrdersProd' in eu-west-1 (CREATE_COMPLETE) has no outputs BillingQueueUrl, BillingDeadLetterQueueUrl, BillingTableName: " +
        "deploy it with Settle's construct (SettleService from settle/cdk), or check that --output-prefix 'Billing' is the service's outputPrefix.",
    );
  });

  it('says which outputs a stack of something else lacks, and to give the prefix if the service has another', async () => {
    const error = await refusal(resolveConnection({ stack: 'website' }, environment(), { cloudFormation: cloudFormation.client() }));

    expect(error.code).toBe('stack-not-found');
    expect(error.message).toBe(
      "Stack 'website' in eu-west-1 (CREATE_COMPLETE) has no outputs SettleQueueUrl, SettleDeadLetterQueueUrl, SettleTableName: " +
        "deploy it with Settle's construct (SettleService from settle/cdk), or pass --output-prefix <prefix> if the service's outputPrefix is not 'Settle'.",
    );
  });

  it('passes on why CloudFormation refused a stack name', async () => {
    const error = await refusal(resolveConnection({ stack: 'my stack' }, environment(), { cloudFormation: cloudFormation.client() }));

    expect(error.code).toBe('invalid-option');
    expect(error.message).toBe(
      "CloudFormation refused --stack 'my stack' (1 validation error detected: Value 'my stack' at 'stackName' failed to satisfy constraint: " +
        'Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*): pass the name or id of a deployed stack.',
    );
  });

  it('says a stack that does not exist does not exist, in which region, and what to check', async () => {
    const error = await refusal(resolveConnection({ stack: 'nope' }, environment(), { cloudFormation: cloudFormation.client() }));

    expect(error.code).toBe('stack-not-found');
    expect(error.message).toBe(
      "Stack 'nope' does not exist in eu-west-1: check the name and the region (--region, AWS_REGION or the profile's region), " +
        'or deploy it first (npx cdk deploy).',
    );
  });

  it('says to configure credentials when AWS refuses them as invalid or expired', async () => {
    for (const stack of ['forged', 'expired']) {
      const error = await refusal(resolveConnection({ stack }, environment(), { cloudFormation: cloudFormation.client() }));

      expect(error.code).toBe('no-credentials');
      expect(error.message).toMatch(
        new RegExp(
          `^No usable AWS credentials to reach stack '${stack}' in eu-west-1 \\((InvalidClientTokenId|ExpiredToken): The security token .*\\): ` +
            'configure AWS credentials: aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\\.$',
        ),
      );
    }
  });

  it('says to configure credentials when the SDK finds none, without sending anything', async () => {
    const before = cloudFormation.requests.length;
    const client = cloudFormation.client({
      credentials: () =>
        Promise.reject(new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false })),
    });

    const error = await refusal(resolveConnection({ stack: 'OrdersProd' }, environment(), { cloudFormation: client }));

    expect(error.code).toBe('no-credentials');
    expect(error.message).toBe(
      "No usable AWS credentials to reach stack 'OrdersProd' in eu-west-1 (CredentialsProviderError: Could not load credentials from any providers): " +
        'configure AWS credentials: aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.',
    );
    expect(cloudFormation.requests.length).toBe(before);
  });

  it('refuses an output prefix that no construct could have', async () => {
    const error = await refusal(
      resolveConnection({ stack: 'OrdersProd', outputPrefix: 'my-app' }, environment(), { cloudFormation: cloudFormation.client() }),
    );

    expect(error.code).toBe('invalid-option');
    expect(error.message).toBe("--output-prefix must be letters and digits only, as the construct's outputPrefix, got 'my-app'.");
  });
});

describe('resolveConnection: nothing configured', () => {
  it('says in one line what to do', async () => {
    const error = await refusal(resolveConnection({}, environment()));

    expect(error.code).toBe('not-configured');
    expect(error.message).toBe(notConfigured);
  });
});

describe('settle dev: the discovery file', () => {
  const running: ChildProcess[] = [];

  /** `settle dev` as a user starts it, on free ports, telling other terminals about it through `file`. */
  function startDevProcess(file: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('SETTLE_')));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'cli/bin.ts',
        'dev',
        '--registry',
        'machines/index.ts',
        '--sqs-port',
        '0',
        '--dynamodb-port',
        '0',
        '--api-port',
        '0',
        '--no-watch',
      ],
      { cwd: root, env: { ...env, SETTLE_DEV_FILE: file }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  function holder(file: string): number | undefined {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as DevDiscovery).pid;
    } catch {
      return undefined;
    }
  }

  afterAll(() => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('is written once the stack is up, points at it, and is removed on Ctrl-C unless a later settle dev replaced it', async () => {
    const devFolder = mkdtempSync(join(folder, 'dev-'));
    const file = join(devFolder, 'settle-dev.json');
    const first = startDevProcess(file);
    await waitFor(() => holder(file) === first.child.pid, {
      timeoutMs: 45_000,
      description: `the first settle dev's file; output:\n${first.output()}`,
    });

    expect(statSync(file).mode & 0o777).toBe(0o600);
    const connection: SettleConnection = await resolveConnection({}, { SETTLE_DEV_FILE: file });
    expect(connection).toMatchObject({
      region: 'us-east-1',
      local: { registry: join(root, 'machines/index.ts') },
      source: `settle dev (pid ${first.child.pid})`,
    });
    const clients = connectionClients(connection);
    try {
      const { Attributes } = await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: connection.queueUrl, AttributeNames: ['FifoQueue'] }),
      );
      expect(Attributes?.FifoQueue).toBe('true');
      const { Item } = await clients.dynamodb.send(new GetCommand({ TableName: connection.tableName, Key: { pk: 'counter/none' } }));
      expect(Item).toBeUndefined();
    } finally {
      clients.destroy();
    }

    const second = startDevProcess(file);
    await waitFor(() => holder(file) === second.child.pid, {
      timeoutMs: 45_000,
      description: `the second settle dev's file; output:\n${second.output()}`,
    });
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(holder(file)).toBe(second.child.pid);

    second.child.kill('SIGINT');
    await waitFor(() => !existsSync(file), { timeoutMs: 15_000, description: 'the discovery file removed' });
    expect(await second.exited).toBe(0);
    expect(readdirSync(devFolder)).toEqual([]);
  }, 120_000);
});
