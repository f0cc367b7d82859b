import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SettleService, type SettleServiceProps } from './settle-service.ts';

export interface SettleStackProps extends StackProps {
  /**
   * Passed to the {@link SettleService}.
   * @default the construct's defaults, with this repository's example worker
   */
  readonly service?: SettleServiceProps;
}

/** The worker entry over this repository's example machines. */
export const exampleWorkerEntry = fileURLToPath(new URL('../functions/worker.ts', import.meta.url));

/** Example instance key the CLI outputs use; any `<machine>/<instanceId>` works. */
export const exampleInstanceKey = 'counter/c1';

/**
 * This repository's example app: Settle as one stack over machines/. Besides the construct's outputs (`SettleQueueUrl`,
 * `SettleDeadLetterQueueUrl`, `SettleTableName`, `SettleRegion`, `SettleBucketName`, and for its HTTP API `SettleApiUrl`
 * and `SettleCallbackSecretArn`), ready AWS CLI commands to copy and paste.
 */
export class SettleStack extends Stack {
  public readonly service: SettleService;

  constructor(scope: Construct, id: string, props: SettleStackProps = {}) {
    super(scope, id, {
      description: 'Settle: durable XState machines on SQS FIFO, DynamoDB and Lambda',
      ...props,
    });
    const worker = props.service?.registry === undefined ? { workerEntry: exampleWorkerEntry } : {};
    this.service = new SettleService(this, 'Settle', { ...worker, ...props.service });
    const { queue, deadLetterQueue, table } = this.service;

    // The construct outputs the queue URLs, the table name and the region (SettleQueueUrl, …); these commands use the same values.
    new CfnOutput(this, 'SendEventCommand', {
      description: 'Sends an event to an instance; SQS drops a repeated deduplication id within 5 minutes',
      value:
        `aws sqs send-message --region ${Aws.REGION} --queue-url ${queue.queueUrl} ` +
        `--message-group-id ${exampleInstanceKey} --message-deduplication-id $(date +%s%N) ` +
        `--message-body '{"type":"COUNT"}'`,
    });
    new CfnOutput(this, 'GetInstanceCommand', {
      description: 'Reads an instance whole: state value, status, outcome, timers, history',
      value:
        `aws dynamodb get-item --region ${Aws.REGION} --table-name ${table.tableName} --consistent-read ` +
        `--key '{"pk":{"S":"${exampleInstanceKey}"}}'`,
    });
    new CfnOutput(this, 'ReceiveDeadLettersCommand', {
      description: 'Peeks at dead letters with their settle-* reason attributes (they return after the visibility timeout)',
      value:
        `aws sqs receive-message --region ${Aws.REGION} --queue-url ${deadLetterQueue.queueUrl} ` +
        '--max-number-of-messages 10 --visibility-timeout 0 --message-attribute-names All --attribute-names All',
    });
  }
}
