import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { tableDefinition } from '../../runtime/core/resources.ts';
import { actionsOf, allStatements, grantsOf, logicalId, synthService } from './helpers.ts';

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
