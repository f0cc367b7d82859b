/**
 * S3PayloadStore (runtime/aws/s3-payloads.ts) over a real S3Client whose requests never leave the process: a
 * middleware records each command and answers it, or fails as S3 does.
 */
import {
  type DeleteObjectCommandInput,
  type GetObjectCommandInput,
  NoSuchKey,
  type PutObjectCommandInput,
  type PutObjectTaggingCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3PayloadStore } from '../../runtime/aws/s3-payloads.ts';
import { RetryableError } from '../../runtime/core/errors.ts';
import { payloadBucketDefinition } from '../../runtime/core/resources.ts';

const bucket = 'orders-payloads-1a2b3c';
const key = 'events/blob/a%2Fb/3f0a';

interface Sent {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

/** What a stand-in S3 answers a command with: an output, or an error thrown. */
type Answer = (command: string, input: Record<string, unknown>) => object;

/** An S3Client whose every command is recorded and answered by `answer` before any request is built. */
function offlineS3(answer: Answer = () => ({})): { client: S3Client; sent: Sent[] } {
  const sent: Sent[] = [];
  const client = new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = context.commandName ?? '(unknown)';
      const input = args.input as Record<string, unknown>;
      sent.push({ command, input });
      return { output: { $metadata: { httpStatusCode: 200 }, ...answer(command, input) } as never, response: {} };
    },
    { step: 'initialize', priority: 'high', name: 'offlineS3' },
  );
  return { client, sent };
}

function s3Error(name: string, message: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: status } });
}

/** What `promise` rejected with, which must be a RetryableError. */
async function retryable(promise: Promise<unknown>): Promise<RetryableError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof RetryableError)) throw new Error(`expected a RetryableError, got ${String(error)}`);
  return error;
}

describe('S3PayloadStore', () => {
  it('puts an object: PutObject with the bucket, the key and the bytes', async () => {
    const { client, sent } = offlineS3();
    const body = Buffer.from('{"type":"ADD","data":"été"}');

    await new S3PayloadStore(bucket, { client }).put(key, body);

    expect(sent.map(({ command }) => command)).toEqual(['PutObjectCommand']);
    const input = sent[0]?.input as unknown as PutObjectCommandInput;
    expect(input).toMatchObject({ Bucket: bucket, Key: key });
    expect(Buffer.from(input.Body as Uint8Array)).toEqual(body);
  });

  it('gets the bytes of an object', async () => {
    const bytes = Uint8Array.from([0x1f, 0x8b, 0, 255, 7]);
    const { client, sent } = offlineS3((command) =>
      command === 'GetObjectCommand' ? { Body: { transformToByteArray: async () => Uint8Array.from(bytes) } } : {},
    );

    const got = await new S3PayloadStore(bucket, { client }).get(key);

    expect(sent).toEqual([{ command: 'GetObjectCommand', input: { Bucket: bucket, Key: key } satisfies GetObjectCommandInput }]);
    expect(got).toEqual(bytes);
  });

  it('gets an empty object as no bytes, not as a missing one', async () => {
    const { client } = offlineS3(() => ({}));

    expect(await new S3PayloadStore(bucket, { client }).get(key)).toEqual(new Uint8Array());
  });

  it('answers undefined for an object that does not exist (NoSuchKey)', async () => {
    const { client } = offlineS3(() => {
      throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    });

    expect(await new S3PayloadStore(bucket, { client }).get(key)).toBeUndefined();
  });

  it('throws a retryable payload-store-unavailable for any other failure, naming the bucket and the key', async () => {
    for (const failure of [
      s3Error('AccessDenied', 'Access Denied', 403),
      s3Error('NoSuchBucket', 'The specified bucket does not exist', 404),
    ]) {
      const { client } = offlineS3(() => {
        throw failure;
      });

      const error = await retryable(new S3PayloadStore(bucket, { client }).get(key));

      expect(error.code).toBe('payload-store-unavailable');
      expect(error.cause).toBe(failure);
      expect(error.message).toBe(
        `Could not read s3://${bucket}/${key} (${failure.name}: ${failure.message}). It is retried; if it persists, check SETTLE_BUCKET and the function's S3 grants.`,
      );
    }
  });

  it('marks an object superseded with exactly the tag the lifecycle rule keys on', async () => {
    const { client, sent } = offlineS3();

    await new S3PayloadStore(bucket, { client }).supersede('snapshots/blob/b1/v1-x.json.gz');

    expect(sent).toEqual([
      {
        command: 'PutObjectTaggingCommand',
        input: {
          Bucket: bucket,
          Key: 'snapshots/blob/b1/v1-x.json.gz',
          Tagging: { TagSet: [{ Key: 'settle-superseded', Value: 'true' }] },
        } satisfies PutObjectTaggingCommandInput,
      },
    ]);
    expect(payloadBucketDefinition.supersededTag).toEqual({ key: 'settle-superseded', value: 'true' });
  });

  it('sends nothing to supersede an object where tagging is off (the local stack)', async () => {
    const { client, sent } = offlineS3();

    await new S3PayloadStore(bucket, { client, tagging: false }).supersede('snapshots/blob/b1/v1-x.json.gz');

    expect(sent).toEqual([]);
  });

  it('removes an object with DeleteObject', async () => {
    const { client, sent } = offlineS3();

    await new S3PayloadStore(bucket, { client }).remove('snapshots/blob/b1/v2-y.json.gz');

    expect(sent).toEqual([
      {
        command: 'DeleteObjectCommand',
        input: { Bucket: bucket, Key: 'snapshots/blob/b1/v2-y.json.gz' } satisfies DeleteObjectCommandInput,
      },
    ]);
  });

  it('turns a failed put, tag or delete into payload-store-unavailable saying what it could not do', async () => {
    const denied = s3Error('AccessDenied', 'Access Denied', 403);
    const { client } = offlineS3(() => {
      throw denied;
    });
    const store = new S3PayloadStore(bucket, { client });

    const failures = [
      ['put', await retryable(store.put(key, Buffer.from('x')))],
      ['tag', await retryable(store.supersede(key))],
      ['delete', await retryable(store.remove(key))],
    ] as const;

    for (const [action, error] of failures) {
      expect(error.code).toBe('payload-store-unavailable');
      expect(error.cause).toBe(denied);
      expect(error.message).toMatch(
        new RegExp(`^Could not ${action} s3://${bucket}/events/blob/a%2Fb/3f0a \\(AccessDenied: Access Denied\\)\\.`),
      );
    }
  });

  it('sends the key as S3 stores it: an encoded slash in an instance id stays part of the name', async () => {
    const paths: string[] = [];
    const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' }, maxAttempts: 1 });
    client.middlewareStack.add(
      () => async (args) => {
        const request = args.request as { method: string; hostname: string; path: string };
        paths.push(`${request.method} ${request.hostname}${request.path}`);
        return { output: { $metadata: {} } as never, response: {} };
      },
      { step: 'build', priority: 'low', name: 'offlineS3Request' },
    );

    await new S3PayloadStore(bucket, { client }).put(key, Buffer.from('x'));

    expect(paths).toEqual([`PUT ${bucket}.s3.eu-west-1.amazonaws.com/events/blob/a%252Fb/3f0a`]);
  });
});
