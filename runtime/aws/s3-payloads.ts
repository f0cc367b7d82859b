import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { RetryableError, describeError } from '../core/errors.ts';
import type { PayloadStore } from '../core/payloads.ts';
import { payloadBucketDefinition } from '../core/resources.ts';

type S3Module = typeof import('@aws-sdk/client-s3');

/**
 * The {@link PayloadStore} on S3. The SDK's S3 client loads on the first call: a worker whose events and
 * snapshots all fit inline never pays its import on a cold start.
 */
export class S3PayloadStore implements PayloadStore {
  private sdk: Promise<{ module: S3Module; client: S3Client }> | undefined;

  /**
   * @param options.client or `options.config`: the client, made on first use from `config` and the SDK's standard
   *   settings when absent; with an endpoint in the environment (`AWS_ENDPOINT_URL_S3`, an emulator) it addresses
   *   buckets by path, as emulators need.
   * @param options.tagging whether the store can tag objects: the local stack's S3 (fauxqs) cannot, and has no
   *   lifecycle rules, so superseded objects stay there until the stack stops. @default true
   */
  constructor(
    readonly bucket: string,
    private readonly options: { readonly client?: S3Client; readonly config?: S3ClientConfig; readonly tagging?: boolean } = {},
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    const { module, client } = await this.load();
    await this.call('put', key, () =>
      client.send(new module.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' })),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const { module, client } = await this.load();
    try {
      const object = await client.send(new module.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw this.unavailable('read', key, error);
    }
  }

  async supersede(key: string): Promise<void> {
    if (this.options.tagging === false) return;
    const { module, client } = await this.load();
    const { key: tagKey, value } = payloadBucketDefinition.supersededTag;
    await this.call('tag', key, () =>
      client.send(
        new module.PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet: [{ Key: tagKey, Value: value }] } }),
      ),
    );
  }

  async remove(key: string): Promise<void> {
    const { module, client } = await this.load();
    await this.call('delete', key, () => client.send(new module.DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  private load(): Promise<{ module: S3Module; client: S3Client }> {
    this.sdk ??= import('@aws-sdk/client-s3').then((module) => ({
      module,
      client:
        this.options.client ??
        new module.S3Client({
          forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL),
          ...this.options.config,
        }),
    }));
    return this.sdk;
  }

  private async call(action: string, key: string, send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      throw this.unavailable(action, key, error);
    }
  }

  private unavailable(action: string, key: string, error: unknown): RetryableError {
    const { name, message } = describeError(error);
    return new RetryableError(
      'payload-store-unavailable',
      `Could not ${action} s3://${this.bucket}/${key} (${name}: ${message}). It is retried; if it persists, check SETTLE_BUCKET and the function's S3 grants.`,
      { cause: error },
    );
  }
}
