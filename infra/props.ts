import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { defaults as runtimeDefaults } from '../runtime/core/config.ts';
import { defaultOutputPrefix, defaultWorkerTimeoutSeconds, eventQueueDefinition, outputPrefixPattern } from '../runtime/core/resources.ts';

/** Powertools log levels (`POWERTOOLS_LOG_LEVEL`). */
export const logLevels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof logLevels)[number];

/**
 * Who may call the HTTP API's instance routes when a JWT authoriser, not IAM, guards them: any OpenID Connect
 * issuer (Cognito, Auth0, Entra ID, Okta, …). API Gateway checks each token's signature against the issuer's
 * published keys, its `iss`, its expiry, and that its `aud` (or `client_id`) is one of `audience`.
 */
export interface SettleApiJwtProps {
  /** The issuer URL, exactly as the tokens' `iss` claim has it: `https://…` (e.g. `https://cognito-idp.<region>.amazonaws.com/<poolId>`). */
  readonly issuer: string;
  /** The audiences (client ids) a token may be for: at least one. */
  readonly audience: readonly string[];
}

/**
 * The HTTP API: `POST /instances/{machine}/{id}/events`, `GET /instances/{machine}/{id}`, `GET /instances`, each
 * authorised by IAM (SigV4) unless `jwt` is given, and `GET`/`POST /callbacks/{token}`, authorised by the signed,
 * expiring token in the path alone.
 */
export interface SettleApiProps {
  /**
   * Guard the instance routes with a JWT authoriser over this issuer instead of IAM.
   * @default IAM authorisation: callers sign with SigV4 and need `execute-api:Invoke` (`SettleService.grantInvokeApi`)
   */
  readonly jwt?: SettleApiJwtProps;
  /**
   * The stage's throttling for every route: steady requests per second and the burst above it. Requests past it
   * get 429 before reaching the API function.
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly throttle?: { readonly rateLimit?: number; readonly burstLimit?: number };
}

export interface SettleServiceProps {
  /**
   * The worker Lambda's timeout. The events queue's visibility timeout is derived from it
   * (6 × timeout, AWS's guidance for SQS event sources). Whole seconds, 3 to 900: the worker
   * keeps 2 s back from its settle budget for the write and the DLQ.
   * @default Duration.seconds(30)
   */
  readonly workerTimeout?: Duration;

  /**
   * The most one event may take to settle (`SETTLE_EVENT_TIMEOUT_MS`). An event that hangs fails alone after
   * this long, and the events behind it in its batch keep their time. At most the worker timeout less the
   * 2 s the worker keeps back.
   * @default 10 seconds, or the worker timeout less 2 s when that is shorter
   */
  readonly eventTimeout?: Duration;

  /**
   * The worker's memory in MB (CPU scales with it).
   * @default 512
   */
  readonly workerMemorySize?: number;

  /**
   * The most worker invocations the SQS event source runs at once (2 to 1000). Each FIFO message
   * group is processed by one invocation at a time whatever this value.
   * @default 10
   */
  readonly maxConcurrency?: number;

  /**
   * Powertools log level of every function (the worker, the sweeper, the API function).
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;

  /**
   * How long the CloudWatch log groups keep their logs: the functions' and the API's access logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * X-Ray active tracing on every function.
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * What CloudFormation does with the instance table (and the payload bucket, its access-log bucket, the log groups
   * and the callback secret) when the stack is deleted or they are replaced. Keep RETAIN for anything holding real
   * instances; DESTROY suits dev and LocalStack stacks. SNAPSHOT is not supported by DynamoDB. CloudFormation deletes
   * only an empty bucket: under DESTROY, empty both buckets before deleting the stack (the construct adds no
   * auto-delete function).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Alarm when the oldest event on the queue has waited this long: a stuck message group
   * (a retrying event blocks its instance, I1) or a worker that cannot keep up.
   * Whole minutes, at least 1, shorter than the queue's retention.
   * @default Duration.minutes(5)
   */
  readonly oldestEventAgeAlarmThreshold?: Duration;

  /**
   * The worker's entry file, which exports `handler = lambdaHandler(registry)`. Give this or `registry`.
   */
  readonly workerEntry?: string;

  /**
   * A module that exports your registry (as `registry` or as its default export): the construct writes
   * the worker's entry file for you. Give this or `workerEntry`.
   */
  readonly registry?: string;

