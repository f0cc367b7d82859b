import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
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
  /** S3 on the SQS emulator's port (fauxqs serves both), addressing buckets by path. */
  readonly s3: S3Client;
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
  const s3 = new S3Client({ ...common, endpoint: endpoints.sqsEndpoint, forcePathStyle: true });
  return {
    sqs,
    dynamodb,
    document,
    s3,
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
      s3.destroy();
    },
  };
}
