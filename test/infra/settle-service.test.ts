import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { SettleService, type SettleServiceProps } from '../../infra/settle-service.ts';
import { configFromEnvironment, environmentVariables } from '../../runtime/core/config.ts';
import { accessLogRetentionDays } from '../../infra/definitions.ts';
import {
  deadLetterQueueDefinition,
  eventQueueDefinition,
  maxReceiveCount,
  payloadBucketDefinition,
  tableDefinition,
} from '../../runtime/core/resources.ts';
import { fixtureEntry, logicalId, repositoryRoot, skipBundling, synthService } from './helpers.ts';

const jwt = { issuer: 'https://issuer.example.com/', audience: ['settle-client', 'settle-cli'] };

/** A lifecycle rule as CloudFormation has it. */
interface LifecycleRuleJson {
  readonly Id?: string;
  readonly Status: string;
  readonly Prefix?: string;
  readonly TagFilters?: { Key: string; Value: string }[];
  readonly [action: string]: unknown;
}

/** What a rule does to the objects it covers: every property but the ones that say which objects those are. */
const ruleActions = ({ Id, Status, Prefix, TagFilters, ...actions }: LifecycleRuleJson) => actions;

/**
 * The enabled rules that cover an object with this key and these tags, as S3 matches them: the key starts with the
 * rule's prefix, and the object has every tag the rule filters on. A rule that filters some other way is not
 * understood here and fails the test rather than pass unread.
 */
function rulesCovering(rules: LifecycleRuleJson[], key: string, tags: Record<string, string>): LifecycleRuleJson[] {
  return rules.filter((rule) => {
    const unread = ['Filter', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].filter((field) => field in rule);
    if (unread.length > 0) throw new Error(`rule ${rule.Id} filters by ${unread.join(', ')}, which this test does not read`);
    return (
      rule.Status === 'Enabled' &&
      key.startsWith(rule.Prefix ?? '') &&
      (rule.TagFilters ?? []).every(({ Key, Value }) => tags[Key] === Value)
    );
  });
}

