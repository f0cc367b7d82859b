/**
 * `settle/local`: the local stack — SQS and DynamoDB emulators on 127.0.0.1, the queue, DLQ and table
 * provisioned from the same definitions as the CDK stack, the worker behind a Lambda-like poller, and the
 * timer sweeper — in your process, for integration tests and local tools. `settle dev` runs it from the
 * command line.
 *
 * @example
 * const stack = await startLocalStack({ registry, sqsPort: 0, dynamodbPort: 0 });
 * // stack.env has AWS_ENDPOINT_URL_SQS / _DYNAMODB and the SETTLE_* settings; stack.clients are SDK clients
 * await stack.stop();
 */
export { startLocalStack } from './stack.ts';
export type { LocalStack, LocalStackOptions, StackDependencies, Sweeper } from './stack.ts';
export { consoleLogger, silentLogger } from './log.ts';
export type { LocalLogger } from './log.ts';
