/**
 * How the client and the `settle` CLI find the Settle stack they talk to.
 *
 * First that applies: a deployed stack named with `--stack` (or `SETTLE_STACK`), read with CloudFormation
 * `DescribeStacks`; the queue URL, dead-letter queue URL and table given outright (flags or `SETTLE_QUEUE_URL`,
 * `SETTLE_DLQ_URL`, `SETTLE_TABLE`); a `settle dev` running on this machine, found through the discovery file it
 * writes. Every failure is a {@link RequestError} of one line: what was wrong and what to do.
 *
 * @example
 * const connection = await resolveConnection({ stack: 'orders-prod' });
 * const { sqs, dynamodb, destroy } = connectionClients(connection);
 */
import { tmpdir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CloudFormationClient, Stack } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localCredentials } from '../local/defaults.ts';
import { createDocumentClient } from '../runtime/aws/dynamo-store.ts';
import { S3PayloadStore } from '../runtime/aws/s3-payloads.ts';
import type { PayloadStore } from '../runtime/core/payloads.ts';
import { environmentVariables } from '../runtime/core/config.ts';
import { RequestError } from '../runtime/core/errors.ts';
import { credentialsError, nameAndMessage } from './aws-errors.ts';
import { defaultOutputPrefix, outputPrefixPattern, stackOutputKeys } from '../runtime/core/resources.ts';

/** Where the client and the CLI send events and read instances. */
export interface SettleConnection {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  /** The payload bucket, where large events go and offloaded snapshots are read from; absent for a stack without one. */
  readonly bucketName?: string;
  /** From the stack's region or the SDK's standard settings; undefined lets the SDK decide. */
  readonly region: string | undefined;
  /** Only for a local `settle dev` stack: endpoints, and the registry module it runs (absolute path). */
  readonly local?: { readonly sqsEndpoint: string; readonly dynamodbEndpoint: string; readonly registry: string };
  /** The stack's HTTP API, and what signs its callback links (a deployed stack's secret, or the local key). */
  readonly api?: { readonly url: string; readonly callbackKey?: string; readonly callbackSecretArn?: string };
  /** Where it came from, for messages: e.g. 'flags', 'environment', "stack 'orders-prod'", 'settle dev (pid 123)'. */
  readonly source: string;
}

/** What the user gave: the CLI's flags (see {@link connectionFlags}), or the client's options. */
export interface ConnectionOptions {
  /** A deployed stack's name (or id); its outputs give the rest. */
  readonly stack?: string;
  /** The prefix of the stack's Settle outputs, as the construct's `outputPrefix`. @default 'Settle' */
  readonly outputPrefix?: string;
  readonly queueUrl?: string;
  readonly deadLetterQueueUrl?: string;
  readonly tableName?: string;
  /** The payload bucket (`--bucket`, `SETTLE_BUCKET`); a stack's output gives it, and a `settle dev` its own. */
  readonly bucketName?: string;
  /** Where to look for the stack, and the region of the connection. */
  readonly region?: string;
}

/** The CLI flags of each {@link ConnectionOptions} field, as the messages name them. */
export const connectionFlags = {
  stack: '--stack',
  outputPrefix: '--output-prefix',
  queueUrl: '--queue-url',
  deadLetterQueueUrl: '--dlq-url',
  tableName: '--table',
  bucketName: '--bucket',
  region: '--region',
} as const satisfies Record<keyof ConnectionOptions, string>;

/** The environment variables besides `SETTLE_QUEUE_URL`, `SETTLE_DLQ_URL` and `SETTLE_TABLE` that resolution reads. */
export const connectionVariables = {
  /** A deployed stack's name, as `--stack`. */
  stack: 'SETTLE_STACK',
  /** Where `settle dev` writes its discovery file. */
  devFile: 'SETTLE_DEV_FILE',
} as const;

/** What a running `settle dev` writes to {@link devDiscoveryFile}, so commands in other terminals find its stack. */
export interface DevDiscovery {
  /** The `settle dev` process; the file counts only while it is alive. */
  readonly pid: number;
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  /** Its payload bucket, on the SQS endpoint (fauxqs serves S3 there too). */
  readonly bucketName?: string;
  /** The registry module it runs, absolute. */
  readonly registry: string;
  /** Its HTTP API and the key that signs its callback links, when it serves one. */
  readonly api?: { readonly url: string; readonly callbackKey: string };
}

/** The discovery file of `settle dev`: `SETTLE_DEV_FILE`, or `settle-dev.json` in the OS's temporary folder. */
export function devDiscoveryFile(env: NodeJS.ProcessEnv = process.env): string {
  return given(env[connectionVariables.devFile]) ?? join(tmpdir(), 'settle-dev.json');
}

