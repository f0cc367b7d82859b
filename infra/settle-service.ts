import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Aws, ArnFormat, CfnOutput, Duration, Stack, Stage, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  type HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { environmentVariables } from '../runtime/core/config.ts';
import { maxReceiveCount, payloadBucketDefinition, stackOutputKeys, tableDefinition } from '../runtime/core/resources.ts';
import { bundleEnvironment, lambdaArchitecture, lambdaRuntime, workerBundling } from './bundling.ts';
import {
  accessLogBucketProps,
  deadLetterQueueProps,
  dueIndexProps,
  eventQueueProps,
  listIndexProps,
  payloadBucketProps,
  tableProps,
} from './definitions.ts';
import {
  packageFile,
  type ResolvedSettleApiProps,
  type ResolvedSettleServiceProps,
  resolveProps,
  type SettleServiceProps,
} from './props.ts';

export type { SettleApiJwtProps, SettleApiProps, SettleServiceProps } from './props.ts';

/** Events the SQS event source hands the worker per invocation: the FIFO maximum. */
export const workerBatchSize = 10;

/** The sweeper queries the due index every minute: the timer precision on AWS (docs/DESIGN.md, "Timers"). */
export const sweepInterval = Duration.minutes(1);

/**
 * Table actions, each the least its function needs: the worker reads an instance once and writes it
 * once, conditionally (docs/DESIGN.md, "The worker"); the sweeper queries the due index ("Timers"). A store that starts using
 * another call (UpdateItem, say) adds its action here.
 */
export const workerTableActions = ['dynamodb:GetItem', 'dynamodb:PutItem'] as const;
export const sweeperIndexActions = ['dynamodb:Query'] as const;

/**
 * What one principal may do in the payload bucket (docs/DESIGN.md, "Large payloads"): actions on the objects under
 * `events/*`, on those under `snapshots/*`, and on the bucket itself. `s3:ListBucket` is granted for the prefixes
 * whose objects the principal reads and no other (an `s3:prefix` condition): S3 checks it to answer a read of a
 * missing key with 404 rather than 403, and sets `s3:prefix` to the key it was asked for.
 */
export interface BucketActions {
  readonly eventObjects: readonly string[];
  readonly snapshotObjects: readonly string[];
  readonly bucket: readonly string[];
}

/**
 * The worker's payload-bucket actions: it reads a claim-checked event and puts the body of a dead letter too large
 * for the DLQ (`events/*`); it reads and writes offloaded snapshots, tags one superseded once no item points to it,
 * and deletes the object of a write that lost its race, which nothing ever pointed to (`snapshots/*`).
 */
export const workerBucketActions = {
  eventObjects: ['s3:GetObject', 's3:PutObject'],
  snapshotObjects: ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'],
  bucket: ['s3:ListBucket'],
} as const satisfies BucketActions;

/**
 * What the `settle` CLI and `SettleClient` do with a user's credentials ({@link SettleService.grantClient}):
 * send events (a large one through the payload bucket), read an instance (an offloaded snapshot from the bucket),
 * list instances through the list index, and read, drop or redrive dead letters (an offloaded body from the bucket).
 */
export const clientActions = {
  queue: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
  table: ['dynamodb:GetItem'],
  listIndex: ['dynamodb:Query'],
  deadLetterQueue: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
  /** `settle … --stack <name>` reads the stack's outputs. */
  stack: ['cloudformation:DescribeStacks'],
  /** The callback signing key: the client makes callback links too. Only when the service has its API. */
  callbackSecret: ['secretsmanager:GetSecretValue'],
  /** A large event goes to the payload bucket by claim check; `settle dlq redrive` reads an offloaded letter's body. */
  eventObjects: ['s3:PutObject', 's3:GetObject'],
  /** `get` reads an instance whose snapshot is offloaded. */
  snapshotObjects: ['s3:GetObject'],
  /** For the prefixes it reads ({@link BucketActions}). */
  bucket: ['s3:ListBucket'],
} as const satisfies Record<string, readonly string[]> & BucketActions;

/**
 * What the API function does, each the least it needs: send events to the queue (a large one by claim check, its
 * body put in the payload bucket), read an instance (and poll it for `?wait=`; an offloaded snapshot from the
 * bucket), list instances through the list index, and read the callback signing key.
 */