  /**
   * The sweeper's entry file (exports `handler`). The sweeper runs no machine code, so Settle's own serves
   * every stack.
   * @default Settle's `functions/sweeper` entry
   */
  readonly sweeperEntry?: string;

  /**
   * Snapshots whose gzipped JSON is larger than this many bytes go to the payload bucket, the item keeping a pointer
   * (`SETTLE_SNAPSHOT_OFFLOAD_BYTES`, set on the worker only when given). A whole number, 0 or more: 0 offloads every
   * snapshot. A snapshot that stays in the item must still fit DynamoDB's 400 KB item with the rest of the instance.
   * @default the runtime's `defaults.snapshotOffloadBytes` (runtime/core/config.ts)
   */
  readonly snapshotOffloadBytes?: number;

  /**
   * The prefix of the stack outputs the construct adds: `<prefix>QueueUrl`, `<prefix>DeadLetterQueueUrl`,
   * `<prefix>TableName`, `<prefix>Region`, `<prefix>BucketName`, and with the API `<prefix>ApiUrl` and `<prefix>CallbackSecretArn` (`stackOutputKeys` in `runtime/core/resources.ts`, which the `settle`
   * CLI reads). Give each service its own when two live in one stack. Letters and digits only.
   * @default 'Settle'
   */
  readonly outputPrefix?: string;

  /**
   * The HTTP API over the service, its function and the callback signing key (a Secrets Manager secret), or
   * `false` for none of them: then machines cannot make callback links, and the worker gets neither the key nor
   * the API's URL.
   * @default {} (an IAM-authorised API with the default throttling)
   */
  readonly api?: SettleApiProps | false;
}

/** {@link SettleServiceProps} with every default applied and every value checked. */
export interface ResolvedSettleServiceProps {
  readonly workerTimeoutSeconds: number;
  readonly eventTimeoutMs: number;
  readonly workerMemorySize: number;
  readonly maxConcurrency: number;
  readonly logLevel: LogLevel;
  readonly logRetention: RetentionDays;
  readonly tracing: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly oldestEventAgeAlarmThresholdSeconds: number;
  /** Undefined: the worker gets no `SETTLE_SNAPSHOT_OFFLOAD_BYTES` and uses the runtime's default. */
  readonly snapshotOffloadBytes: number | undefined;
  /** Exactly one of the two: the construct writes an entry over `registry`. */
  readonly worker: { readonly entry: string } | { readonly registry: string };
  readonly sweeperEntry: string;
  readonly outputPrefix: string;
  /** `false` when the service has no API. */
  readonly api: ResolvedSettleApiProps | false;
}

