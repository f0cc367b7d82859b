import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role, User } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { SettleService } from '../../infra/settle-service.ts';
import { tableDefinition } from '../../runtime/core/resources.ts';
import { actionsOf, allStatements, fixtureEntry, grantsOf, logicalId, skipBundling, synthService } from './helpers.ts';

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const sorted = <T extends { action: string }>(grants: T[]) => [...grants].sort((a, b) => a.action.localeCompare(b.action));

describe('SettleService', () => {
  describe('permissions', () => {
    it('grants the worker exactly: GetItem and PutItem on the table, consume on the queue, send to the DLQ, its own logs', () => {
      const { template, stack, service } = synthService();
      const table = arnOf(logicalId(stack, service.table));
      const queue = arnOf(logicalId(stack, service.queue));
      const dlq = arnOf(logicalId(stack, service.deadLetterQueue));
      const logs = arnOf(logicalId(stack, service.workerLogGroup));

      expect(sorted(grantsOf(template, logicalId(stack, service.workerRole)))).toEqual(
        sorted([
          { action: 'dynamodb:GetItem', resource: table },
          { action: 'dynamodb:PutItem', resource: table },
          { action: 'sqs:ReceiveMessage', resource: queue },
          { action: 'sqs:ChangeMessageVisibility', resource: queue },
          { action: 'sqs:DeleteMessage', resource: queue },
          { action: 'sqs:GetQueueAttributes', resource: queue },
          { action: 'sqs:GetQueueUrl', resource: queue },
          { action: 'sqs:SendMessage', resource: dlq },
          { action: 'logs:CreateLogStream', resource: logs },
          { action: 'logs:PutLogEvents', resource: logs },
        ]),
      );
    });

    it('grants the sweeper exactly: Query on the due index, send to the events queue, its own logs', () => {
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

      it('grants exactly: send and attributes on the queue, GetItem on the table, Query on the list index, read and drop dead letters', () => {
        const { template, stack, service, role } = granted();
        const table = arnOf(logicalId(stack, service.table));
        const queue = arnOf(logicalId(stack, service.queue));
        const dlq = arnOf(logicalId(stack, service.deadLetterQueue));
        const listIndex = { 'Fn::Join': ['', [table, `/index/${tableDefinition.listIndex.name}`]] };

        expect(sorted(grantsOf(template, logicalId(stack, role)))).toEqual(
          sorted([
            { action: 'sqs:SendMessage', resource: queue },
            { action: 'sqs:GetQueueAttributes', resource: queue },
            { action: 'dynamodb:GetItem', resource: table },
            { action: 'dynamodb:Query', resource: listIndex },
            { action: 'sqs:ReceiveMessage', resource: dlq },
            { action: 'sqs:DeleteMessage', resource: dlq },
            { action: 'sqs:ChangeMessageVisibility', resource: dlq },
            { action: 'sqs:GetQueueAttributes', resource: dlq },
            { action: 'cloudformation:DescribeStacks', resource: { Ref: 'AWS::StackId' } },
          ]),
        );
      });

      it('grants no wildcard action, no index/* and no KMS (neither queue nor table uses a customer-managed key)', () => {
        const { template, stack, role } = granted();
        const grants = grantsOf(template, logicalId(stack, role));

        expect(grants.filter(({ action }) => action.includes('*'))).toEqual([]);
        expect(grants.filter(({ action }) => action.startsWith('kms:'))).toEqual([]);
        expect(JSON.stringify(grants)).not.toContain('index/*');
        expect(JSON.stringify(grants)).not.toContain(`index/${tableDefinition.dueIndex.name}`);
        template.resourceCountIs('AWS::KMS::Key', 0);
        template.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: Match.absent(), SqsManagedSseEnabled: true });
      });

      it('changes neither function role, and returns a grant that applied to the grantee', () => {
        const { template, stack, service, grant } = granted();
        const alone = synthService();

        expect(grant.success).toBe(true);
        for (const role of ['workerRole', 'sweeperRole'] as const) {
          expect(grantsOf(template, logicalId(stack, service[role]))).toEqual(
            grantsOf(alone.template, logicalId(alone.stack, alone.service[role])),
          );
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
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueAttributes',
            'sqs:ReceiveMessage',
            'sqs:SendMessage',
          ].sort(),
        );
      });
    });

    it('attaches no managed policy to either role', () => {
      const { template } = synthService();

      template.resourceCountIs('AWS::IAM::Role', 2);
      template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    });

    it.each([
      ['the defaults', {}],
      ['tracing on', { tracing: true }],
    ])('allows no wildcard action anywhere in the template (%s)', (_, props) => {
      const statements = allStatements(synthService(props).template);
      expect(statements.length).toBeGreaterThan(0);

      const wildcardAllows = statements.filter(
        ({ statement }) => statement.Effect === 'Allow' && actionsOf(statement).some((a) => a.includes('*')),
      );
      expect(wildcardAllows).toEqual([]);

      // The only wildcard actions are the queues' deny-without-TLS statements (enforceSSL).
      const wildcardDenies = statements.filter(
        ({ statement }) => statement.Effect === 'Deny' && actionsOf(statement).some((a) => a.includes('*')),
      );
      expect(wildcardDenies.map(({ type, statement }) => ({ type, action: statement.Action, condition: statement.Condition }))).toEqual([
        { type: 'AWS::SQS::QueuePolicy', action: 'sqs:*', condition: { Bool: { 'aws:SecureTransport': 'false' } } },
        { type: 'AWS::SQS::QueuePolicy', action: 'sqs:*', condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      ]);
    });

    it('grants X-Ray writes only when tracing is on', () => {
      const xrayActions = (props: { tracing?: boolean }) =>
        allStatements(synthService(props).template)
          .flatMap(({ statement }) => actionsOf(statement))
          .filter((action) => action.startsWith('xray:'))
          .sort();

      expect(xrayActions({})).toEqual([]);
      expect(xrayActions({ tracing: true })).toEqual([
        'xray:PutTelemetryRecords',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
        'xray:PutTraceSegments',
      ]);
    });
  });
});