export const apiActions = {
  queue: ['sqs:SendMessage'],
  table: ['dynamodb:GetItem'],
  listIndex: ['dynamodb:Query'],
  callbackSecret: ['secretsmanager:GetSecretValue'],
  eventObjects: ['s3:PutObject'],
  snapshotObjects: ['s3:GetObject'],
  /** For the snapshots it reads ({@link BucketActions}). */
  bucket: ['s3:ListBucket'],
} as const satisfies Record<string, readonly string[]> & BucketActions;

/** The worker reads the callback signing key, so that a machine's actors can make callback links. */
export const workerSecretActions = ['secretsmanager:GetSecretValue'] as const;

/**
 * The HTTP API's routes. The instance routes are authorised by IAM (or a JWT authoriser); the callback routes by
 * nothing but the signed, expiring token in their path, which the handler verifies.
 */
export const apiRoutes = {
  sendEvent: { method: HttpMethod.POST, path: '/instances/{machine}/{id}/events' },
  getInstance: { method: HttpMethod.GET, path: '/instances/{machine}/{id}' },
  listInstances: { method: HttpMethod.GET, path: '/instances' },
  getCallback: { method: HttpMethod.GET, path: '/callbacks/{token}' },
  postCallback: { method: HttpMethod.POST, path: '/callbacks/{token}' },
} as const;

export type ApiRouteName = keyof typeof apiRoutes;

/** The routes a caller needs `execute-api:Invoke` on (or a JWT for): every route but the callbacks. */
export const instanceRouteNames = ['sendEvent', 'getInstance', 'listInstances'] as const satisfies readonly ApiRouteName[];

/**
 * The API function's timeout: a `?wait=` lasts at most 25 s, and API Gateway gives a Lambda integration at most
 * 30 s; past that the caller has its 504 and the function's work is wasted.
 */
export const apiFunctionTimeout = Duration.seconds(30);

/** The API function's memory in MB: it loads the worker's bundle (the machines) on a cold start, and CPU scales with memory. */
export const apiMemorySize = 512;

/** The callback signing key: 64 letters and digits (≈ 381 bits), generated by Secrets Manager at deploy time. */
export const callbackKeyLength = 64;

/**
 * Settle on AWS: the FIFO events queue and its DLQ, the instance table with its due index, the payload
 * bucket (events too large for SQS, snapshots too large for an item, dead letters too large for the DLQ;
 * private, TLS only, SSE-S3, with lifecycle rules and its own access-log bucket), the worker that runs
 * machines until they settle, the sweeper that wakes instances whose timers are due, the HTTP API (IAM- or
 * JWT-authorised instance routes, token-authorised callback links) with its function and signing key, and
 * the alarms that say when events stop flowing.
 *
 * @example
 * const settle = new SettleService(stack, 'Settle', { registry: 'src/machines.ts', maxConcurrency: 20 });
 * settle.alarms.deadLetters.addAlarmAction(new SnsAction(topic));
 * settle.grantInvokeApi(frontendRole); // SigV4 calls to the instance routes
 */