const notConfigured =
  'No Settle stack to talk to: start `settle dev` in another terminal, or pass --stack <name> for a deployed stack, ' +
  `or set ${environmentVariables.queueUrl}, ${environmentVariables.deadLetterQueueUrl} and ${environmentVariables.tableName}.`;

/**
 * Finds the stack to talk to (module comment): `options` are the flags, `env` the environment, and
 * `dependencies.cloudFormation` a client for `--stack` (one of the SDK's defaults otherwise).
 *
 * A stack's outputs are overridden one by one by the flags only, not by `SETTLE_QUEUE_URL` and the rest. The region
 * is `--region`, `AWS_REGION` or `AWS_DEFAULT_REGION`; then a stack's `<prefix>Region` output, or the SDK's choice.
 *
 * @throws {RequestError} `not-configured`, `invalid-option`, `stack-not-found` or `no-credentials`.
 */
export async function resolveConnection(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv = process.env,
  dependencies: { cloudFormation?: CloudFormationClient } = {},
): Promise<SettleConnection> {
  // AWS_DEFAULT_REGION as the AWS CLI reads it (the SDK reads only AWS_REGION and the profile).
  const region = given(options.region) ?? given(env.AWS_REGION) ?? given(env.AWS_DEFAULT_REGION);
  const stack = given(options.stack) ?? given(env[connectionVariables.stack]);
  if (stack !== undefined) return fromStack(stack, options, region, dependencies.cloudFormation);

  const explicit = fromSettings(options, env, region);
  if (explicit) return explicit;

  const dev = await runningDev(devDiscoveryFile(env));
  if (dev) {
    const bucketName = given(options.bucketName) ?? dev.bucketName;
    return {
      queueUrl: dev.queueUrl,
      deadLetterQueueUrl: dev.deadLetterQueueUrl,
      tableName: dev.tableName,
      ...(bucketName === undefined ? {} : { bucketName }),
      region: dev.region,
      local: { sqsEndpoint: dev.sqsEndpoint, dynamodbEndpoint: dev.dynamodbEndpoint, registry: dev.registry },
      ...(dev.api ? { api: { url: dev.api.url, callbackKey: dev.api.callbackKey } } : {}),
      source: `settle dev (pid ${dev.pid})`,
    };
  }
  throw new RequestError('not-configured', notConfigured);
}

/** SDK clients for a connection; `destroy()` closes their sockets. */
export interface ConnectionClients {
  readonly sqs: SQSClient;
  /** Plain JS values, `undefined` removed, as the worker writes them. */
  readonly dynamodb: DynamoDBDocumentClient;
  /** The payload bucket, when the connection names one. */
  readonly payloads: PayloadStore | undefined;
  destroy(): void;
}

/**
 * The SQS and DynamoDB clients for `connection`. A local stack's are pointed at its emulators explicitly, with
 * dummy credentials, and never follow a queue URL's host; a deployed stack's take the SDK's standard settings
 * (credentials, `AWS_ENDPOINT_URL_*`) in the connection's region.
 */
export function connectionClients(connection: SettleConnection): ConnectionClients {
  const region = connection.region === undefined ? {} : { region: connection.region };
  const { local } = connection;
  const sqs = local
    ? new SQSClient({ ...region, credentials: localCredentials, endpoint: local.sqsEndpoint, useQueueUrlAsEndpoint: false })
    : new SQSClient(region);
  const dynamodbClient = local
    ? new DynamoDBClient({ ...region, credentials: localCredentials, endpoint: local.dynamodbEndpoint })
    : new DynamoDBClient(region);
  const s3 = local
    ? { config: { ...region, credentials: localCredentials, endpoint: local.sqsEndpoint, forcePathStyle: true }, tagging: false }
    : { config: region };
  return {
    sqs,
    dynamodb: createDocumentClient(dynamodbClient),
    payloads: connection.bucketName === undefined ? undefined : new S3PayloadStore(connection.bucketName, s3),
    destroy: () => {
      sqs.destroy();
      dynamodbClient.destroy();
    },
  };
}

