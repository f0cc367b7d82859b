import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Aws, CfnOutput, Duration, Stack, Stage, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { environmentVariables } from '../runtime/core/config.ts';
import { maxReceiveCount, stackOutputKeys, tableDefinition } from '../runtime/core/resources.ts';
import { bundleEnvironment, lambdaArchitecture, lambdaRuntime, workerBundling } from './bundling.ts';
import { deadLetterQueueProps, dueIndexProps, eventQueueProps, listIndexProps, tableProps } from './definitions.ts';
import { packageFile, type ResolvedSettleServiceProps, resolveProps, type SettleServiceProps } from './props.ts';

export type { SettleServiceProps } from './props.ts';

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
 * What the `settle` CLI and `SettleClient` do with a user's credentials ({@link SettleService.grantClient}):
 * send events, read an instance, list instances through the list index, and read, drop or redrive dead letters.
 */
export const clientActions = {
  queue: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
  table: ['dynamodb:GetItem'],
  listIndex: ['dynamodb:Query'],
  deadLetterQueue: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
  /** `settle … --stack <name>` reads the stack's outputs. */
  stack: ['cloudformation:DescribeStacks'],
} as const;

/**
 * Settle on AWS: the FIFO events queue and its DLQ, the instance table with its due index, the
 * worker that runs machines until they settle, the sweeper that wakes instances whose timers are
 * due, and the alarms that say when events stop flowing.
 *
 * @example
 * const settle = new SettleService(stack, 'Settle', { maxConcurrency: 20 });
 * settle.alarms.deadLetters.addAlarmAction(new SnsAction(topic));
 */
export class SettleService extends Construct {
  /** The FIFO events queue: one message group per instance (`<machine>/<instanceId>`). */
  public readonly queue: Queue;
  /** Where permanent failures (with reason attributes) and exhausted retries go. */
  public readonly deadLetterQueue: Queue;
  /** One item per instance under `pk`, with the sparse due index and the list index. */
  public readonly table: Table;
  public readonly worker: NodejsFunction;
  public readonly sweeper: NodejsFunction;
  /** The functions' execution roles: only the grants made here, no managed policies. */
  public readonly workerRole: Role;
  public readonly sweeperRole: Role;
  public readonly sweepRule: Rule;
  public readonly workerLogGroup: LogGroup;
  public readonly sweeperLogGroup: LogGroup;
  public readonly alarms: {
    /** Any record on the DLQ: an event was rejected or ran out of retries. */
    readonly deadLetters: Alarm;
    /** The worker crashed rather than reporting a per-record failure. */
    readonly workerErrors: Alarm;
    /** The sweeper failed: timers stop firing until it recovers. */
    readonly sweeperErrors: Alarm;
    /** The oldest event has waited past the threshold: a blocked group or a worker falling behind. */
    readonly oldestEventAge: Alarm;
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
    this.settings = settings;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', deadLetterQueueProps());
    this.queue = new Queue(this, 'Queue', eventQueueProps(settings.workerTimeoutSeconds, this.deadLetterQueue));
    this.table = new Table(this, 'Table', tableProps(settings.removalPolicy));
    this.table.addGlobalSecondaryIndex(dueIndexProps());
    this.table.addGlobalSecondaryIndex(listIndexProps());

    // Each function gets the settings it reads (runtime/core/config.ts), and no other queue's URL.
    const common: Record<string, string> = {
      [environmentVariables.tableName]: this.table.tableName,
      [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
      POWERTOOLS_SERVICE_NAME: 'settle',
      POWERTOOLS_METRICS_NAMESPACE: 'Settle',
      POWERTOOLS_LOG_LEVEL: settings.logLevel,
      ...bundleEnvironment,
    };
    const workerEnvironment = {
      ...common,
      [environmentVariables.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
      [environmentVariables.eventTimeoutMs]: String(settings.eventTimeoutMs),
    };
    const sweeperEnvironment = { ...common, [environmentVariables.queueUrl]: this.queue.queueUrl };

    this.workerLogGroup = this.logGroup('WorkerLogs', settings);
    this.workerRole = this.executionRole('Worker', this.workerLogGroup, settings);
    this.worker = this.nodejsFunction('Worker', settings, {
      description: 'Settle worker: applies queued events to machine instances until they settle',
      entry: 'entry' in settings.worker ? settings.worker.entry : this.writeWorkerEntry(settings.worker.registry),
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

    this.alarms = this.createAlarms(settings);
    this.outputs = this.createOutputs(settings.outputPrefix);
  }

  /**
   * Lets `grantee` (a user's role, a CI role, a service's function) do what the `settle` CLI and `SettleClient`
   * do, and nothing else: send events to the queue and read its attributes; read an instance (GetItem) and
   * query the list index (not the table, not the due index); receive, delete and release dead letters; read
   * this stack's outputs (`--stack`).
   * No KMS grant: both queues use SQS-managed encryption and the table the AWS-managed key (definitions.ts),
   * which need none.
   */
  public grantClient(grantee: IGrantable): Grant {
    return grantExactly(grantee, clientActions.queue, this.queue.queueArn)
      .combine(grantExactly(grantee, clientActions.table, this.table.tableArn))
      .combine(grantExactly(grantee, clientActions.listIndex, `${this.table.tableArn}/index/${tableDefinition.listIndex.name}`))
      .combine(grantExactly(grantee, clientActions.deadLetterQueue, this.deadLetterQueue.queueArn))
      .combine(grantExactly(grantee, clientActions.stack, Stack.of(this).stackId));
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
    };
  }
}

/** Adds exactly these actions on exactly this resource: no `grant*` helper's extra actions or `index/*`. */
function grantExactly(grantee: IGrantable, actions: readonly string[], resourceArn: string): Grant {
  return Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns: [resourceArn] });
}
