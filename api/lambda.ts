import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { SettleClient } from '../client/settle-client.ts';
import { S3PayloadStore } from '../runtime/aws/s3-payloads.ts';
import { workerFromEnvironment } from '../runtime/aws/worker.ts';
import { configFromEnvironment, environmentVariables } from '../runtime/core/config.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { secretValue } from './callbacks.ts';
import { type ApiHandler, createApiHandler } from './handler.ts';

/** What a Settle Lambda is given: a batch from the events queue (the worker) or an HTTP API request (the API). */
export type SettleLambdaEvent = SQSEvent | APIGatewayProxyEventV2;

export interface SettleLambdaHandler {
  (event: SQSEvent, context: Context): Promise<SQSBatchResponse>;
  (event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2>;
}

/**
 * The Lambda entry point over `registry`, for the worker and the HTTP API alike: the construct runs this one
 * bundle as both functions, each with its own settings and permissions, and each event says which part it is
 * for. Settings come from the environment the construct sets; clients are made once, on first use.
 *
 * @example
 * // worker.ts, given to SettleService as `workerEntry`:
 * export const handler = lambdaHandler(registry);
 */
export function lambdaHandler(registry: MachineRegistry): SettleLambdaHandler {
  const worker = workerFromEnvironment(registry);
  let api: ApiHandler | undefined;
  const handle = async (event: SettleLambdaEvent, context: Context) => {
    if ('Records' in event) return worker(event, context);
    if ('requestContext' in event && 'http' in event.requestContext) {
      api ??= apiFromEnvironment(registry);
      return api(event);
    }
    throw new Error('Settle got an event that is neither an SQS batch nor an HTTP API request: check what invokes this function.');
  };
  return handle as SettleLambdaHandler;
}

function apiFromEnvironment(registry: MachineRegistry, env: NodeJS.ProcessEnv = process.env): ApiHandler {
  const config = configFromEnvironment(env, 'api');
  const secretArn = env[environmentVariables.callbackSecretArn];
  return createApiHandler({
    client: new SettleClient({
      queueUrl: config.queueUrl ?? '',
      deadLetterQueueUrl: config.deadLetterQueueUrl,
      tableName: config.tableName,
      // Large events sent through the API go to the payload bucket; offloaded snapshots are read from it.
      payloads: config.bucketName ? new S3PayloadStore(config.bucketName) : undefined,
      registry,
    }),
    registry,
    callbackKey: () => {
      if (!secretArn) throw new Error(`${environmentVariables.callbackSecretArn} is not set: the construct sets it on the API function.`);
      return secretValue(secretArn);
    },
  });
}
