import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { SettleService, type SettleServiceProps } from '../../infra/settle-service.ts';
import { configFromEnvironment, environmentVariables } from '../../runtime/core/config.ts';
import { deadLetterQueueDefinition, eventQueueDefinition, maxReceiveCount, tableDefinition } from '../../runtime/core/resources.ts';
import { fixtureEntry, logicalId, repositoryRoot, skipBundling, synthService } from './helpers.ts';

const jwt = { issuer: 'https://issuer.example.com/', audience: ['settle-client', 'settle-cli'] };

/** Each function's environment variables, by the start of its description. */
function variablesOf(template: ReturnType<typeof synthService>['template'], description: RegExp): Record<string, unknown> | undefined {
  return Object.values(template.findResources('AWS::Lambda::Function')).find((fn) => description.test(String(fn.Properties.Description)))
    ?.Properties.Environment.Variables;
}

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

    it('gets the Settle and Powertools environment, the callback key and the API URL, and source-mapped stack traces', () => {
      const { template, stack, service } = synthService({ logLevel: 'DEBUG' });

      expect(variablesOf(template, /^Settle worker/)).toEqual({
        [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
        [environmentVariables.deadLetterQueueUrl]: { Ref: logicalId(stack, service.deadLetterQueue) },
        [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
        [environmentVariables.eventTimeoutMs]: '10000',
        [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
        [environmentVariables.callbackSecretArn]: {
          Ref: logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>),
        },
        [environmentVariables.apiUrl]: stack.resolve(service.apiUrl),
        POWERTOOLS_SERVICE_NAME: 'settle',
        POWERTOOLS_METRICS_NAMESPACE: 'Settle',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it('gets neither the callback key nor the API URL without the API', () => {
      const variables = variablesOf(synthService({ api: false }).template, /^Settle worker/);

      expect(variables).not.toHaveProperty(environmentVariables.callbackSecretArn);
      expect(variables).not.toHaveProperty(environmentVariables.apiUrl);
      expect(variables).toHaveProperty(environmentVariables.deadLetterQueueUrl);
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
      // The worker's, the sweeper's, the API function's and the API's access logs: all with the retention set.
      template.resourceCountIs('AWS::Logs::LogGroup', 4);
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
      synthService({ api: false }).template.resourceCountIs('AWS::Logs::LogGroup', 2);
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

    it('fires on any API function error', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [
          { Name: 'FunctionName', Value: { Ref: logicalId(stack, service.apiFunction as NonNullable<typeof service.apiFunction>) } },
        ],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('exposes each alarm so alarm actions can be added', () => {
      const { template, service } = synthService();

      template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
      expect(Object.keys(service.alarms).sort()).toEqual(['apiErrors', 'deadLetters', 'oldestEventAge', 'sweeperErrors', 'workerErrors']);
      const without = synthService({ api: false });
      without.template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
      expect(without.service.alarms.apiErrors).toBeUndefined();
    });
  });

  describe('HTTP API', () => {
    const routeKeys = [
      'GET /callbacks/{token}',
      'GET /instances',
      'GET /instances/{machine}/{id}',
      'POST /callbacks/{token}',
      'POST /instances/{machine}/{id}/events',
    ];
    const callbackRouteKeys = ['GET /callbacks/{token}', 'POST /callbacks/{token}'];

    /** Each route's key with its authorisation type (and authoriser reference). */
    function routesOf(template: ReturnType<typeof synthService>['template']) {
      return Object.values(template.findResources('AWS::ApiGatewayV2::Route'))
        .map(({ Properties }) => ({ key: Properties.RouteKey, type: Properties.AuthorizationType, authorizer: Properties.AuthorizerId }))
        .sort((a, b) => a.key.localeCompare(b.key));
    }

    it('has exactly the five routes, the instance routes AWS_IAM, the callback routes NONE and nothing else NONE, no $default route', () => {
      const routes = routesOf(synthService().template);

      expect(routes.map(({ key }) => key)).toEqual(routeKeys);
      expect(routes.map(({ key }) => key)).not.toContain('$default');
      for (const { key, type, authorizer } of routes) {
        expect(type, key).toBe(callbackRouteKeys.includes(key) ? 'NONE' : 'AWS_IAM');
        expect(authorizer, key).toBeUndefined();
      }
      expect(routes.filter(({ type }) => type === 'NONE').map(({ key }) => key)).toEqual(callbackRouteKeys);
    });

    it('guards the instance routes with one JWT authoriser over the issuer and audiences when the props ask, the callbacks still NONE', () => {
      const { template, stack, service } = synthService({ api: { jwt } });
      const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer');

      expect(Object.values(authorizers).map(({ Properties }) => Properties)).toEqual([
        {
          ApiId: { Ref: logicalId(stack, service.httpApi as NonNullable<typeof service.httpApi>) },
          AuthorizerType: 'JWT',
          IdentitySource: ['$request.header.Authorization'],
          JwtConfiguration: { Issuer: jwt.issuer, Audience: jwt.audience },
          Name: 'JwtAuthorizer',
        },
      ]);
      const authorizer = { Ref: Object.keys(authorizers)[0] };
      for (const { key, type, authorizer: id } of routesOf(template)) {
        if (callbackRouteKeys.includes(key)) {
          expect([key, type, id]).toEqual([key, 'NONE', undefined]);
        } else {
          expect([key, type, id]).toEqual([key, 'JWT', authorizer]);
        }
      }
      expect(routesOf(template).filter(({ type }) => type === 'AWS_IAM')).toEqual([]);
    });

    it('has no authoriser resource with IAM authorisation', () => {
      synthService().template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    });

    it('is one HTTP API with one Lambda proxy integration (payload format 2.0) to the API function behind every route', () => {
      const { template, stack, service } = synthService();
      const api = { Ref: logicalId(stack, service.httpApi as NonNullable<typeof service.httpApi>) };
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');

      template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', CorsConfiguration: Match.absent() });
      expect(Object.values(integrations).map(({ Properties }) => Properties)).toEqual([
        {
          ApiId: api,
          IntegrationType: 'AWS_PROXY',
          IntegrationUri: { 'Fn::GetAtt': [logicalId(stack, service.apiFunction as NonNullable<typeof service.apiFunction>), 'Arn'] },
          PayloadFormatVersion: '2.0',
        },
      ]);
      const target = { 'Fn::Join': ['', ['integrations/', { Ref: Object.keys(integrations)[0] }]] };
      template.allResourcesProperties('AWS::ApiGatewayV2::Route', { ApiId: api, Target: target });
      expect(Object.keys(service.apiRoutes ?? {}).sort()).toEqual([
        'getCallback',
        'getInstance',
        'listInstances',
        'postCallback',
        'sendEvent',
      ]);
    });

    it('has one $default stage, deployed automatically, throttled at 50 requests/s with bursts of 100 by default', () => {
      const { template, stack, service } = synthService();

      template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: logicalId(stack, service.httpApi as NonNullable<typeof service.httpApi>) },
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
    });

    it('takes its throttling from the props', () => {
      synthService({ api: { throttle: { rateLimit: 12.5, burstLimit: 40 } } }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: { ThrottlingRateLimit: 12.5, ThrottlingBurstLimit: 40 },
      });
      synthService({ api: { throttle: { burstLimit: 7 } } }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 7 },
      });
    });

    it('writes JSON access logs to its own log group, naming the route by its key and never logging the path (a callback token)', () => {
      const { template, stack, service } = synthService({ logRetention: RetentionDays.ONE_WEEK });
      const accessLogs = service.apiAccessLogGroup as NonNullable<typeof service.apiAccessLogGroup>;
      const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]?.Properties;

      expect(stage.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [logicalId(stack, accessLogs), 'Arn'] });
      const format = JSON.parse(stage.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        routeKey: '$context.routeKey',
        status: '$context.status',
        responseLatency: '$context.responseLatency',
        integrationLatency: '$context.integrationLatency',
        caller: '$context.identity.userArn',
      });
      expect(Object.values(format).every((value) => typeof value === 'string')).toBe(true);
      expect(stage.AccessLogSettings.Format).not.toMatch(/\$context\.(path|resourcePath)\b/);
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
      expect(
        JSON.parse(
          Object.values(synthService({ api: { jwt } }).template.findResources('AWS::ApiGatewayV2::Stage'))[0]?.Properties.AccessLogSettings
            .Format,
        ),
      ).toMatchObject({
        caller: '$context.authorizer.claims.sub',
      });
    });

    it('runs its function on nodejs22.x, arm64, for 30 s (a wait is at most 25 s; API Gateway waits 30 s), with its own role and log group', () => {
      const { template, stack, service } = synthService();

      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Settle API'),
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 30,
        MemorySize: 512,
        Role: { 'Fn::GetAtt': [logicalId(stack, service.apiRole as NonNullable<typeof service.apiRole>), 'Arn'] },
        LoggingConfig: { LogGroup: { Ref: logicalId(stack, service.apiLogGroup as NonNullable<typeof service.apiLogGroup>) } },
      });
    });

    it("runs the worker's entry and bundle, written or given: one handler serves SQS batches and HTTP requests", () => {
      const scratch = join(repositoryRoot, 'cdk.out');
      mkdirSync(scratch, { recursive: true });
      // A written entry lands in the app's outdir, which NodejsFunction wants under the project root.
      const outdir = mkdtempSync(join(scratch, 'infra-api-entry-'));
      try {
        for (const props of [{ workerEntry: fixtureEntry }, { registry: fixtureEntry }] satisfies SettleServiceProps[]) {
          const app = new App({ outdir, context: skipBundling });
          const stack = new Stack(app, 'TestStack');
          const service = new SettleService(stack, 'Settle', props); // the sweeper on its own entry, Settle's
          const code = (fn: NodejsFunction | undefined) => stack.resolve((fn?.node.defaultChild as { code?: unknown } | undefined)?.code);

          expect(code(service.apiFunction)).toEqual(code(service.worker));
          expect(code(service.apiFunction)).not.toEqual(code(service.sweeper));
        }
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });

    it("gets the settings configFromEnvironment(env, 'api') needs, the callback key, the API URL and no DLQ", () => {
      const { template, stack, service } = synthService({ logLevel: 'DEBUG' });
      const variables = variablesOf(template, /^Settle API/) as Record<string, unknown>;

      expect(variables).toEqual({
        [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
        [environmentVariables.queueUrl]: { Ref: logicalId(stack, service.queue) },
        [environmentVariables.callbackSecretArn]: {
          Ref: logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>),
        },
        [environmentVariables.apiUrl]: stack.resolve(service.apiUrl),
        [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
        POWERTOOLS_SERVICE_NAME: 'settle',
        POWERTOOLS_METRICS_NAMESPACE: 'Settle',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        NODE_OPTIONS: '--enable-source-maps',
      });
      // Deployed, each reference is a string: the API role's settings then read without a complaint.
      const deployed = Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : `<${name}>`]),
      );
      expect(configFromEnvironment(deployed, 'api')).toMatchObject({ tableName: '<SETTLE_TABLE>', queueUrl: '<SETTLE_QUEUE_URL>' });
    });

    describe('callback secret', () => {
      it('is generated: 64 letters and digits, AWS-managed encryption, no rotation', () => {
        const { template } = synthService();

        template.resourceCountIs('AWS::SecretsManager::Secret', 1);
        template.hasResourceProperties('AWS::SecretsManager::Secret', {
          GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false, RequireEachIncludedType: false },
          KmsKeyId: Match.absent(),
          SecretString: Match.absent(),
        });
        template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      });

      it('is retained like the table by default, and destroyed with it under DESTROY', () => {
        synthService().template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
        synthService({ removalPolicy: RemovalPolicy.DESTROY }).template.hasResource('AWS::SecretsManager::Secret', {
          DeletionPolicy: 'Delete',
          UpdateReplacePolicy: 'Delete',
        });
      });
    });

    it('leaves out the API, its function, its logs and the secret with api: false', () => {
      const { template, service } = synthService({ api: false });
      const types = Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map(({ Type }) => Type);

      expect(types.filter((type) => type.startsWith('AWS::ApiGatewayV2::') || type.startsWith('AWS::SecretsManager::'))).toEqual([]);
      template.resourceCountIs('AWS::Lambda::Function', 2);
      expect(variablesOf(template, /^Settle API/)).toBeUndefined();
      expect([
        service.httpApi,
        service.apiStage,
        service.apiUrl,
        service.apiRoutes,
        service.apiFunction,
        service.apiRole,
        service.apiLogGroup,
        service.apiAccessLogGroup,
        service.callbackSecret,
      ]).toEqual(Array(9).fill(undefined));
    });
  });
});