async function fromStack(
  stackName: string,
  options: ConnectionOptions,
  region: string | undefined,
  injected: CloudFormationClient | undefined,
): Promise<SettleConnection> {
  const prefix = given(options.outputPrefix) ?? defaultOutputPrefix;
  if (!outputPrefixPattern.test(prefix)) {
    throw new RequestError(
      'invalid-option',
      `${connectionFlags.outputPrefix} must be letters and digits only, as the construct's outputPrefix, got '${prefix}'.`,
    );
  }
  const overrides = checkedValues(flagValues(options));
  // Loaded only for --stack: the Lambda bundles that carry this module (the worker, the API) never look a stack up.
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cloudFormation = injected ?? new CloudFormationClient(region === undefined ? {} : { region });
  try {
    const lookupRegion = await regionOf(cloudFormation);
    let stack: Stack | undefined;
    try {
      stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    } catch (error) {
      throw lookupError(error, stackName, lookupRegion);
    }
    const where = lookupRegion === undefined ? '' : ` in ${lookupRegion}`;
    if (!stack) throw new RequestError('stack-not-found', `Stack '${stackName}' does not exist${where}: ${stackNotFoundAdvice}.`);

    const keys = stackOutputKeys(prefix);
    const outputs = new Map((stack.Outputs ?? []).map((output) => [output.OutputKey, given(output.OutputValue)]));
    const values = {
      queueUrl: overrides.queueUrl?.value ?? outputs.get(keys.queueUrl),
      deadLetterQueueUrl: overrides.deadLetterQueueUrl?.value ?? outputs.get(keys.deadLetterQueueUrl),
      tableName: overrides.tableName?.value ?? outputs.get(keys.tableName),
    };
    const missing = settingNames.filter((name) => values[name] === undefined).map((name) => keys[name]);
    if (missing.length > 0) {
      const status = stack.StackStatus ? ` (${stack.StackStatus})` : '';
      throw new RequestError(
        'stack-not-found',
        `Stack '${stackName}'${where}${status} has no output${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: ` +
          "deploy it with Settle's construct (SettleService from settle/cdk), or " +
          (prefix === defaultOutputPrefix
            ? `pass ${connectionFlags.outputPrefix} <prefix> if the service's outputPrefix is not '${defaultOutputPrefix}'.`
            : `check that ${connectionFlags.outputPrefix} '${prefix}' is the service's outputPrefix.`),
      );
    }
    const overridden = settingNames.filter((name) => overrides[name] !== undefined).map((name) => connectionFlags[name]);
    const apiUrl = outputs.get(keys.apiUrl);
    const callbackSecretArn = outputs.get(keys.callbackSecretArn);
    const bucketName = given(options.bucketName) ?? outputs.get(keys.bucketName);
    return {
      queueUrl: values.queueUrl as string,
      deadLetterQueueUrl: values.deadLetterQueueUrl as string,
      tableName: values.tableName as string,
      ...(bucketName === undefined ? {} : { bucketName }),
      region: region ?? outputs.get(keys.region) ?? lookupRegion,
      ...(apiUrl === undefined ? {} : { api: { url: apiUrl, ...(callbackSecretArn === undefined ? {} : { callbackSecretArn }) } }),
      source: `stack '${stackName}'${overridden.length > 0 ? ` with ${overridden.join(', ')}` : ''}`,
    };
  } finally {
    if (!injected) cloudFormation.destroy();
  }
}

const stackNotFoundAdvice = `check the name and the region (${connectionFlags.region}, AWS_REGION or the profile's region), or deploy it first (npx cdk deploy)`;

/** The region the client will use, or undefined when the SDK finds none (its call then fails, and says so). */
async function regionOf(client: CloudFormationClient): Promise<string | undefined> {
  try {
    return await client.config.region();
  } catch {
    return undefined;
  }
}

function lookupError(error: unknown, stackName: string, region: string | undefined): unknown {
  const { name, message } = nameAndMessage(error);
  const where = region === undefined ? '' : ` in ${region}`;
  if (name === 'ValidationError' && /does not exist/i.test(message)) {
    return new RequestError('stack-not-found', `Stack '${stackName}' does not exist${where}: ${stackNotFoundAdvice}.`, { cause: error });
  }
  if (name === 'ValidationError') {
    return new RequestError(
      'invalid-option',
      `CloudFormation refused ${connectionFlags.stack} '${stackName}' (${message}): pass the name or id of a deployed stack.`,
      { cause: error },
    );
  }
  if (/region is missing/i.test(message)) {
    return new RequestError(
      'not-configured',
      `No AWS region to look for stack '${stackName}' in: pass ${connectionFlags.region}, or set AWS_REGION or a profile's region (aws configure).`,
      { cause: error },
    );
  }
  return credentialsError(error, `stack '${stackName}'${where}`) ?? error;
}

const settingNames = ['queueUrl', 'deadLetterQueueUrl', 'tableName'] as const;
type SettingName = (typeof settingNames)[number];

