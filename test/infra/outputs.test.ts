import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SettleService } from '../../infra/settle-service.ts';
import { defaultOutputPrefix, stackOutputKeys } from '../../runtime/core/resources.ts';
import { fixtureEntry, logicalId, repositoryRoot, skipBundling, synthService } from './helpers.ts';

const entries = { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry };

/** The template's outputs as key → value. */
function outputsOf(template: Template): Record<string, unknown> {
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
  return Object.fromEntries(Object.entries(outputs).map(([key, { Value }]) => [key, Value]));
}

describe('SettleService', () => {
  describe('stack outputs', () => {
    /** The API's `$default` stage URL: `https://<api id>.execute-api.<region>.<suffix>/`. */
    const apiUrlOf = (stack: Stack, service: SettleService) => ({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: logicalId(stack, service.httpApi as NonNullable<typeof service.httpApi>) },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/',
        ],
      ],
    });

    it('outputs the queue URL, the DLQ URL, the table name, the region, the bucket name, the API URL and the callback secret under fixed keys', () => {
      const { template, stack, service } = synthService();

      expect(outputsOf(template)).toEqual({
        SettleQueueUrl: { Ref: logicalId(stack, service.queue) },
        SettleDeadLetterQueueUrl: { Ref: logicalId(stack, service.deadLetterQueue) },
        SettleTableName: { Ref: logicalId(stack, service.table) },
        SettleRegion: { Ref: 'AWS::Region' },
        SettleBucketName: { Ref: logicalId(stack, service.bucket) },
        SettleApiUrl: apiUrlOf(stack, service),
        SettleCallbackSecretArn: { Ref: logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>) },
      });
      expect(stack.resolve(service.apiUrl)).toEqual(apiUrlOf(stack, service));
    });

    it('describes the bucket output: what the payload bucket holds', () => {
      const { template } = synthService();

      template.hasOutput('SettleBucketName', {
        Description: 'Settle: the payload bucket (events too large for SQS, snapshots too large for an item, large dead letters)',
      });
    });

    it('outputs neither the API URL nor the callback secret without the API, and the bucket name still', () => {
      const { template, service } = synthService({ api: false });

      expect(Object.keys(outputsOf(template)).sort()).toEqual([
        'SettleBucketName',
        'SettleDeadLetterQueueUrl',
        'SettleQueueUrl',
        'SettleRegion',
        'SettleTableName',
      ]);
      expect(service.outputs.apiUrl).toBeUndefined();
      expect(service.outputs.callbackSecretArn).toBeUndefined();
    });

    it('uses the keys a CLI gets from stackOutputKeys, with Settle as the default prefix', () => {
      const { template, stack, service } = synthService();
      const keys = stackOutputKeys();

      expect(defaultOutputPrefix).toBe('Settle');
      expect(service.settings.outputPrefix).toBe(defaultOutputPrefix);
      expect(Object.keys(outputsOf(template)).sort()).toEqual(Object.values(keys).sort());
      expect(Object.values(service.outputs).map((output) => stack.resolve(output.logicalId))).toEqual([
        keys.queueUrl,
        keys.deadLetterQueueUrl,
        keys.tableName,
        keys.region,
        keys.bucketName,
        keys.apiUrl,
        keys.callbackSecretArn,
      ]);
    });

    it('takes another prefix from outputPrefix', () => {
      const { template, stack, service } = synthService({ outputPrefix: 'Billing2' });

      expect(outputsOf(template)).toEqual({
        Billing2QueueUrl: { Ref: logicalId(stack, service.queue) },
        Billing2DeadLetterQueueUrl: { Ref: logicalId(stack, service.deadLetterQueue) },
        Billing2TableName: { Ref: logicalId(stack, service.table) },
        Billing2Region: { Ref: 'AWS::Region' },
        Billing2BucketName: { Ref: logicalId(stack, service.bucket) },
        Billing2ApiUrl: apiUrlOf(stack, service),
        Billing2CallbackSecretArn: { Ref: logicalId(stack, service.callbackSecret as NonNullable<typeof service.callbackSecret>) },
      });
      expect(stackOutputKeys('Billing2').queueUrl).toBe('Billing2QueueUrl');
      expect(stackOutputKeys('Billing2').bucketName).toBe('Billing2BucketName');
    });

    it('lets two services live in one stack, each with its own prefix and its own resources', () => {
      const app = new App({ context: skipBundling });
      const stack = new Stack(app, 'TwoServices');
      const orders = new SettleService(stack, 'Orders', entries);
      const billing = new SettleService(stack, 'Billing', { ...entries, outputPrefix: 'Billing' });

      const outputs = outputsOf(Template.fromStack(stack));

      expect(Object.keys(outputs)).toHaveLength(14);
      expect(outputs.SettleQueueUrl).toEqual({ Ref: logicalId(stack, orders.queue) });
      expect(outputs.BillingQueueUrl).toEqual({ Ref: logicalId(stack, billing.queue) });
      expect(outputs.SettleTableName).toEqual({ Ref: logicalId(stack, orders.table) });
      expect(outputs.BillingTableName).toEqual({ Ref: logicalId(stack, billing.table) });
      expect(outputs.SettleApiUrl).toEqual(apiUrlOf(stack, orders));
      expect(outputs.BillingApiUrl).toEqual(apiUrlOf(stack, billing));
      expect(outputs.SettleBucketName).toEqual({ Ref: logicalId(stack, orders.bucket) });
      expect(outputs.BillingBucketName).toEqual({ Ref: logicalId(stack, billing.bucket) });
      expect(logicalId(stack, orders.bucket)).not.toBe(logicalId(stack, billing.bucket));
    });

    it('refuses a second service with the same prefix in one stack, naming the fix, before adding anything', () => {
      const app = new App({ context: skipBundling });
      const stack = new Stack(app, 'TwoServices');
      new SettleService(stack, 'Orders', entries);
      const before = stack.node.findAll().length;

      expect(() => new SettleService(stack, 'Billing', entries)).toThrow(
        /TwoServices\/Orders already outputs SettleQueueUrl .*give each service in one stack its own outputPrefix/,
      );
      expect(stack.node.findAll()).toHaveLength(before);
    });

    it('allows the same prefix in two stacks', () => {
      const app = new App({ context: skipBundling });
      new SettleService(new Stack(app, 'One'), 'Settle', entries);

      expect(() => new SettleService(new Stack(app, 'Two'), 'Settle', entries)).not.toThrow();
    });

    it.each(['', 'my-prefix', 'Settle_2', 'Sêttle', 'a'.repeat(201)])('rejects the output prefix %j', (prefix) => {
      expect(() => synthService({ outputPrefix: prefix })).toThrow(/outputPrefix must be 1 to 200 letters or digits/);
      expect(() => stackOutputKeys(prefix)).toThrow(RangeError);
    });

    it('keeps the key names where a CLI can import them without aws-cdk-lib: resources.ts imports nothing', () => {
      const source = readFileSync(join(repositoryRoot, 'runtime/core/resources.ts'), 'utf8');

      expect(source).not.toMatch(/^\s*import\s/m);
      expect(source).not.toMatch(/\brequire\(/);
    });
  });
});
