import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role, User } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { apiActions, clientActions, SettleService, type SettleServiceProps, workerBucketActions } from '../../infra/settle-service.ts';
import { payloadBucketDefinition, tableDefinition } from '../../runtime/core/resources.ts';
import {
  actionsOf,
  allStatements,
  bucketArnOf,
  fixtureEntry,
  grantsOf,
  logicalId,
  objectsArnOf,
  skipBundling,
  statementsOf,
  synthService,
} from './helpers.ts';

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
/** A secret's `Ref` is its full ARN. */
const refOf = (id: string) => ({ Ref: id });
const jwt = { issuer: 'https://issuer.example.com/', audience: ['settle-client'] };
const sorted = <T extends { action: string }>(grants: T[]) =>
  [...grants].sort((a, b) => a.action.localeCompare(b.action) || JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** The payload bucket's ARN and its objects' ARNs under `events/` and `snapshots/`. */
function bucketArns(stack: Stack, service: SettleService) {
  const bucket = logicalId(stack, service.bucket);
  return {
    bucket: bucketArnOf(bucket),
    events: objectsArnOf(bucket, payloadBucketDefinition.eventsPrefix),
    snapshots: objectsArnOf(bucket, payloadBucketDefinition.snapshotsPrefix),
  };
}

/** The `s3:ListBucket` statements of a role, conditions and all. */
const listBucketStatements = (template: Template, role: string) =>
  statementsOf(template, role).filter((statement) => actionsOf(statement).includes('s3:ListBucket'));

describe('SettleService', () => {
  describe('permissions', () => {
    /** The worker's grants without the API: the table, the queues, the payload bucket, its logs. */
    const workerGrants = (stack: Stack, service: SettleService) => {
      const table = arnOf(logicalId(stack, service.table));
      const queue = arnOf(logicalId(stack, service.queue));
      const logs = arnOf(logicalId(stack, service.workerLogGroup));
      const { bucket, events, snapshots } = bucketArns(stack, service);
      return [
        { action: 's3:ListBucket', resource: bucket },
        { action: 's3:GetObject', resource: events },
        { action: 's3:PutObject', resource: events },
        { action: 's3:GetObject', resource: snapshots },
        { action: 's3:PutObject', resource: snapshots },
        { action: 's3:PutObjectTagging', resource: snapshots },
        { action: 's3:DeleteObject', resource: snapshots },
        { action: 'dynamodb:GetItem', resource: table },
        { action: 'dynamodb:PutItem', resource: table },
        { action: 'sqs:ReceiveMessage', resource: queue },
        { action: 'sqs:ChangeMessageVisibility', resource: queue },
        { action: 'sqs:DeleteMessage', resource: queue },
        { action: 'sqs:GetQueueAttributes', resource: queue },
        { action: 'sqs:GetQueueUrl', resource: queue },
        { action: 'sqs:SendMessage', resource: arnOf(logicalId(stack, service.deadLetterQueue)) },
        { action: 'logs:CreateLogStream', resource: logs },
        { action: 'logs:PutLogEvents', resource: logs },
      ];
    };

    it('grants the worker exactly: GetItem and PutItem on the table, consume on the queue, send to the DLQ, the payload bucket, its own logs, read the callback key', () => {
      const { template, stack, service } = synthService();
      const secret = refOf(logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>));

      expect(sorted(grantsOf(template, logicalId(stack, service.workerRole)))).toEqual(
        sorted([...workerGrants(stack, service), { action: 'secretsmanager:GetSecretValue', resource: secret }]),
      );
    });

    it('adds exactly GetSecretValue on the one secret to the worker for the API, and nothing without it', () => {
      const withApi = synthService();
      const without = synthService({ api: false });
      const added = grantsOf(withApi.template, logicalId(withApi.stack, withApi.service.workerRole)).filter(
        (grant) =>
          !grantsOf(without.template, logicalId(without.stack, without.service.workerRole)).some((old) => old.action === grant.action),
      );

      expect(added).toEqual([
        {
          action: 'secretsmanager:GetSecretValue',
          resource: refOf(logicalId(withApi.stack, withApi.service.callbackSecret as NonNullable<typeof withApi.service.callbackSecret>)),
        },
      ]);
      expect(sorted(grantsOf(without.template, logicalId(without.stack, without.service.workerRole)))).toEqual(
        sorted(workerGrants(without.stack, without.service)),
      );
    });

    it.each<[string, SettleServiceProps]>([
      ['IAM', {}],
      ['JWT', { api: { jwt } }],
    ])(
      'grants the API function exactly: SendMessage on the queue, GetItem on the table, Query on the list index, the callback key, put events and read snapshots in the payload bucket, its own logs (%s)',
      (_, props) => {
        const { template, stack, service } = synthService(props);
        const table = arnOf(logicalId(stack, service.table));
        const logs = arnOf(logicalId(stack, service.apiLogGroup as NonNullable<typeof service.apiLogGroup>));
        const { bucket, events, snapshots } = bucketArns(stack, service);

        expect(sorted(grantsOf(template, logicalId(stack, service.apiRole as NonNullable<typeof service.apiRole>)))).toEqual(
          sorted([
            { action: 's3:PutObject', resource: events },
            { action: 's3:GetObject', resource: snapshots },
            { action: 's3:ListBucket', resource: bucket },
            { action: 'sqs:SendMessage', resource: arnOf(logicalId(stack, service.queue)) },
            { action: 'dynamodb:GetItem', resource: table },
            { action: 'dynamodb:Query', resource: { 'Fn::Join': ['', [table, `/index/${tableDefinition.listIndex.name}`]] } },
            {
              action: 'secretsmanager:GetSecretValue',
              resource: refOf(logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>)),
            },
            { action: 'logs:CreateLogStream', resource: logs },
            { action: 'logs:PutLogEvents', resource: logs },
          ]),
        );
      },
    );

    it('gives API Gateway invoke on the API function for each route and nothing else', () => {
      const { template, stack, service } = synthService();
      const fn = arnOf(logicalId(stack, service.apiFunction as NonNullable<typeof service.apiFunction>));
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: fn } }));

      expect(
        permissions.map(({ Properties }) => [Properties.Action, Properties.Principal, Properties.SourceArn['Fn::Join'][1].at(-1)]).sort(),
      ).toEqual(
        [
          ['lambda:InvokeFunction', 'apigateway.amazonaws.com', '/*/*/callbacks/{token}'],
          ['lambda:InvokeFunction', 'apigateway.amazonaws.com', '/*/*/callbacks/{token}'],
          ['lambda:InvokeFunction', 'apigateway.amazonaws.com', '/*/*/instances'],
          ['lambda:InvokeFunction', 'apigateway.amazonaws.com', '/*/*/instances/{machine}/{id}'],
          ['lambda:InvokeFunction', 'apigateway.amazonaws.com', '/*/*/instances/{machine}/{id}/events'],
        ].sort(),
      );
    });

    it('grants the sweeper exactly: Query on the due index, send to the events queue, its own logs, and nothing on the payload bucket', () => {
      const { template, stack, service } = synthService();
      const dueIndex = {
        'Fn::Join': ['', [arnOf(logicalId(stack, service.table)), `/index/${tableDefinition.dueIndex.name}`]],
      };
      const logs = arnOf(logicalId(stack, service.sweeperLogGroup));

      expect(sorted(grantsOf(template, logicalId(stack, service.sweeperRole)))).toEqual(
        sorted([
          { action: 'dynamodb:Query', resource: dueIndex },
          { action: 'sqs:SendMessage', resource: arnOf(logicalId(stack, service.queue)) },
          { action: 'logs:CreateLogStream', resource: logs },
          { action: 'logs:PutLogEvents', resource: logs },
        ]),
      );
      const statements = JSON.stringify(statementsOf(template, logicalId(stack, service.sweeperRole)));
      expect(statements).not.toContain('s3:');
      expect(statements).not.toContain(logicalId(stack, service.bucket));
    });

    describe('payload bucket', () => {
      it("names each principal's S3 actions in one place: the worker, the API function, grantClient", () => {
        expect(workerBucketActions).toEqual({
          eventObjects: ['s3:GetObject', 's3:PutObject'],
          snapshotObjects: ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'],
          bucket: ['s3:ListBucket'],
        });
        expect({ eventObjects: apiActions.eventObjects, snapshotObjects: apiActions.snapshotObjects, bucket: apiActions.bucket }).toEqual({
          eventObjects: ['s3:PutObject'],
          snapshotObjects: ['s3:GetObject'],
          bucket: ['s3:ListBucket'],
        });
        expect({
          eventObjects: clientActions.eventObjects,
          snapshotObjects: clientActions.snapshotObjects,
          bucket: clientActions.bucket,
        }).toEqual({
          eventObjects: ['s3:PutObject', 's3:GetObject'],
          snapshotObjects: ['s3:GetObject'],
          bucket: ['s3:ListBucket'],
        });
      });

      it('lets each principal list only the prefixes it reads, so a missing key answers 404: the worker and the client both, the API function snapshots', () => {
        const app = new App({ context: skipBundling });
        const stack = new Stack(app, 'TestStack');
        const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry });
        const operator = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() });
        service.grantClient(operator);
        const template = Template.fromStack(stack);
        const { bucket } = bucketArns(stack, service);
        const listing = (prefixes: string[]) => [
          { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucket, Condition: { StringLike: { 's3:prefix': prefixes } } },
        ];

        expect(listBucketStatements(template, logicalId(stack, service.workerRole))).toEqual(listing(['events/*', 'snapshots/*']));
        expect(listBucketStatements(template, logicalId(stack, service.apiRole as NonNullable<typeof service.apiRole>))).toEqual(
          listing(['snapshots/*']),
        );
        expect(listBucketStatements(template, logicalId(stack, operator))).toEqual(listing(['events/*', 'snapshots/*']));
        expect(listBucketStatements(template, logicalId(stack, service.sweeperRole))).toEqual([]);
      });

      it("grants no principal the whole bucket's objects, and no object action without a prefix", () => {
        const { template, stack, service } = synthService();
        const bucket = logicalId(stack, service.bucket);
        const s3Grants = allStatements(template)
          .filter(({ type, statement }) => type === 'AWS::IAM::Policy' && statement.Effect === 'Allow')
          .flatMap(({ statement }) =>
            actionsOf(statement)
              .filter((a) => a.startsWith('s3:'))
              .map((action) => ({ action, resource: statement.Resource })),
          );

        expect(s3Grants.length).toBeGreaterThan(0);
        for (const { action, resource } of s3Grants) {
          if (action === 's3:ListBucket') expect(resource).toEqual(bucketArnOf(bucket));
          else expect([objectsArnOf(bucket, 'events/'), objectsArnOf(bucket, 'snapshots/')]).toContainEqual(resource);
        }
      });
    });

    describe('grantClient', () => {
      /** A service and a user role in one stack, the role granted what the CLI and SettleClient need. */
      function granted() {
        const app = new App({ context: skipBundling });
        const stack = new Stack(app, 'TestStack');
        const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry });
        const role = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() });
        const grant = service.grantClient(role);
        return { stack, service, role, grant, template: Template.fromStack(stack) };
      }

      it('grants exactly: send and attributes on the queue, GetItem on the table, Query on the list index, read and drop dead letters, put and read payloads', () => {
        const { template, stack, service, role } = granted();
        const table = arnOf(logicalId(stack, service.table));
        const queue = arnOf(logicalId(stack, service.queue));
        const dlq = arnOf(logicalId(stack, service.deadLetterQueue));
        const listIndex = { 'Fn::Join': ['', [table, `/index/${tableDefinition.listIndex.name}`]] };
        const { bucket, events, snapshots } = bucketArns(stack, service);

        expect(sorted(grantsOf(template, logicalId(stack, role)))).toEqual(
          sorted([
            { action: 's3:PutObject', resource: events },
            { action: 's3:GetObject', resource: events },
            { action: 's3:GetObject', resource: snapshots },
            { action: 's3:ListBucket', resource: bucket },
            { action: 'sqs:SendMessage', resource: queue },
            { action: 'sqs:GetQueueAttributes', resource: queue },
            { action: 'dynamodb:GetItem', resource: table },
            { action: 'dynamodb:Query', resource: listIndex },
            { action: 'sqs:ReceiveMessage', resource: dlq },
            { action: 'sqs:DeleteMessage', resource: dlq },
            { action: 'sqs:ChangeMessageVisibility', resource: dlq },
            { action: 'sqs:GetQueueAttributes', resource: dlq },
            { action: 'cloudformation:DescribeStacks', resource: { Ref: 'AWS::StackId' } },
            {
              action: 'secretsmanager:GetSecretValue',
              resource: refOf(logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>)),
            },
          ]),
        );
      });

      it('grants no secret when the service has no API', () => {
        const app = new App({ context: skipBundling });
        const stack = new Stack(app, 'TestStack');
        const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry, api: false });
        const role = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() });

        expect(service.grantClient(role).success).toBe(true);
        const actions = grantsOf(Template.fromStack(stack), logicalId(stack, role)).map(({ action }) => action);
        expect(actions).not.toContain('secretsmanager:GetSecretValue');
        expect(actions).toHaveLength(13);
      });

      it('grants no wildcard action, no index/* and no KMS (neither queue nor table nor bucket uses a customer-managed key)', () => {
        const { template, stack, role } = granted();
        const grants = grantsOf(template, logicalId(stack, role));

        expect(grants.filter(({ action }) => action.includes('*'))).toEqual([]);
        expect(grants.filter(({ action }) => action.startsWith('kms:'))).toEqual([]);
        expect(JSON.stringify(grants)).not.toContain('index/*');
        expect(JSON.stringify(grants)).not.toContain(`index/${tableDefinition.dueIndex.name}`);
        template.resourceCountIs('AWS::KMS::Key', 0);
        template.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: Match.absent(), SqsManagedSseEnabled: true });
        template.allResourcesProperties('AWS::S3::Bucket', {
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        });
      });

      it('changes no function role, and returns a grant that applied to the grantee', () => {
        const { template, stack, service, grant } = granted();
        const alone = synthService();

        expect(grant.success).toBe(true);
        for (const role of ['workerRole', 'sweeperRole', 'apiRole'] as const) {
          const granted = service[role];
          const plain = alone.service[role];
          if (!granted || !plain) throw new Error(`no ${role}`);
          expect(grantsOf(template, logicalId(stack, granted))).toEqual(grantsOf(alone.template, logicalId(alone.stack, plain)));
        }
      });

      it('grants an IAM user the same', () => {
        const app = new App({ context: skipBundling });
        const stack = new Stack(app, 'TestStack');
        const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry });
        const user = new User(stack, 'Developer');

        service.grantClient(user);

        const statements = allStatements(Template.fromStack(stack)).filter(({ type }) => type === 'AWS::IAM::Policy');
        const userActions = statements
          .filter(({ resource }) => resource.startsWith('DeveloperDefaultPolicy'))
          .flatMap(({ statement }) => actionsOf(statement));
        expect(userActions.sort()).toEqual(
          [
            'cloudformation:DescribeStacks',
            'dynamodb:GetItem',
            'dynamodb:Query',
            's3:GetObject',
            's3:GetObject',
            's3:ListBucket',
            's3:PutObject',
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueAttributes',
            'sqs:ReceiveMessage',
            'sqs:SendMessage',
            'secretsmanager:GetSecretValue',
          ].sort(),
        );
      });
    });

    describe('grantInvokeApi', () => {
      function granted(props: SettleServiceProps = {}) {
        const app = new App({ context: skipBundling });
        const stack = new Stack(app, 'TestStack');
        const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry, ...props });
        const role = new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() });
        return { app, stack, service, role };
      }

      it('grants exactly execute-api:Invoke on the three IAM-authorised routes, any stage, a wildcard per path parameter', () => {
        const { stack, service, role } = granted();
        const grant = service.grantInvokeApi(role);
        const api = logicalId(stack, service.httpApi as NonNullable<typeof service.httpApi>);
        const routeArn = (suffix: string) => ({
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':execute-api:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':',
              { Ref: api },
              suffix,
            ],
          ],
        });

        expect(grant.success).toBe(true);
        expect(grantsOf(Template.fromStack(stack), logicalId(stack, role))).toEqual([
          {
            action: 'execute-api:Invoke',
            resource: [routeArn('/*/POST/instances/*/*/events'), routeArn('/*/GET/instances/*/*'), routeArn('/*/GET/instances')],
          },
        ]);
        expect(JSON.stringify(grantsOf(Template.fromStack(stack), logicalId(stack, role)))).not.toContain('callbacks');
      });

      it('refuses with a JWT authoriser or without an API, naming why', () => {
        const withJwt = granted({ api: { jwt } });
        expect(() => withJwt.service.grantInvokeApi(withJwt.role)).toThrow(
          /JWT authoriser \(api\.jwt\): callers need a token from https:\/\/issuer\.example\.com\//,
        );
        const without = granted({ api: false });
        expect(() => without.service.grantInvokeApi(without.role)).toThrow(/has no HTTP API \(api: false\)/);
      });
    });

    it('attaches no managed policy to any role: the worker, the sweeper and the API function each have their own', () => {
      const { template } = synthService();

      template.resourceCountIs('AWS::IAM::Role', 3);
      synthService({ api: false }).template.resourceCountIs('AWS::IAM::Role', 2);
      template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    });

    it.each<[string, SettleServiceProps]>([
      ['the defaults', {}],
      ['tracing on', { tracing: true }],
      ['a JWT authoriser', { api: { jwt } }],
      ['no API', { api: false }],
    ])('allows no wildcard action anywhere in the template (%s)', (_, props) => {
      const statements = allStatements(synthService(props).template);
      expect(statements.length).toBeGreaterThan(0);

      const wildcardAllows = statements.filter(
        ({ statement }) => statement.Effect === 'Allow' && actionsOf(statement).some((a) => a.includes('*')),
      );
      expect(wildcardAllows).toEqual([]);

      // The only wildcard actions are the queues' and the buckets' deny-without-TLS statements (enforceSSL), and the
      // buckets' deny-below-TLS-1.2 ones.
      const wildcardDenies = statements.filter(
        ({ statement }) => statement.Effect === 'Deny' && actionsOf(statement).some((a) => a.includes('*')),
      );
      const withoutTls = { Bool: { 'aws:SecureTransport': 'false' } };
      const belowTls12 = { NumericLessThan: { 's3:TlsVersion': 1.2 } };
      const bucketDenies = [
        { type: 'AWS::S3::BucketPolicy', action: 's3:*', condition: withoutTls },
        { type: 'AWS::S3::BucketPolicy', action: 's3:*', condition: belowTls12 },
      ];
      const byJson = (list: unknown[]) => list.map((one) => JSON.stringify(one)).sort();
      expect(
        byJson(wildcardDenies.map(({ type, statement }) => ({ type, action: statement.Action, condition: statement.Condition }))),
      ).toEqual(
        byJson([
          { type: 'AWS::SQS::QueuePolicy', action: 'sqs:*', condition: withoutTls },
          { type: 'AWS::SQS::QueuePolicy', action: 'sqs:*', condition: withoutTls },
          ...bucketDenies, // the payload bucket
          ...bucketDenies, // its access-log bucket
        ]),
      );
    });

    it('grants X-Ray writes only when tracing is on', () => {
      const xrayActions = (props: { tracing?: boolean }) =>
        allStatements(synthService(props).template)
          .flatMap(({ statement }) => actionsOf(statement))
          .filter((action) => action.startsWith('xray:'))
          .sort();

      expect(xrayActions({})).toEqual([]);
      // One pair for each function: the worker, the sweeper, the API function.
      expect(xrayActions({ tracing: true })).toEqual([
        'xray:PutTelemetryRecords',
        'xray:PutTelemetryRecords',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
        'xray:PutTraceSegments',
        'xray:PutTraceSegments',
      ]);
    });
  });
});
