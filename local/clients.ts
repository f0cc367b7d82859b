import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localCredentials, localRegion } from './defaults.ts';

export { localCredentials };

export interface LocalEndpoints {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
}

export interface LocalClients {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** What the worker and the sweeper take: plain JS values, `undefined` removed as on AWS. */
  readonly document: DynamoDBDocumentClient;
  /** Closes their sockets. */
  destroy(): void;
}

/**
 * SDK clients with the endpoints given explicitly, so they never read the environment and never
 * follow a queue URL's host (SDK v3's `useQueueUrlAsEndpoint`) away from the emulator.
 */
export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const common = { region: localRegion, credentials: localCredentials, maxAttempts: 3 };
  const sqs = new SQSClient({ ...common, endpoint: endpoints.sqsEndpoint, useQueueUrlAsEndpoint: false });
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodbEndpoint });
  const document = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  return {
    sqs,
    dynamodb,
    document,
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}
