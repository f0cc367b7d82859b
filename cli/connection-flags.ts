import type { Command } from 'commander';
import { type ConnectionOptions, connectionFlags } from '../client/connection.ts';

/**
 * The flags that name a stack (client/connection.ts, `resolveConnection`), the same on every command that reads or
 * writes one: `--stack`, `--output-prefix`, `--queue-url`, `--dlq-url`, `--table`, `--bucket`, `--region`.
 * `scope` prefixes each description, e.g. 'for --instance: '.
 */
export function withConnectionFlags(command: Command, scope = ''): Command {
  return command
    .option(
      `${connectionFlags.stack} <name>`,
      `${scope}a deployed stack: its outputs name the queues, the table and the bucket (env SETTLE_STACK)`,
    )
    .option(`${connectionFlags.outputPrefix} <prefix>`, `${scope}the stack's Settle outputs' prefix (the construct's outputPrefix)`)
    .option(`${connectionFlags.queueUrl} <url>`, `${scope}the events queue (env SETTLE_QUEUE_URL)`)
    .option(`${connectionFlags.deadLetterQueueUrl} <url>`, `${scope}the dead-letter queue (env SETTLE_DLQ_URL)`)
    .option(`${connectionFlags.tableName} <name>`, `${scope}the instance table (env SETTLE_TABLE)`)
    .option(
      `${connectionFlags.bucketName} <name>`,
      `${scope}the payload bucket: large events, offloaded snapshots (env SETTLE_BUCKET; a stack output gives it)`,
    )
    .option(`${connectionFlags.region} <region>`, `${scope}the AWS region (env AWS_REGION)`);
}

/** The {@link ConnectionOptions} a command's parsed flags give, those not given left out. */
export function connectionOptionsOf(flags: ConnectionOptions): ConnectionOptions {
  const { stack, outputPrefix, queueUrl, deadLetterQueueUrl, tableName, bucketName, region } = flags;
  return Object.fromEntries(
    Object.entries({ stack, outputPrefix, queueUrl, deadLetterQueueUrl, tableName, bucketName, region }).filter(
      ([, value]) => value !== undefined,
    ),
  );
}
