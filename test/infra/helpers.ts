import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SettleService, type SettleServiceProps } from '../../infra/settle-service.ts';

/** The repository root. */
export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Template tests use a stand-in entry: with bundling skipped the entry only has to exist, and the
 * real `functions/worker.ts` and `functions/sweeper.ts` are covered by the synth test.
 */
export const fixtureEntry = fileURLToPath(new URL('./fixtures/handler.ts', import.meta.url));

/** Context that makes synthesis skip bundling: template tests need no esbuild run. */
export const skipBundling = { 'aws:cdk:bundling-stacks': [] };

/** A `SettleService` in a fresh app and stack, with its synthesized template. */
export function synthService(props: SettleServiceProps = {}) {
  const app = new App({ context: skipBundling });
  const stack = new Stack(app, 'TestStack');
  const service = new SettleService(stack, 'Settle', { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry, ...props });
  return { app, stack, service, template: Template.fromStack(stack) };
}

/** The logical id CloudFormation gets for a construct. */
export function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
}

export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: unknown;
  readonly Principal?: unknown;
}

/** Every IAM statement in the template with the resource it sits on: identity and resource policies alike. */
export function allStatements(template: Template): { resource: string; type: string; statement: Statement }[] {
  const found: { resource: string; type: string; statement: Statement }[] = [];
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  const collect = (resource: string, type: string, document: unknown) => {
    const statements = (document as { Statement?: Statement[] } | undefined)?.Statement ?? [];
    for (const statement of statements) found.push({ resource, type, statement });
  };
  for (const [id, { Type, Properties = {} }] of Object.entries(resources)) {
    collect(id, Type, Properties.PolicyDocument);
    collect(id, Type, Properties.AssumeRolePolicyDocument);
    for (const policy of (Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
      collect(id, Type, policy.PolicyDocument);
    }
  }
  return found;
}

export const actionsOf = (statement: Statement): string[] => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);

/** Every statement of the policies attached to a role, conditions and all. */
export function statementsOf(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: roleLogicalId }] },
  }) as Record<string, { Properties: { PolicyDocument: { Statement: Statement[] } } }>;
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
}

/** Each Allow statement of the policies attached to a role, as `action → resource` pairs. */
export function grantsOf(template: Template, roleLogicalId: string): { action: string; resource: unknown }[] {
  return statementsOf(template, roleLogicalId)
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => actionsOf(s).map((action) => ({ action, resource: s.Resource })));
}

/** The payload bucket's ARN and the ARN of its objects under a prefix, as the template has them. */
export const bucketArnOf = (bucketLogicalId: string) => ({ 'Fn::GetAtt': [bucketLogicalId, 'Arn'] });
export const objectsArnOf = (bucketLogicalId: string, prefix: string) => ({
  'Fn::Join': ['', [bucketArnOf(bucketLogicalId), `/${prefix}*`]],
});