export interface ResolvedSettleApiProps {
  /** Absent: IAM authorisation. */
  readonly jwt: { readonly issuer: string; readonly audience: string[] } | undefined;
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/**
 * A file of this package, next to this one's folder: the TypeScript source when running from the
 * repository, the built JavaScript when installed.
 */
export function packageFile(path: string): string {
  const typescript = fileURLToPath(new URL(`../${path}.ts`, import.meta.url));
  return existsSync(typescript) ? typescript : fileURLToPath(new URL(`../${path}.js`, import.meta.url));
}

export const defaults = {
  workerTimeout: Duration.seconds(defaultWorkerTimeoutSeconds),
  workerMemorySize: 512,
  maxConcurrency: 10,
  logLevel: 'INFO',
  logRetention: RetentionDays.ONE_MONTH,
  tracing: false,
  removalPolicy: RemovalPolicy.RETAIN,
  oldestEventAgeAlarmThreshold: Duration.minutes(5),
  sweeperEntry: packageFile('functions/sweeper'),
  outputPrefix: defaultOutputPrefix,
  api: { throttle: { rateLimit: 50, burstLimit: 100 } },
} as const satisfies Required<Omit<SettleServiceProps, 'eventTimeout' | 'workerEntry' | 'registry' | 'snapshotOffloadBytes'>>; // eventTimeout: derived from workerTimeout; snapshotOffloadBytes: the runtime's default

const supportedRemovalPolicies: readonly RemovalPolicy[] = [
  RemovalPolicy.RETAIN,
  RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  RemovalPolicy.DESTROY,
];

/** Applies the defaults and checks every prop, throwing once with every problem found. */
export function resolveProps(props: SettleServiceProps = {}): ResolvedSettleServiceProps {
  const problems: string[] = [];

  const wholeSeconds = (name: string, value: Duration): number => {
    if (value.isUnresolved()) {
      problems.push(`${name} must be a literal duration, not a token: the queue's visibility timeout is computed from it`);
      return NaN;
    }
    return value.toSeconds({ integral: false });
  };

  const workerTimeoutSeconds = wholeSeconds('workerTimeout', props.workerTimeout ?? defaults.workerTimeout);
  if (
    !Number.isNaN(workerTimeoutSeconds) &&
    !(Number.isInteger(workerTimeoutSeconds) && workerTimeoutSeconds >= 3 && workerTimeoutSeconds <= 900)
  ) {
    problems.push(
      `workerTimeout must be whole seconds from 3 to 900 (900 is Lambda's limit, and the worker keeps 2 s back for its write), got ${workerTimeoutSeconds} s`,
    );
  }

  const settleWindowMs = workerTimeoutSeconds * 1000 - runtimeDefaults.settleMarginMs;
  let eventTimeoutMs = Math.min(runtimeDefaults.eventTimeoutMs, settleWindowMs);
  if (props.eventTimeout !== undefined) {
    eventTimeoutMs = props.eventTimeout.isUnresolved() ? NaN : props.eventTimeout.toMilliseconds({ integral: false });
    if (!(Number.isInteger(eventTimeoutMs) && eventTimeoutMs >= 1 && eventTimeoutMs <= settleWindowMs)) {
      problems.push(
        `eventTimeout must be whole milliseconds from 1 ms to the worker timeout less ${runtimeDefaults.settleMarginMs} ms (${settleWindowMs} ms), got ${eventTimeoutMs} ms`,
      );
    }
  }

  const workerMemorySize = props.workerMemorySize ?? defaults.workerMemorySize;
  if (!Number.isInteger(workerMemorySize) || workerMemorySize < 128 || workerMemorySize > 10_240) {
    problems.push(`workerMemorySize must be a whole number of MB from 128 to 10240, got ${workerMemorySize}`);
  }

  const maxConcurrency = props.maxConcurrency ?? defaults.maxConcurrency;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
    problems.push(`maxConcurrency must be a whole number from 2 to 1000 (the SQS event source's range), got ${maxConcurrency}`);
  }

  const logLevel = props.logLevel ?? defaults.logLevel;
  if (!logLevels.includes(logLevel)) {
    problems.push(`logLevel must be one of ${logLevels.join(', ')}, got '${logLevel}'`);
  }

  const logRetention = props.logRetention ?? defaults.logRetention;
  if (!Object.values(RetentionDays).includes(logRetention)) {
    problems.push(`logRetention must be a RetentionDays value, got ${String(logRetention)}`);
  }

  const removalPolicy = props.removalPolicy ?? defaults.removalPolicy;
  if (!supportedRemovalPolicies.includes(removalPolicy)) {
    problems.push(
      `removalPolicy must be one of ${supportedRemovalPolicies.join(', ')} (DynamoDB tables cannot be snapshotted by CloudFormation), got '${removalPolicy}'`,
    );
  }

  const retentionSeconds = eventQueueDefinition().retentionPeriodSeconds;
  const oldestEventAgeAlarmThresholdSeconds = wholeSeconds(
    'oldestEventAgeAlarmThreshold',
    props.oldestEventAgeAlarmThreshold ?? defaults.oldestEventAgeAlarmThreshold,
  );
  if (
    !Number.isNaN(oldestEventAgeAlarmThresholdSeconds) &&
    !(
      Number.isInteger(oldestEventAgeAlarmThresholdSeconds / 60) &&
      oldestEventAgeAlarmThresholdSeconds >= 60 &&
      oldestEventAgeAlarmThresholdSeconds < retentionSeconds
    )
  ) {
    problems.push(
      `oldestEventAgeAlarmThreshold must be whole minutes from 1 minute to less than the queue's retention (${retentionSeconds / 3600} h), got ${oldestEventAgeAlarmThresholdSeconds} s`,
    );
  }

  const snapshotOffloadBytes = props.snapshotOffloadBytes;
  if (snapshotOffloadBytes !== undefined && !(Number.isSafeInteger(snapshotOffloadBytes) && snapshotOffloadBytes >= 0)) {
    problems.push(`snapshotOffloadBytes must be a whole number of bytes, 0 or more, got ${String(snapshotOffloadBytes)}`);
  }