export class SettleService extends Construct {
  /** The FIFO events queue: one message group per instance (`<machine>/<instanceId>`). */
  public readonly queue: Queue;
  /** Where permanent failures (with reason attributes) and exhausted retries go. */
  public readonly deadLetterQueue: Queue;
  /** One item per instance under `pk`, with the sparse due index and the list index. */
  public readonly table: Table;
  /**
   * The payload bucket: claim-checked events and large dead letters under `events/` (expired after 30 days),
   * offloaded snapshots under `snapshots/` (expired only once tagged superseded). Its grants are exact
   * ({@link workerBucketActions}, {@link apiActions}, {@link clientActions}); the sweeper has none.
   */
  public readonly bucket: Bucket;
  /** Where S3 writes the payload bucket's server access logs, kept 90 days. */
  public readonly accessLogBucket: Bucket;
  public readonly worker: NodejsFunction;
  public readonly sweeper: NodejsFunction;
  /** The functions' execution roles: only the grants made here, no managed policies. */
  public readonly workerRole: Role;
  public readonly sweeperRole: Role;
  public readonly sweepRule: Rule;
  public readonly workerLogGroup: LogGroup;
  public readonly sweeperLogGroup: LogGroup;
  /**
   * The key that signs callback links (`/callbacks/{token}`): a generated string of 64 letters and digits, read by the
   * worker and the API function. Not rotated automatically: a new key invalidates every outstanding link.
   * Undefined with `api: false`.
   */
  public readonly callbackSecret: Secret | undefined;
  /** The HTTP API (payload format 2.0, one `$default` stage, no `$default` route). Undefined with `api: false`. */
  public readonly httpApi: HttpApi | undefined;
  /** The API's `$default` stage: throttling and JSON access logs. */
  public readonly apiStage: HttpStage | undefined;
  /** The API's base URL, ending in `/` (`https://<id>.execute-api.<region>.amazonaws.com/`). */
  public readonly apiUrl: string | undefined;
  /** The API's routes, by name ({@link apiRoutes}). */
  public readonly apiRoutes: Readonly<Record<ApiRouteName, HttpRoute>> | undefined;
  /** The function behind every route: the worker's entry and bundle, its own role, log group and settings. */
  public readonly apiFunction: NodejsFunction | undefined;
  public readonly apiRole: Role | undefined;
  public readonly apiLogGroup: LogGroup | undefined;
  /** The stage's access logs (JSON, one line per request; the route key is logged, never a callback token). */
  public readonly apiAccessLogGroup: LogGroup | undefined;
  public readonly alarms: {
    /** Any record on the DLQ: an event was rejected or ran out of retries. */
    readonly deadLetters: Alarm;
    /** The worker crashed rather than reporting a per-record failure. */
    readonly workerErrors: Alarm;
    /** The sweeper failed: timers stop firing until it recovers. */
    readonly sweeperErrors: Alarm;
    /** The oldest event has waited past the threshold: a blocked group or a worker falling behind. */
    readonly oldestEventAge: Alarm;
    /** The API function crashed rather than answering (a 5xx from API Gateway). Absent with `api: false`. */
    readonly apiErrors?: Alarm;
  };
  /**
   * The stack outputs, under fixed keys (`stackOutputKeys(outputPrefix)` in `runtime/core/resources.ts`) that the
   * `settle` CLI finds the service by.
   */
  public readonly outputs: {
    readonly queueUrl: CfnOutput;
    readonly deadLetterQueueUrl: CfnOutput;
    readonly tableName: CfnOutput;
    readonly region: CfnOutput;
    readonly bucketName: CfnOutput;
    /** Absent with `api: false`, as is `callbackSecretArn`. */
    readonly apiUrl?: CfnOutput;
    readonly callbackSecretArn?: CfnOutput;
  };
  /** The props after defaults, for extensions that need them. */
  public readonly settings: ResolvedSettleServiceProps;

