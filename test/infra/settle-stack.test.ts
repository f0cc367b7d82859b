import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { exampleInstanceKey, SettleStack } from '../../infra/settle-stack.ts';
import { stackOutputKeys } from '../../runtime/core/resources.ts';
import { fixtureEntry, logicalId, repositoryRoot, skipBundling } from './helpers.ts';

function synthStack() {
  const app = new App({ context: skipBundling });
  const stack = new SettleStack(app, 'SettleStack', { service: { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry } });
  return { stack, template: Template.fromStack(stack) };
}

/** Renders an output's `Fn::Join` with placeholders, as the shell would see it after deploy. */
function rendered(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(rendered).join(join[0]);
  const ref = (value as { Ref?: string }).Ref;
  if (ref) return `<${ref}>`;
  return `<${JSON.stringify(value)}>`;
}

describe('SettleStack', () => {
  it("outputs the construct's queue URL, DLQ URL, table name, region, bucket name, API URL and callback secret, and no copies of them", () => {
    const { template, stack } = synthStack();
    const { queue, deadLetterQueue, table } = stack.service;

    template.hasOutput('SettleQueueUrl', { Value: { Ref: logicalId(stack, queue) } });
    template.hasOutput('SettleDeadLetterQueueUrl', { Value: { Ref: logicalId(stack, deadLetterQueue) } });
    template.hasOutput('SettleTableName', { Value: { Ref: logicalId(stack, table) } });
    template.hasOutput('SettleRegion', { Value: { Ref: 'AWS::Region' } });
    template.hasOutput('SettleBucketName', { Value: { Ref: logicalId(stack, stack.service.bucket) } });
    template.hasOutput('SettleApiUrl', { Value: stack.resolve(stack.service.apiUrl) });
    template.hasOutput('SettleCallbackSecretArn', {
      Value: { Ref: logicalId(stack, stack.service.callbackSecret as NonNullable<typeof stack.service.callbackSecret>) },
    });
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      ['GetInstanceCommand', 'ReceiveDeadLettersCommand', 'SendEventCommand', ...Object.values(stackOutputKeys())].sort(),
    );
  });

  it("points the example commands at the construct's resources", () => {
    const { template, stack } = synthStack();
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(rendered(outputs.SendEventCommand?.Value)).toContain(`--queue-url <${logicalId(stack, stack.service.queue)}>`);
    expect(rendered(outputs.GetInstanceCommand?.Value)).toContain(`--table-name <${logicalId(stack, stack.service.table)}>`);
    expect(rendered(outputs.ReceiveDeadLettersCommand?.Value)).toContain(
      `--queue-url <${logicalId(stack, stack.service.deadLetterQueue)}>`,
    );
  });

  it('outputs a ready AWS CLI command that sends an event with a group and a deduplication id', () => {
    const { template, stack } = synthStack();
    const outputs = template.findOutputs('SendEventCommand');

    expect(rendered(outputs.SendEventCommand?.Value)).toBe(
      `aws sqs send-message --region <AWS::Region> --queue-url <${logicalId(stack, stack.service.queue)}> ` +
        `--message-group-id ${exampleInstanceKey} --message-deduplication-id $(date +%s%N) --message-body '{"type":"COUNT"}'`,
    );
  });

  it('outputs a ready AWS CLI command that reads an instance item', () => {
    const { template, stack } = synthStack();
    const outputs = template.findOutputs('GetInstanceCommand');

    expect(rendered(outputs.GetInstanceCommand?.Value)).toBe(
      `aws dynamodb get-item --region <AWS::Region> --table-name <${logicalId(stack, stack.service.table)}> --consistent-read ` +
        `--key '{"pk":{"S":"${exampleInstanceKey}"}}'`,
    );
  });

  it('outputs a ready AWS CLI command that peeks at dead letters with their reasons', () => {
    const { template } = synthStack();

    expect(rendered(template.findOutputs('ReceiveDeadLettersCommand').ReceiveDeadLettersCommand?.Value)).toMatch(
      /^aws sqs receive-message .*--message-attribute-names All/,
    );
  });

  it('is the one stack of the app that cdk.json runs', () => {
    const cdkJson = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8'));
    const app = readFileSync(join(repositoryRoot, 'infra/app.ts'), 'utf8');

    expect(cdkJson.app).toBe('npx tsx infra/app.ts');
    expect(app.match(/new SettleStack\(/g)).toHaveLength(1);
  });
});
