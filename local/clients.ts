import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localCredentials, localRegion } from './defaults.ts';
import { type Dispatch, InProcessHandler } from './in-process.ts';

export { localCredentials };

export interface LocalEndpoints {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** When the emulators run in this process: their in-process dispatchers (./in-process.ts). */
  readonly sqsDispatch?: Dispatch | undefined;
  readonly dynamodbDispatch?: Dispatch | undefined;
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

interface SignableRequest {
  headers: Record<string, string>;
}

interface SigningOptions {
  readonly signingDate?: Date;
  readonly signingRegion?: string;
  readonly signingService?: string;
}

/**
 * The emulators read the Authorization header's shape (dynalite requires one, fauxqs takes the region from
 * its credential scope) but check no signature: this writes a well-formed one without hashing anything.
 */
export const localSigner = {
  sign: async <R extends SignableRequest>(request: R, options?: SigningOptions): Promise<R> => {
    const date = amzDate(options?.signingDate?.getTime() ?? Date.now());
    const region = options?.signingRegion ?? localRegion;
    const service = options?.signingService ?? 'local';
    if (date !== lastSignature.date || region !== lastSignature.region || service !== lastSignature.service) {
      lastSignature = {
        date,
        region,
        service,
        authorization:
          `AWS4-HMAC-SHA256 Credential=${localCredentials.accessKeyId}/${date.slice(0, 8)}/${region}/${service}/aws4_request, ` +
          `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
      };
    }
    request.headers['x-amz-date'] = date;
    request.headers.authorization = lastSignature.authorization;
    return request;
  },
};

/** The header of the last signature: every request of one second, region and service carries the same. */
let lastSignature = { date: '', region: '', service: '', authorization: '' };
let lastDate = { second: Number.NaN, text: '' };

/** `20261130T120454Z`, formatted once a second. */
function amzDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastDate.second) lastDate = { second, text: new Date(second * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '') };
  return lastDate.text;
}

/**
 * SDK clients with the endpoints given explicitly, so they never read the environment and never
 * follow a queue URL's host (SDK v3's `useQueueUrlAsEndpoint`) away from the emulator.
 *
 * SQS and DynamoDB clients are made cheaper per call for the emulators (docs/PERFORMANCE.md, section 3):
 * with the emulators' dispatchers they skip the loopback socket ({@link InProcessHandler}); they sign with
 * {@link localSigner}; and the logger, user-agent and recursion-detection middleware, which only feed AWS's
 * logs and headers, are left out. S3 (large payloads only, streams) stays a plain client.
 */
export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const common = { region: localRegion, credentials: localCredentials, maxAttempts: 3 };
  const handler = (dispatch: Dispatch | undefined) => (dispatch ? { requestHandler: new InProcessHandler(dispatch) } : {});
  const sqs = new SQSClient({
    ...common,
    signer: localSigner,
    ...handler(endpoints.sqsDispatch),
    endpoint: endpoints.sqsEndpoint,
    useQueueUrlAsEndpoint: false,
  });
  const dynamodb = new DynamoDBClient({
    ...common,
    signer: localSigner,
    ...handler(endpoints.dynamodbDispatch),
    endpoint: endpoints.dynamodbEndpoint,
  });
  const document = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  const s3 = new S3Client({ ...common, endpoint: endpoints.sqsEndpoint, forcePathStyle: true });
  for (const client of [sqs, dynamodb, document]) {
    for (const name of ['loggerMiddleware', 'getUserAgentMiddleware', 'recursionDetectionMiddleware']) client.middlewareStack.remove(name);
  }
  // After the document client added its translateConfig: the last property the SDK adds to the config.
  for (const client of [sqs, dynamodb, s3]) withFastProperties(client.config);
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

/**
 * Turns an object V8 keeps in dictionary mode back into fast mode, without changing it. A client's resolved
 * config is one: the SDK builds it by `Object.assign`-ing ≈ 50 properties onto one object, and V8 turns an
 * object grown like that into a hash table. Every call then copies it whole, up to three times
 * (`{ ...config, ...context }` in the schema serializer and deserializer, `{ ...config }` in the endpoint
 * middleware), at ≈ 10 µs a copy from a hash table against ≈ 1 µs from fast properties.
 *
 * V8 makes an object's properties fast when it serves as a prototype whose property an inline cache loads
 * (the `to-fast-properties` technique); reading through a throwaway child a few times does that. Engines
 * or versions that do not leave the object as it was: only slower.
 */
export function withFastProperties(object: object): void {
  const child = Object.create(object) as { readonly region?: unknown };
  // The load's inline cache is set up only once the function has run a few times (V8's lazy feedback).
  for (let i = 0; i < 16; i += 1) readRegion(child);
}

function readRegion(object: { readonly region?: unknown }): unknown {
  return object.region;
}