/** The properties of the rules covering an object that would remove it or move it: expirations and transitions. */
const removingActions = (rules: LifecycleRuleJson[]) =>
  rules.flatMap((rule) => Object.keys(ruleActions(rule)).filter((action) => /^(Expiration|Transition|Noncurrent)/.test(action)));

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

  describe('payload bucket', () => {
    /** The payload bucket's and the access-log bucket's resources, by logical id. */
    function buckets(props: SettleServiceProps = {}) {
      const synthesized = synthService(props);
      const { template, stack, service } = synthesized;
      const resources = template.findResources('AWS::S3::Bucket');
      const payload = resources[logicalId(stack, service.bucket)];
      const accessLogs = resources[logicalId(stack, service.accessLogBucket)];
      if (!payload || !accessLogs) throw new Error('no payload or access-log bucket');
      return { ...synthesized, payload, accessLogs };
    }

    /** The statements of a bucket's policy. */
    function bucketPolicy(template: ReturnType<typeof synthService>['template'], bucketLogicalId: string): unknown[] {
      const policies = Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucketLogicalId } } }));
      expect(policies).toHaveLength(1);
      return policies[0]?.Properties.PolicyDocument.Statement;
    }

    it('is one bucket with its access-log bucket, named by CloudFormation, exposed on the construct', () => {
      const { template, payload, accessLogs } = buckets();

      template.resourceCountIs('AWS::S3::Bucket', 2);
      expect(payload.Properties.BucketName).toBeUndefined();
      expect(accessLogs.Properties.BucketName).toBeUndefined();
      synthService({ api: false }).template.resourceCountIs('AWS::S3::Bucket', 2);
    });

    it('is encrypted at rest with S3-managed keys (SSE-S3), like the queues: no KMS key to grant', () => {
      const { payload, accessLogs } = buckets();

      for (const bucket of [payload, accessLogs]) {
        expect(bucket.Properties.BucketEncryption).toEqual({
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        });
      }
    });

    it('blocks every kind of public access, disables ACLs (the owner owns every object), and keeps no versions', () => {
      const { payload, accessLogs } = buckets();

      for (const bucket of [payload, accessLogs]) {
        expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        expect(bucket.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
        expect(bucket.Properties.AccessControl).toBeUndefined();
        expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
      }
    });

    it('denies every request without TLS, or below TLS 1.2, to either bucket and its objects', () => {
      const { template, stack, service } = buckets();

      for (const bucket of [service.bucket, service.accessLogBucket]) {
        const id = logicalId(stack, bucket);
        const everything = [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/*']] }];
        const statements = bucketPolicy(template, id);
        expect(statements).toContainEqual({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Resource: everything,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        });
        expect(statements).toContainEqual({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Resource: everything,
          Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
        });
      }
      // The payload bucket's policy holds nothing else: every grant is on a principal, exact.
      expect(bucketPolicy(template, logicalId(stack, service.bucket))).toHaveLength(2);
    });

    it('has exactly the three lifecycle rules of the shared definition: events expire, superseded snapshots expire, uploads are aborted', () => {
      const { payload } = buckets();
      const { eventsPrefix, snapshotsPrefix, supersededTag } = payloadBucketDefinition;

      expect(payload.Properties.LifecycleConfiguration).toEqual({
        Rules: [
          { Id: 'ExpireEvents', Status: 'Enabled', Prefix: eventsPrefix, ExpirationInDays: payloadBucketDefinition.eventsExpireAfterDays },
          {
            Id: 'ExpireSupersededSnapshots',
            Status: 'Enabled',
            Prefix: snapshotsPrefix,
            TagFilters: [{ Key: supersededTag.key, Value: supersededTag.value }],
            ExpirationInDays: payloadBucketDefinition.supersededExpireAfterDays,
          },
          {
            Id: 'AbortIncompleteUploads',
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: payloadBucketDefinition.abortIncompleteUploadAfterDays },
          },
        ],
      });
      // The definition's values, as the runtime and the docs state them.
      expect(payloadBucketDefinition).toMatchObject({
        eventsPrefix: 'events/',
        snapshotsPrefix: 'snapshots/',
        eventsExpireAfterDays: 30,
        supersededTag: { key: 'settle-superseded', value: 'true' },
        supersededExpireAfterDays: 1,
        abortIncompleteUploadAfterDays: 1,
      });
    });

    it('never expires an untagged snapshot (the live snapshot of a waiting instance); expires a superseded one, and every event object', () => {
      const rules: LifecycleRuleJson[] = buckets().payload.Properties.LifecycleConfiguration.Rules;
      const { key: tag, value } = payloadBucketDefinition.supersededTag;
      const snapshot = 'snapshots/order/o%2F1/v7-3f1c.json.gz';
      const expiryOf = (key: string, tags: Record<string, string>) =>
        rulesCovering(rules, key, tags).flatMap((rule) => (rule.ExpirationInDays === undefined ? [] : [rule.ExpirationInDays]));

      expect(removingActions(rulesCovering(rules, snapshot, {}))).toEqual([]);
      expect(removingActions(rulesCovering(rules, snapshot, { [tag]: 'false' }))).toEqual([]);
      expect(removingActions(rulesCovering(rules, snapshot, { other: 'tag' }))).toEqual([]);
      expect(expiryOf(snapshot, { [tag]: value })).toEqual([payloadBucketDefinition.supersededExpireAfterDays]);
      expect(expiryOf('events/order/o%2F1/ab12', {})).toEqual([payloadBucketDefinition.eventsExpireAfterDays]);
      expect(expiryOf('events/order/o%2F1/letter-cd34', {})).toEqual([payloadBucketDefinition.eventsExpireAfterDays]);
      // What does cover an untagged snapshot only aborts an upload that never became an object.
      expect(rulesCovering(rules, snapshot, {}).map(ruleActions)).toEqual([
        { AbortIncompleteMultipartUpload: { DaysAfterInitiation: payloadBucketDefinition.abortIncompleteUploadAfterDays } },
      ]);
    });

    it('would see a rule that expires untagged snapshots: the check above reads prefixes, tags and expirations', () => {
      const snapshot = 'snapshots/order/o1/v1-a.json.gz';
      const expiring = (rule: LifecycleRuleJson) => removingActions(rulesCovering([rule], snapshot, {}));

      expect(expiring({ Id: 'all', Status: 'Enabled', ExpirationInDays: 365 })).toEqual(['ExpirationInDays']);
      expect(expiring({ Id: 'snapshots', Status: 'Enabled', Prefix: 'snapshots/', ExpirationInDays: 365 })).toEqual(['ExpirationInDays']);
      expect(expiring({ Id: 'archive', Status: 'Enabled', Prefix: 'snap', Transitions: [] })).toEqual(['Transitions']);
      expect(expiring({ Id: 'off', Status: 'Disabled', ExpirationInDays: 1 })).toEqual([]);
      expect(expiring({ Id: 'tagged', Status: 'Enabled', TagFilters: [{ Key: 'k', Value: 'v' }], ExpirationInDays: 1 })).toEqual([]);
      expect(() => expiring({ Id: 'filtered', Status: 'Enabled', Filter: {}, ExpirationInDays: 1 })).toThrow(/filters by Filter/);
    });

    it("logs server access to its access-log bucket, which keeps the logs 90 days and admits only the payload bucket's log deliveries", () => {
      const { template, stack, service, payload, accessLogs } = buckets();
      const logBucket = logicalId(stack, service.accessLogBucket);

      expect(payload.Properties.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logBucket } });
      expect(accessLogs.Properties.LoggingConfiguration).toBeUndefined();
      expect(accessLogRetentionDays).toBe(90);
      expect(accessLogs.Properties.LifecycleConfiguration).toEqual({
        Rules: [{ Id: 'ExpireAccessLogs', Status: 'Enabled', ExpirationInDays: 90 }],
      });
      const allows = bucketPolicy(template, logBucket).filter((statement) => (statement as { Effect: string }).Effect === 'Allow');
      expect(allows).toEqual([
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logBucket, 'Arn'] }, '/*']] },
          Condition: {
            ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, service.bucket), 'Arn'] } },
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          },
        },
      ]);
    });

    it('is retained with the table by default, and deleted with it under DESTROY (both buckets)', () => {
      synthService().template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      synthService({ removalPolicy: RemovalPolicy.DESTROY }).template.allResources('AWS::S3::Bucket', {
        DeletionPolicy: 'Delete',
        UpdateReplacePolicy: 'Delete',
      });
      // No auto-delete function: the construct adds no Lambda of its own beyond the worker, the sweeper and the API's.
      synthService({ removalPolicy: RemovalPolicy.DESTROY }).template.resourceCountIs('AWS::Lambda::Function', 3);
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

    it('gets the Settle and Powertools environment, the callback key and the API URL, and no NODE_OPTIONS (source maps ship, not enabled)', () => {
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
        [environmentVariables.bucketName]: { Ref: logicalId(stack, service.bucket) },
        POWERTOOLS_SERVICE_NAME: 'settle',
        POWERTOOLS_METRICS_NAMESPACE: 'Settle',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
      });
    });

    it('gets the payload bucket with or without the API, and the snapshot offload threshold only when the props give one', () => {
      const without = synthService({ api: false });
      expect(variablesOf(without.template, /^Settle worker/)).toMatchObject({
        [environmentVariables.bucketName]: { Ref: logicalId(without.stack, without.service.bucket) },
      });
      expect(variablesOf(without.template, /^Settle worker/)).not.toHaveProperty(environmentVariables.snapshotOffloadBytes);

      const { template } = synthService({ snapshotOffloadBytes: 100_000 });
      expect(variablesOf(template, /^Settle worker/)).toHaveProperty(environmentVariables.snapshotOffloadBytes, '100000');
      expect(variablesOf(template, /^Settle API/)).not.toHaveProperty(environmentVariables.snapshotOffloadBytes);
      expect(variablesOf(template, /^Settle sweeper/)).not.toHaveProperty(environmentVariables.snapshotOffloadBytes);
      // 0 is a threshold (every snapshot offloaded), not an absent one.
      expect(variablesOf(synthService({ snapshotOffloadBytes: 0 }).template, /^Settle worker/)).toHaveProperty(
        environmentVariables.snapshotOffloadBytes,
        '0',
      );
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

    it('gives the sweeper no payload bucket: a wake is small', () => {
      const { template } = synthService();

      expect(variablesOf(template, /^Settle sweeper/)).toHaveProperty(environmentVariables.tableName);
      expect(variablesOf(template, /^Settle sweeper/)).not.toHaveProperty(environmentVariables.bucketName);
      expect(variablesOf(template, /^Settle worker/)).toHaveProperty(environmentVariables.bucketName);
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

    it("gets the settings configFromEnvironment(env, 'api') needs, the callback key, the API URL, the payload bucket and no DLQ", () => {
      const { template, stack, service } = synthService({ logLevel: 'DEBUG' });
      const variables = variablesOf(template, /^Settle API/) as Record<string, unknown>;

      expect(variables).toEqual({
        [environmentVariables.tableName]: { Ref: logicalId(stack, service.table) },
        [environmentVariables.queueUrl]: { Ref: logicalId(stack, service.queue) },
        [environmentVariables.callbackSecretArn]: {
          Ref: logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>),
        },
        [environmentVariables.apiUrl]: stack.resolve(service.apiUrl),
        [environmentVariables.bucketName]: { Ref: logicalId(stack, service.bucket) },
        [environmentVariables.wakeShards]: String(tableDefinition.wakeShards),
        POWERTOOLS_SERVICE_NAME: 'settle',
        POWERTOOLS_METRICS_NAMESPACE: 'Settle',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
      });
      // Deployed, each reference is a string: the API role's settings then read without a complaint.
      const deployed = Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : `<${name}>`]),
      );
      expect(configFromEnvironment(deployed, 'api')).toMatchObject({
        tableName: '<SETTLE_TABLE>',
        queueUrl: '<SETTLE_QUEUE_URL>',
        bucketName: '<SETTLE_BUCKET>',
      });
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