/** A setting's value and where it was given, e.g. `--queue-url` or `SETTLE_QUEUE_URL`. */
type Given = { readonly value: string; readonly from: string; readonly flag: boolean } | undefined;

const settingVariables: Record<SettingName, string> = {
  queueUrl: environmentVariables.queueUrl,
  deadLetterQueueUrl: environmentVariables.deadLetterQueueUrl,
  tableName: environmentVariables.tableName,
};

const settingLabels: Record<SettingName, string> = {
  queueUrl: 'the queue URL',
  deadLetterQueueUrl: 'the dead-letter queue URL',
  tableName: 'the table name',
};

function flagValues(options: ConnectionOptions): Record<SettingName, Given> {
  const flag = (name: SettingName): Given => {
    const value = given(options[name]);
    return value === undefined ? undefined : { value, from: connectionFlags[name], flag: true };
  };
  return { queueUrl: flag('queueUrl'), deadLetterQueueUrl: flag('deadLetterQueueUrl'), tableName: flag('tableName') };
}

/** Settings given outright, flags over the environment; undefined when none is, so a `settle dev` may apply. */
function fromSettings(options: ConnectionOptions, env: NodeJS.ProcessEnv, region: string | undefined): SettleConnection | undefined {
  const flags = flagValues(options);
  const settings = {} as Record<SettingName, Given>;
  for (const name of settingNames) {
    const variable = given(env[settingVariables[name]]);
    settings[name] = flags[name] ?? (variable === undefined ? undefined : { value: variable, from: settingVariables[name], flag: false });
  }
  const present = settingNames.filter((name) => settings[name] !== undefined);
  if (present.length === 0) return undefined;
  const absent = settingNames.filter((name) => settings[name] === undefined);
  if (absent.length > 0) {
    const got = present.map((name) => settings[name]?.from).join(' and ');
    const needs = absent.map((name) => `${settingLabels[name]} (${connectionFlags[name]} or ${settingVariables[name]})`).join(' and ');
    throw new RequestError(
      'invalid-option',
      `Got ${got} but not ${needs}: give all three, or ${connectionFlags.stack} <name> for a deployed stack.`,
    );
  }
  const values = checkedValues(settings);
  const fromFlags = settingNames.map((name) => values[name]?.flag);
  const bucketName = given(options.bucketName) ?? given(env[environmentVariables.bucketName]);
  return {
    queueUrl: values.queueUrl?.value as string,
    deadLetterQueueUrl: values.deadLetterQueueUrl?.value as string,
    tableName: values.tableName?.value as string,
    ...(bucketName === undefined ? {} : { bucketName }),
    region,
    source: fromFlags.every(Boolean) ? 'flags' : fromFlags.some(Boolean) ? 'flags and environment' : 'environment',
  };
}

/** Checks what was given (queue URLs of FIFO queues, two different queues), naming every problem at once. */
function checkedValues(values: Record<SettingName, Given>): Record<SettingName, Given> {
  const problems: string[] = [];
  for (const name of ['queueUrl', 'deadLetterQueueUrl'] as const) {
    const setting = values[name];
    if (setting && !isFifoQueueUrl(setting.value)) {
      problems.push(
        `${setting.from} must be the URL of a FIFO queue (https://sqs.<region>.amazonaws.com/<account>/<name>.fifo), got '${setting.value}'`,
      );
    }
  }
  if (values.queueUrl && values.queueUrl.value === values.deadLetterQueueUrl?.value) {
    problems.push(`${values.queueUrl.from} and ${values.deadLetterQueueUrl.from} are the same queue; the dead-letter queue is another one`);
  }
  if (problems.length > 0) throw new RequestError('invalid-option', `${problems.join('; ')}.`);
  return values;
}

function isFifoQueueUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.pathname.endsWith('.fifo');
}

/** The discovery file's contents, when it is well formed and its `settle dev` is alive. */
async function runningDev(path: string): Promise<DevDiscovery | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined; // No `settle dev` has written one (or not one that parses): nothing to find.
  }
  if (!isDevDiscovery(parsed) || !isAlive(parsed.pid)) return undefined;
  return parsed;
}

function isDevDiscovery(value: unknown): value is DevDiscovery {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const text = (key: keyof DevDiscovery) => typeof record[key] === 'string' && record[key] !== '';
  return (
    Number.isSafeInteger(record.pid) &&
    (record.pid as number) > 0 &&
    text('sqsEndpoint') &&
    text('dynamodbEndpoint') &&
    text('region') &&
    text('queueUrl') &&
    text('deadLetterQueueUrl') &&
    text('tableName') &&
    text('registry')
  );
}

/** Signal 0 checks that the process exists; EPERM means it does, under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function given(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}