  constructor(scope: Construct, id: string, props: SettleServiceProps = {}) {
    // Checked before anything joins the construct tree: a bad prop leaves no half-built service.
    const settings = resolveProps(props);
    const sharing = Stack.of(scope)
      .node.findAll()
      .find((other) => other instanceof SettleService && other.settings.outputPrefix === settings.outputPrefix);
    if (sharing) {
      throw new Error(
        `Invalid SettleService props: ${sharing.node.path} already outputs ${stackOutputKeys(settings.outputPrefix).queueUrl} and the rest in this stack; ` +
          `give each service in one stack its own outputPrefix.`,
      );
    }
    super(scope, id);
    // Server access logs are delivered under a bucket policy (logging.s3.amazonaws.com, from the payload bucket and this
    // account only), not the log-delivery ACL, which BUCKET_OWNER_ENFORCED disables. Set on this construct alone, before
    // it has children: whatever the app's own flags say, only this service's buckets read it.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    this.settings = settings;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', deadLetterQueueProps());
    this.queue = new Queue(this, 'Queue', eventQueueProps(settings.workerTimeoutSeconds, this.deadLetterQueue));
    this.table = new Table(this, 'Table', tableProps(settings.removalPolicy));
    this.table.addGlobalSecondaryIndex(dueIndexProps());
    this.table.addGlobalSecondaryIndex(listIndexProps());
    /*
     * Server access logs, to a bucket of their own, rather than an acknowledged AwsSolutions-S1: the payload bucket
     * holds the bodies of users' events and their instances' state, and its access log is the record of which
     * principal read, wrote or deleted which object, at the price of the log objects' storage (CloudTrail data events
     * would record the same at a price per request). A log bucket that logged its own access would log its log
     * deliveries without end, so it has none; it keeps its logs 90 days.
     */
    this.accessLogBucket = new Bucket(this, 'AccessLogBucket', accessLogBucketProps(settings.removalPolicy));
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "The payload bucket's server access-log bucket: logging its own access would log its log deliveries without end. It is private, TLS only, and keeps its logs 90 days.",
    });
    this.bucket = new Bucket(this, 'Bucket', payloadBucketProps(settings.removalPolicy, this.accessLogBucket));

    // The key and the API come before the functions: the worker's environment holds the key's ARN and the API's URL.
    // Nothing of the API refers to the worker, so this makes no cycle.
    const api = settings.api;
    this.callbackSecret = api ? this.createCallbackSecret(settings) : undefined;
    if (api) {
      this.httpApi = new HttpApi(this, 'Api', {
        apiName: `${Stack.of(this).stackName}-${id}`,
        description: 'Settle: send events to instances, read and list them (IAM or JWT), and follow signed callback links',
        createDefaultStage: false,
        // A route added later is authorised like the instance routes, never open by default.
        defaultAuthorizer: this.instanceAuthorizer(api),
      });
      this.apiAccessLogGroup = this.logGroup('ApiAccessLogs', settings);
      this.apiStage = this.httpApi.addStage('DefaultStage', {
        stageName: '$default',
        autoDeploy: true,
        description: 'Settle: the one stage, throttled, with JSON access logs',
        throttle: { rateLimit: api.rateLimit, burstLimit: api.burstLimit },
        accessLogSettings: {
          destination: new LogGroupLogDestination(this.apiAccessLogGroup),
          format: accessLogFormat(api),
        },
      });
      this.apiUrl = this.apiStage.url;
    }
    const callbackEnvironment: Record<string, string> =
      this.callbackSecret && this.apiUrl
        ? { [environmentVariables.callbackSecretArn]: this.callbackSecret.secretArn, [environmentVariables.apiUrl]: this.apiUrl }
        : {};

    // Each function gets the settings it reads (runtime/core/config.ts), and no other queue's URL.
    const common: Record<string, string> = {
      [environmentVariables.tableName]: this.table.tableName,
      [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
      POWERTOOLS_SERVICE_NAME: 'settle',
      POWERTOOLS_METRICS_NAMESPACE: 'Settle',
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      ...bundleEnvironment,
    };
    // The payload bucket: the worker's and the API function's, never the sweeper's (wakes are small).
    const bucketEnvironment = { [environmentVariables.bucketName]: this.bucket.bucketName };
    const workerEnvironment = {
      ...common,
      [environmentVariables.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
      [environmentVariables.eventTimeoutMs]: String(settings.eventTimeoutMs),
      ...bucketEnvironment,
      ...(settings.snapshotOffloadBytes === undefined
        ? {}
        : { [environmentVariables.snapshotOffloadBytes]: String(settings.snapshotOffloadBytes) }),
      ...callbackEnvironment,
    };
    const sweeperEnvironment = { ...common, [environmentVariables.queueUrl]: this.queue.queueUrl };

    this.workerLogGroup = this.logGroup('WorkerLogs', settings);
    this.workerRole = this.executionRole('Worker', this.workerLogGroup, settings);
    // The API function is a second function over the same entry: `lambdaHandler(registry)` serves SQS batches and HTTP requests.
    const workerEntry = 'entry' in settings.worker ? settings.worker.entry : this.writeWorkerEntry(settings.worker.registry);
    this.worker = this.nodejsFunction('Worker', settings, {
      description: 'Settle worker: applies queued events to machine instances until they settle',
      entry: workerEntry,
      timeout: Duration.seconds(settings.workerTimeoutSeconds),
      memorySize: settings.workerMemorySize,
      logGroup: this.workerLogGroup,
      role: this.workerRole,
      environment: workerEnvironment,
    });
    this.worker.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: workerBatchSize,
        reportBatchItemFailures: true,
        maxConcurrency: settings.maxConcurrency,
      }),
    );
    grantExactly(this.worker, workerTableActions, this.table.tableArn);
    grantExactly(this.worker, ['sqs:SendMessage'], this.deadLetterQueue.queueArn);
    this.grantBucket(this.worker, workerBucketActions);
    if (this.callbackSecret) grantExactly(this.worker, workerSecretActions, this.callbackSecret.secretArn);

    this.sweeperLogGroup = this.logGroup('SweeperLogs', settings);
    this.sweeperRole = this.executionRole('Sweeper', this.sweeperLogGroup, settings);
    this.sweeper = this.nodejsFunction('Sweeper', settings, {
      description: 'Settle sweeper: sends settle.wake to instances whose timers are due',
      entry: settings.sweeperEntry,
      // Under the minute between sweeps, so sweeps do not pile up (an overlap would be harmless: a stale wake token is a no-op).
      timeout: Duration.seconds(50),
      memorySize: 256,
      logGroup: this.sweeperLogGroup,
      role: this.sweeperRole,
      environment: sweeperEnvironment,
    });
    // The exact index ARN, not `index/*`: the sweeper may read the due index and nothing else.
    grantExactly(this.sweeper, sweeperIndexActions, `${this.table.tableArn}/index/${tableDefinition.dueIndex.name}`);
    grantExactly(this.sweeper, ['sqs:SendMessage'], this.queue.queueArn);
    // A failed sweep is not retried: the next one, a minute later, covers the same due timers.
    this.sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: sweepInterval });
    this.sweepRule = new Rule(this, 'SweepSchedule', {
      description: 'Runs the Settle sweeper: durable timers fire within a minute of their due time',
      schedule: Schedule.rate(sweepInterval),
      targets: [new LambdaFunction(this.sweeper, { retryAttempts: 0, maxEventAge: sweepInterval })],
    });

    if (api && this.httpApi && this.callbackSecret && this.apiUrl) {
      this.apiLogGroup = this.logGroup('ApiLogs', settings);
      this.apiRole = this.executionRole('Api', this.apiLogGroup, settings);
      this.apiFunction = this.nodejsFunction('ApiFunction', settings, {
        description: 'Settle API: sends events to instances, reads and lists them, and follows signed callback links',
        entry: workerEntry,
        timeout: apiFunctionTimeout,
        memorySize: apiMemorySize,
        logGroup: this.apiLogGroup,
        role: this.apiRole,
        environment: {
          ...common,
          [environmentVariables.queueUrl]: this.queue.queueUrl,
          ...bucketEnvironment,
          ...callbackEnvironment,
        },
      });
      grantExactly(this.apiFunction, apiActions.queue, this.queue.queueArn);
      grantExactly(this.apiFunction, apiActions.table, this.table.tableArn);
      grantExactly(this.apiFunction, apiActions.listIndex, `${this.table.tableArn}/index/${tableDefinition.listIndex.name}`);
      grantExactly(this.apiFunction, apiActions.callbackSecret, this.callbackSecret.secretArn);
      this.grantBucket(this.apiFunction, apiActions);
      this.apiRoutes = this.createRoutes(this.httpApi, this.apiFunction);
    }

    this.alarms = this.createAlarms(settings);
    this.outputs = this.createOutputs(settings.outputPrefix);
  }

  /**
   * Lets `grantee` call the IAM-authorised routes — send an event, read an instance, list instances — and nothing
   * else: `execute-api:Invoke` on exactly those three routes' ARNs (the callback routes need no grant). The ARNs
   * have a wildcard for the stage and one for each path parameter (machine, instance id), which IAM cannot avoid;
   * cdk-nag's AwsSolutions-IAM5 findings for exactly those resources are acknowledged on the grantee, with that reason.
   * Throws when the service has no API or guards it with a JWT authoriser (then the issuer decides, not IAM).
   */
  public grantInvokeApi(grantee: IGrantable): Grant {
    if (!this.httpApi || !this.settings.api) {
      throw new Error(`${this.node.path} has no HTTP API (api: false): there is nothing to grant invoke on.`);
    }
    if (this.settings.api.jwt) {
      throw new Error(
        `${this.node.path} guards its API with a JWT authoriser (api.jwt): callers need a token from ${this.settings.api.jwt.issuer}, not an IAM grant.`,
      );
    }
    const resourceArns = this.instanceRouteArns();
    const grant = Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
    acknowledgeWildcards(
      grantee,
      resourceArns,
      'execute-api:Invoke on one Settle API route: the wildcards stand for the stage and the path parameters (machine, instance id), which IAM can only match with a wildcard.',
    );
    return grant;
  }

  /**
   * Grants exactly `actions` in the payload bucket: the object actions on `events/*` and on `snapshots/*`, and
   * `s3:ListBucket` on the bucket under an `s3:prefix` condition naming the prefixes whose objects `grantee` reads.
   * The two object ARNs end in a wildcard IAM cannot avoid (a key names an instance and an id known at run time):
   * cdk-nag's AwsSolutions-IAM5 findings for exactly those resources are acknowledged on the grantee, with that reason.
   */
  private grantBucket(grantee: IGrantable, actions: BucketActions): Grant {
    const { eventsPrefix, snapshotsPrefix } = payloadBucketDefinition;
    const byPrefix = [
      { prefix: eventsPrefix, actions: actions.eventObjects },
      { prefix: snapshotsPrefix, actions: actions.snapshotObjects },
    ].filter((entry) => entry.actions.length > 0);
    const readPrefixes = byPrefix.filter((entry) => entry.actions.includes('s3:GetObject')).map(({ prefix }) => `${prefix}*`);
    let grant = Grant.drop(grantee, 'nothing to list in the payload bucket');
    if (readPrefixes.length > 0 && actions.bucket.length > 0) {
      grant = Grant.addToPrincipal({
        grantee,
        actions: [...actions.bucket],
        resourceArns: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': readPrefixes } },
      });
    }
    for (const { prefix, actions: objectActions } of byPrefix) {
      const objects = this.bucket.arnForObjects(`${prefix}*`);
      grant = grant.combine(grantExactly(grantee, objectActions, objects));
      acknowledgeWildcards(
        grantee,
        [objects],
        `Objects under ${prefix} in the Settle payload bucket: each key names an instance and a content hash or random id known only at run time, which IAM can only match with a wildcard.`,
      );
    }
    return grant;
  }

  /** The execute-api ARNs of the IAM-authorised routes: any stage (there is one), the route's method, its path with a `*` per parameter. */
  private instanceRouteArns(): string[] {
    const httpApi = this.httpApi as HttpApi;
    return instanceRouteNames.map((name) => {
      const { method, path } = apiRoutes[name];
      return Stack.of(this).formatArn({
        service: 'execute-api',
        resource: httpApi.apiId,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        resourceName: `*/${method}${path.replace(/\{[^}]+\}/g, '*')}`,
      });
    });
  }

  /** The signing key: generated by Secrets Manager, AWS-managed encryption, kept or deleted like the table. */
  private createCallbackSecret(settings: ResolvedSettleServiceProps): Secret {
    const secret = new Secret(this, 'CallbackSecret', {
      description: 'Settle: the key that signs callback links (/callbacks/{token}); changing it invalidates every outstanding link',
      generateSecretString: {
        passwordLength: callbackKeyLength,
        excludePunctuation: true,
        includeSpace: false,
        requireEachIncludedType: false,
      },
      removalPolicy: settings.removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Not rotated automatically on purpose: the key signs callback links, and a rotated key invalidates every outstanding link. Rotate it deliberately, when outstanding links may be dropped.',
    });
    return secret;
  }

  /** IAM (SigV4) unless the props name a JWT issuer. */
  private instanceAuthorizer(api: ResolvedSettleApiProps): IHttpRouteAuthorizer {
    return api.jwt
      ? new HttpJwtAuthorizer('JwtAuthorizer', api.jwt.issuer, { jwtAudience: [...api.jwt.audience] })
      : new HttpIamAuthorizer();
  }

  /** The five routes over one Lambda proxy integration (payload format 2.0); the callback routes with no authoriser. */
  private createRoutes(httpApi: HttpApi, fn: NodejsFunction): Record<ApiRouteName, HttpRoute> {
    const integration = new HttpLambdaIntegration('ApiIntegration', fn, { payloadFormatVersion: PayloadFormatVersion.VERSION_2_0 });
    const callbackAuthorizer = new HttpNoneAuthorizer();
    const route = (name: ApiRouteName): HttpRoute => {
      const { method, path } = apiRoutes[name];
      const isCallback = !(instanceRouteNames as readonly ApiRouteName[]).includes(name);
      const [created] = httpApi.addRoutes({
        path,
        methods: [method],
        integration,
        // The instance routes take the API's default authoriser (IAM or JWT).
        ...(isCallback ? { authorizer: callbackAuthorizer } : {}),
      });
      if (!created) throw new Error(`no route created for ${method} ${path}`);
      if (isCallback) {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'A callback link is followed by whoever holds it (a browser, a webhook caller) without AWS credentials or a JWT: the signed, expiring token in the path is its authority, and the handler verifies it before acting.',
        });
      }
      return created;
    };
    return {
      sendEvent: route('sendEvent'),
      getInstance: route('getInstance'),
      listInstances: route('listInstances'),
      getCallback: route('getCallback'),
      postCallback: route('postCallback'),
    };
  }

  /**
   * Lets `grantee` (a user's role, a CI role, a service's function) do what the `settle` CLI and `SettleClient`
   * do, and nothing else: send events to the queue and read its attributes; read an instance (GetItem) and
   * query the list index (not the table, not the due index); receive, delete and release dead letters; read
   * this stack's outputs (`--stack`); read the callback signing key (the client makes callback links too), when the
   * service has its API; put a large event in the payload bucket and read event and snapshot objects back
   * ({@link clientActions}). The two object ARNs' wildcards are acknowledged on the grantee for cdk-nag.
   * No KMS grant: both queues use SQS-managed encryption, the table the AWS-managed key and the payload bucket
   * S3-managed keys (definitions.ts), which need none.
   */
  public grantClient(grantee: IGrantable): Grant {
    const grant = grantExactly(grantee, clientActions.queue, this.queue.queueArn)
      .combine(grantExactly(grantee, clientActions.table, this.table.tableArn))
      .combine(grantExactly(grantee, clientActions.listIndex, `${this.table.tableArn}/index/${tableDefinition.listIndex.name}`))
      .combine(grantExactly(grantee, clientActions.deadLetterQueue, this.deadLetterQueue.queueArn))
      .combine(grantExactly(grantee, clientActions.stack, Stack.of(this).stackId))
      .combine(this.grantBucket(grantee, clientActions));
    return this.callbackSecret ? grant.combine(grantExactly(grantee, clientActions.callbackSecret, this.callbackSecret.secretArn)) : grant;
  }

  /** The outputs under fixed logical ids, not CDK's path-derived ones, so that a CLI can find them by key. */
  private createOutputs(prefix: string): SettleService['outputs'] {
    const keys = stackOutputKeys(prefix);
    const output = (key: string, description: string, value: string): CfnOutput => {
      const created = new CfnOutput(this, key, { description, value });
      created.overrideLogicalId(key);
      return created;
    };
    return {
      queueUrl: output(
        keys.queueUrl,
        'Settle: the events queue (FIFO); send events with group <machine>/<instanceId>',
        this.queue.queueUrl,
      ),
      deadLetterQueueUrl: output(
        keys.deadLetterQueueUrl,
        'Settle: the dead-letter queue (FIFO), with settle-error / settle-reason attributes',
        this.deadLetterQueue.queueUrl,
      ),
      tableName: output(keys.tableName, 'Settle: the instance table (one item per instance, key pk)', this.table.tableName),
      region: output(keys.region, "Settle: the service's region", Aws.REGION),
      bucketName: output(
        keys.bucketName,
        'Settle: the payload bucket (events too large for SQS, snapshots too large for an item, large dead letters)',
        this.bucket.bucketName,
      ),
      ...(this.apiUrl && this.callbackSecret
        ? {
            apiUrl: output(keys.apiUrl, 'Settle: the HTTP API base URL (instances: IAM or JWT; callbacks: signed links)', this.apiUrl),
            callbackSecretArn: output(
              keys.callbackSecretArn,
              'Settle: the Secrets Manager secret whose value signs callback links',
              this.callbackSecret.secretArn,
            ),
          }
        : {}),
    };
  }

  private logGroup(id: string, settings: ResolvedSettleServiceProps): LogGroup {
    return new LogGroup(this, id, { retention: settings.logRetention, removalPolicy: settings.removalPolicy });
  }

  /**
   * An own role instead of AWSLambdaBasicExecutionRole: log writes are scoped to the function's
   * log group, and every other permission is granted explicitly.
   */
  private executionRole(id: string, logGroup: LogGroup, settings: ResolvedSettleServiceProps): Role {
    const role = new Role(this, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Settle ${id.toLowerCase()}: least-privilege execution role`,
    });
    logGroup.grantWrite(role);
    if (settings.tracing) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
      });
    }
    return role;
  }

  /**
   * Writes the worker's entry over a registry module, in the app's output folder: `handler =
   * lambdaHandler(registry)`, with the registry taken from the module's `registry` or default export.
   */
  private writeWorkerEntry(registryModule: string): string {
    const registryPath = resolve(registryModule);
    const runtimePath = packageFile('runtime/index');
    const source = [
      `// Written by SettleService: the Settle worker over the registry in ${registryPath}.`,
      `import * as machines from ${JSON.stringify(registryPath)};`,
      `import { lambdaHandler } from ${JSON.stringify(runtimePath)};`,
      'const registry = machines.registry ?? machines.default;',
      `if (!registry) throw new Error(${JSON.stringify(`${registryPath} exports no registry: export it as \`registry\` or as the default export.`)});`,
      'export const handler = lambdaHandler(registry);',
      '',
    ].join('\n');
    const folder = join(Stage.of(this)?.outdir ?? '.', '.settle');
    const entry = join(folder, `worker-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.mjs`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(entry, source);
    return entry;
  }

  private nodejsFunction(
    id: string,
    settings: ResolvedSettleServiceProps,
    props: {
      description: string;
      entry: string;
      timeout: Duration;
      memorySize: number;
      logGroup: LogGroup;
      role: Role;
      environment: Record<string, string>;
    },
  ): NodejsFunction {
    const fn = new NodejsFunction(this, id, {
      ...props,
      runtime: lambdaRuntime,
      architecture: lambdaArchitecture,
      handler: 'handler',
      bundling: workerBundling,
      tracing: settings.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on it; moving to a newer runtime is a deliberate upgrade, not a drift.',
    });
    return fn;
  }

  private createAlarms(settings: ResolvedSettleServiceProps): SettleService['alarms'] {
    const period = Duration.minutes(1);
    const atLeastOne = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    } as const;
    return {
      deadLetters: new Alarm(this, 'DeadLettersAlarm', {
        ...atLeastOne,
        alarmDescription:
          'Settle: events are on the dead-letter queue. Read their settle-error / settle-reason attributes, fix the cause, then redrive.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      }),
      workerErrors: new Alarm(this, 'WorkerErrorsAlarm', {
        ...atLeastOne,
        alarmDescription: 'Settle: the worker failed a whole invocation (not a per-record failure). See its log group.',
        metric: this.worker.metricErrors({ period, statistic: 'Sum' }),
      }),
      sweeperErrors: new Alarm(this, 'SweeperErrorsAlarm', {
        ...atLeastOne,
        alarmDescription: 'Settle: the sweeper failed; durable timers do not fire until it recovers. See its log group.',
        metric: this.sweeper.metricErrors({ period, statistic: 'Sum' }),
      }),
      oldestEventAge: new Alarm(this, 'OldestEventAgeAlarm', {
        alarmDescription:
          'Settle: an event has waited too long on the queue: a retrying event blocks its instance, or the worker cannot keep up.',
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
        threshold: settings.oldestEventAgeAlarmThresholdSeconds,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      ...(this.apiFunction
        ? {
            apiErrors: new Alarm(this, 'ApiErrorsAlarm', {
              ...atLeastOne,
              alarmDescription: 'Settle: the API function failed a request (the caller got a 5xx from API Gateway). See its log group.',
              metric: this.apiFunction.metricErrors({ period, statistic: 'Sum' }),
            }),
          }
        : {}),
    };
  }
}

/**
 * The stage's access log line: JSON, one object per request. It names the route by its key (`GET /callbacks/{token}`)
 * and never logs the path, which for a callback holds the token itself: whoever reads the logs must not be able to
 * follow the links. Every value is a string, so a missing one (`-`) still parses.
 */
function accessLogFormat(api: ResolvedSettleApiProps): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      requestTime: '$context.requestTimeEpoch',
      httpMethod: '$context.httpMethod',
      routeKey: '$context.routeKey',
      status: '$context.status',
      protocol: '$context.protocol',
      responseLength: '$context.responseLength',
      responseLatency: '$context.responseLatency',
      integrationLatency: '$context.integrationLatency',
      integrationStatus: '$context.integrationStatus',
      integrationError: '$context.integrationErrorMessage',
      error: '$context.error.message',
      authorizerError: '$context.authorizer.error',
      caller: api.jwt ? '$context.authorizer.claims.sub' : '$context.identity.userArn',
    }),
  );
}

/**
 * A resolved ARN as cdk-nag names it in a finding (`Resource::arn:<AWS::Partition>:…`): `Fn::Join` concatenated,
 * `Ref` as `<Id>`, `Fn::GetAtt` as `<Id.Attribute>`. An ARN it cannot flatten so gets no acknowledgement, and shows.
 */
function flattenReference(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: unknown; 'Fn::GetAtt'?: [unknown, unknown] };
  if (node['Fn::Join']) return node['Fn::Join'][1].map(flattenReference).join(node['Fn::Join'][0]);
  if (node.Ref !== undefined) return `<${flattenReference(node.Ref)}>`;
  if (node['Fn::GetAtt']) return `<${flattenReference(node['Fn::GetAtt'][0])}.${flattenReference(node['Fn::GetAtt'][1])}>`;
  return JSON.stringify(value);
}

/**
 * Acknowledges cdk-nag's AwsSolutions-IAM5 finding for each of these wildcard resources on the grantee, and for no
 * other: a wildcard granted anywhere else still shows.
 */
function acknowledgeWildcards(grantee: IGrantable, resourceArns: readonly string[], reason: string): void {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) return;
  for (const arn of resourceArns) {
    Validations.of(principal).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(principal).resolve(arn))}]`,
      reason,
    });
  }
}

/** Adds exactly these actions on exactly this resource: no `grant*` helper's extra actions or `index/*`. */
function grantExactly(grantee: IGrantable, actions: readonly string[], resourceArn: string): Grant {
  return Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns: [resourceArn] });
}
