import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { environmentVariables } from '../../runtime/core/config.ts';
import { deadLetterQueueDefinition, eventQueueDefinition, maxReceiveCount, tableDefinition } from '../../runtime/core/resources.ts';
import { logicalId, synthService } from './helpers.ts';

describe('SettleService', () => {
  describe('events queue', () => {
    it('is a high-throughput FIFO queue taken from the shared definition', () => {
      const { template } = synthService();
      const definition = eventQueueDefinition();

      template.hasResourceProperties('AWS::SQS::Queue', {
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        MessageRetentionPeriod: definition.retentionPeriodSeconds,
        ReceiveMessageWaitTimeSeconds: definition.receiveMessageWaitTimeSeconds,
        MaximumMessageSize: definition.maximumMessageSizeBytes,
      });
    });

    it('sets the visibility timeout to 6 × the worker timeout', () => {
      expect(synthService().service.settings.workerTimeoutSeconds).toBe(30);
      synthService().template.hasResourceProperties('AWS::SQS::Queue', {
        DeduplicationScope: 'messageGroup',
        VisibilityTimeout: 180,
      });
      synthService({ workerTimeout: Duration.seconds(90) }).template.hasResourceProperties('AWS::SQS::Queue', {
        DeduplicationScope: 'messageGroup',
        VisibilityTimeout: eventQueueDefinition(90).visibilityTimeoutSeconds,
      });
    });

    it('is encrypted with SQS-managed keys', () => {
      synthService().template.hasResourceProperties('AWS::SQS::Queue', {
        DeduplicationScope: 'messageGroup',
        SqsManagedSseEnabled: true,
        KmsMasterKeyId: Match.absent(),
      });
    });

    it('moves a record to the DLQ after maxReceiveCount receives', () => {
      const { template, stack, service } = synthService();
      expect(deadLetterQueueDefinition.maxReceiveCount).toBe(5);

      template.hasResourceProperties('AWS::SQS::Queue', {
        DeduplicationScope: 'messageGroup',
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, service.deadLetterQueue), 'Arn'] },
          maxReceiveCount,
        },
      });
    });
  });

  describe('dead-letter queue', () => {
    it('is FIFO, encrypted, and keeps dead letters for 14 days', () => {
      const { template, stack, service } = synthService();
      const dlq = template.findResources('AWS::SQS::Queue')[logicalId(stack, service.deadLetterQueue)];

      expect(dlq?.Properties).toEqual({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        MessageRetentionPeriod: 14 * 24 * 3600,
        MaximumMessageSize: deadLetterQueueDefinition.maximumMessageSizeBytes,
        SqsManagedSseEnabled: true,
      });
    });
  });

  it('denies every request to either queue that does not use TLS', () => {
    const { template, stack, service } = synthService();

    for (const queue of [service.queue, service.deadLetterQueue]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(stack, queue) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  describe('instance table', () => {
    it('is on-demand, keyed by pk, with point-in-time recovery and AWS-managed encryption', () => {
      synthService().template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: tableDefinition.partitionKey.name, KeyType: 'HASH' }],
        AttributeDefinitions: Match.arrayWith([{ AttributeName: 'pk', AttributeType: 'S' }]),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
    });

    it('has the sparse due index: wakeShard (S) and wakeAt (N), keys only', () => {
      synthService().template.hasResourceProperties('AWS::DynamoDB::Table', {
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'wakeShard', AttributeType: 'S' },
          { AttributeName: 'wakeAt', AttributeType: 'N' },
        ]),
        GlobalSecondaryIndexes: Match.arrayWith([
          {
            IndexName: tableDefinition.dueIndex.name,
            KeySchema: [
              { AttributeName: 'wakeShard', KeyType: 'HASH' },
              { AttributeName: 'wakeAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ]),
      });
    });

    it('has the list index from the shared definition: listShard (S) and listSort (S), the summary attributes projected', () => {
      const { listIndex } = tableDefinition;
      const table = Object.values(synthService().template.findResources('AWS::DynamoDB::Table'))[0]?.Properties;

      expect(table.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: listIndex.partitionKey.name, AttributeType: listIndex.partitionKey.type },
          { AttributeName: listIndex.sortKey.name, AttributeType: listIndex.sortKey.type },
        ]),
      );
      expect(table.GlobalSecondaryIndexes.map((index: { IndexName: string }) => index.IndexName)).toEqual([
        tableDefinition.dueIndex.name,
        listIndex.name,
      ]);
      expect(table.GlobalSecondaryIndexes[1]).toEqual({
        IndexName: listIndex.name,
        KeySchema: [
          { AttributeName: listIndex.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: listIndex.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: listIndex.projection, NonKeyAttributes: [...listIndex.nonKeyAttributes] },
      });
    });

    it('has exactly the list index the layout promises: keyed by listShard and listSort, neither snapshot nor history projected', () => {
      // Pins the definition itself: the client queries these names, and a projected snapshot would cost a write unit per KB.
      expect(tableDefinition.listIndex).toMatchObject({
        name: 'list',
        partitionKey: { name: 'listShard', type: 'S' },
        sortKey: { name: 'listSort', type: 'S' },
        projection: 'INCLUDE',
        shards: 8,
      });
      for (const large of ['snapshot', 'snapshotGz', 'history', 'timers', 'letters', 'value']) {
        expect(tableDefinition.listIndex.nonKeyAttributes).not.toContain(large);
      }
    });

    it('is retained, with the log groups, when the stack is deleted by default', () => {
      const { template } = synthService();

      template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    });

    it('is destroyed, with the log groups, when removalPolicy is DESTROY', () => {
      const { template } = synthService({ removalPolicy: RemovalPolicy.DESTROY });

      template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
      template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    });
  });

  describe('worker', () => {
    it('runs on nodejs22.x, arm64, with a 30 s timeout and 512 MB by default', () => {
      synthService().template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle worker'),
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 30,
        MemorySize: 512,
        TracingConfig: Match.absent(),
      });
    });

    it('takes its timeout and memory from the props', () => {
      synthService({ workerTimeout: Duration.minutes(2), workerMemorySize: 1024 }).template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle worker'),
        Timeout: 120,
        MemorySize: 1024,
      });
    });

    it('gets the Settle and Powertools environment, and source-mapped stack traces', () => {
      const { template, stack, service } = synthService({ logLevel: 'DEBUG' });

      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle worker'),
        Environment: {
          Variables: {
            [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
            [environmentVariables.deadLetterQueueUrl]: { Ref: logicalId(stack, service.deadLetterQueue) },
            [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
            [environmentVariables.eventTimeoutMs]: '10000',
            [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
            POWERTOOLS_SERVICE_NAME: 'settle',
            POWERTOOLS_METRICS_NAMESPACE: 'Settle',
            POWERTOOLS_LOG_LEVEL: 'DEBUG',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
    });

    it('gives the worker and the sweeper only the queue URL each one uses', () => {
      const { template, stack, service } = synthService();
      const variables = (description: RegExp) =>
        Object.values(template.findResources('AWS::Lambda::Function')).find((fn) => description.test(String(fn.Properties.Description)))
          ?.Properties.Environment.Variables as Record<string, unknown>;

      expect(variables(/^Settle worker/)).not.toHaveProperty(environmentVariables.queueUrl);
      expect(variables(/^Settle sweeper/)).toMatchObject({
        [environmentVariables.queueUrl]: { Ref: logicalId(stack, service.queue) },
        [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
      });
      expect(variables(/^Settle sweeper/)).not.toHaveProperty(environmentVariables.deadLetterQueueUrl);
    });

    it('logs at INFO by default', () => {
      synthService().template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ POWERTOOLS_LOG_LEVEL: 'INFO' }) },
      });
    });

    it('consumes the events queue in batches of 10 with partial batch failures and capped concurrency', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, service.queue), 'Arn'] },
        FunctionName: { Ref: logicalId(stack, service.worker) },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 10 },
        MaximumBatchingWindowInSeconds: Match.absent(),
      });
      synthService({ maxConcurrency: 50 }).template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        ScalingConfig: { MaximumConcurrency: 50 },
      });
    });

    it('writes to its own log group with the retention set', () => {
      const { template, stack, service } = synthService({ logRetention: RetentionDays.ONE_WEEK });

      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle worker'),
        LoggingConfig: { LogGroup: { Ref: logicalId(stack, service.workerLogGroup) } },
      });
      template.resourceCountIs('AWS::Logs::LogGroup', 2);
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
      // No Custom::LogRetention Lambda (the deprecated logRetention prop would add one).
      template.resourceCountIs('Custom::LogRetention', 0);
    });

    it('keeps logs for a month by default', () => {
      synthService().template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('is traced with X-Ray only when tracing is on', () => {
      synthService({ tracing: true }).template.allResourcesProperties('AWS::Lambda::Function', {
        TracingConfig: { Mode: 'Active' },
      });
    });
  });

  describe('sweeper', () => {
    it('runs on nodejs22.x, arm64, within the minute between sweeps', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle sweeper'),
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 50,
        LoggingConfig: { LogGroup: { Ref: logicalId(stack, service.sweeperLogGroup) } },
      });
    });

    it('gets the same Settle environment as the worker', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle sweeper'),
        Environment: {
          Variables: Match.objectLike({
            [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
            [environmentVariables.queueUrl]: { Ref: logicalId(stack, service.queue) },
            [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
            POWERTOOLS_SERVICE_NAME: 'settle',
          }),
        },
      });
    });

    it('is run by an EventBridge rule every minute, without retries', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalId(stack, service.sweeper), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
          }),
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalId(stack, service.sweeper), 'Arn'] },
        SourceArn: { 'Fn::GetAtt': [logicalId(stack, service.sweepRule), 'Arn'] },
      });
    });
  });

  describe('alarms', () => {
    it('fires on any dead letter', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, service.deadLetterQueue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('fires on any worker or sweeper error', () => {
      const { template, stack, service } = synthService();

      for (const fn of [service.worker, service.sweeper]) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, fn) } }],
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    });

    it('fires when the oldest event is older than the threshold (5 minutes by default)', () => {
      const { template, stack, service } = synthService();
      const queueName = { 'Fn::GetAtt': [logicalId(stack, service.queue), 'QueueName'] };

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: queueName }],
        Statistic: 'Maximum',
        Threshold: 300,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      synthService({ oldestEventAgeAlarmThreshold: Duration.minutes(15) }).template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: 900,
      });
    });

    it('exposes each alarm so alarm actions can be added', () => {
      const { template, service } = synthService();

      template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
      expect(Object.keys(service.alarms).sort()).toEqual(['deadLetters', 'oldestEventAge', 'sweeperErrors', 'workerErrors']);
    });
  });
});