  const sweeperEntry = props.sweeperEntry ?? defaults.sweeperEntry;
  const entries: [string, string][] = [['sweeperEntry', sweeperEntry]];
  let worker: ResolvedSettleServiceProps['worker'] | undefined;
  if (props.workerEntry !== undefined && props.registry !== undefined) {
    problems.push('give workerEntry or registry, not both');
  } else if (props.workerEntry !== undefined) {
    worker = { entry: props.workerEntry };
    entries.push(['workerEntry', props.workerEntry]);
  } else if (props.registry !== undefined) {
    worker = { registry: props.registry };
    entries.push(['registry', props.registry]);
  } else {
    problems.push(
      'the worker needs your machines: give registry (a module that exports your registry) or workerEntry (a file that exports handler = lambdaHandler(registry))',
    );
  }
  for (const [name, entry] of entries) {
    if (!/\.[cm]?[jt]s$/.test(entry)) problems.push(`${name} must be a .ts or .js file, got '${entry}'`);
    else if (!existsSync(entry)) problems.push(`${name} '${entry}' does not exist`);
  }

  const outputPrefix = props.outputPrefix ?? defaults.outputPrefix;
  if (typeof outputPrefix !== 'string' || !outputPrefixPattern.test(outputPrefix)) {
    problems.push(
      `outputPrefix must be 1 to 200 letters or digits (stack output keys are CloudFormation logical ids), got '${String(outputPrefix)}'`,
    );
  }

  const api = resolveApiProps(props.api, problems);

  if (problems.length > 0) {
    throw new Error(`Invalid SettleService props: ${problems.join('; ')}.`);
  }
  return {
    workerTimeoutSeconds,
    eventTimeoutMs,
    workerMemorySize,
    maxConcurrency,
    logLevel,
    logRetention,
    tracing: props.tracing ?? defaults.tracing,
    removalPolicy,
    oldestEventAgeAlarmThresholdSeconds,
    snapshotOffloadBytes,
    worker: worker as ResolvedSettleServiceProps['worker'],
    sweeperEntry,
    outputPrefix,
    api,
  };
}

/** The `api` prop with its defaults, each problem pushed onto `problems`. */
function resolveApiProps(api: SettleServiceProps['api'], problems: string[]): ResolvedSettleServiceProps['api'] {
  if (api === false) return false;
  if (api === undefined) api = {};
  if (typeof api !== 'object' || api === null || Array.isArray(api)) {
    problems.push(`api must be false (no API) or an object of API props, got ${JSON.stringify(api) ?? String(api)}`);
    return false;
  }

  let jwt: ResolvedSettleApiProps['jwt'];
  if (api.jwt !== undefined) {
    const { issuer, audience } = api.jwt as Partial<SettleApiJwtProps>;
    if (typeof issuer !== 'string' || !(Token.isUnresolved(issuer) || isHttpsUrl(issuer))) {
      problems.push(
        `api.jwt.issuer must be the issuer's https:// URL, exactly as the tokens' iss claim has it (API Gateway reads its OpenID configuration there), got '${String(issuer)}'`,
      );
    }
    if (!Array.isArray(audience) || audience.length === 0 || !audience.every((one) => typeof one === 'string' && one.trim() !== '')) {
      problems.push(
        `api.jwt.audience must be a non-empty list of audiences (client ids) a token may be for, got ${JSON.stringify(audience) ?? String(audience)}`,
      );
    }
    jwt = { issuer: String(issuer), audience: Array.isArray(audience) ? [...audience] : [] };
  }

  const rateLimit = api.throttle?.rateLimit ?? defaults.api.throttle.rateLimit;
  if (typeof rateLimit !== 'number' || !Number.isFinite(rateLimit) || rateLimit <= 0) {
    problems.push(`api.throttle.rateLimit must be a number of requests per second above 0, got ${String(rateLimit)}`);
  }
  const burstLimit = api.throttle?.burstLimit ?? defaults.api.throttle.burstLimit;
  if (!Number.isInteger(burstLimit) || burstLimit < 1) {
    problems.push(`api.throttle.burstLimit must be a whole number of requests of at least 1, got ${String(burstLimit)}`);
  }
  return { jwt, rateLimit, burstLimit };
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
