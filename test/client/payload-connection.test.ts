/**
 * The payload bucket from the client's side (issue 14): how a connection finds the bucket (`--bucket`,
 * SETTLE_BUCKET, a stack's output, a `settle dev`), the payload store it gives, and the claim checks SettleClient
 * sends for large events. SQS, CloudFormation and S3 are stand-ins in this process or on loopback.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SendMessageBatchCommandInput, type SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionClients, type DevDiscovery, resolveConnection, type SettleConnection } from '../../client/connection.ts';
import { SettleClient } from '../../client/settle-client.ts';
import { S3PayloadStore } from '../../runtime/aws/s3-payloads.ts';
import { defaults } from '../../runtime/core/config.ts';
import { PermanentError } from '../../runtime/core/errors.ts';
import { maxEventBytes } from '../../runtime/core/event.ts';
import {
  eventObjectKey,
  maxOffloadedEventBytes,
  pointerBody,
  type PayloadStore,
  resolveBody,
  sha256Hex,
} from '../../runtime/core/payloads.ts';
import { stackOutputKeys } from '../../runtime/core/resources.ts';
import { MemoryPayloadStore } from '../../runtime/memory/memory-payloads.ts';
import { describeStacksXml, errorXml, type FakeCloudFormation, startCloudFormation } from '../support/cloudformation.ts';

const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/111122223333/orders-events.fifo';
const deadLetterQueueUrl = 'https://sqs.eu-west-1.amazonaws.com/111122223333/orders-dlq.fifo';
const settings = { SETTLE_QUEUE_URL: queueUrl, SETTLE_DLQ_URL: deadLetterQueueUrl, SETTLE_TABLE: 'orders-instances' };

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'settle-payload-connection-'));
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** An environment with no discovery file unless a test writes one to `devFile`. */
function environment(variables: Record<string, string> = {}, devFile = join(folder, 'absent.json')): NodeJS.ProcessEnv {
  return { SETTLE_DEV_FILE: devFile, ...variables };
}

/** A discovery file as `settle dev` writes it, for this process, with `extra` fields. */
function writeDevFile(name: string, extra: Partial<DevDiscovery> = {}): string {
  const file = join(folder, `${name}.json`);
  const discovery: DevDiscovery = {
    pid: process.pid,
    sqsEndpoint: 'http://127.0.0.1:9400',
    dynamodbEndpoint: 'http://127.0.0.1:8100',
    region: 'us-east-1',
    queueUrl: 'http://127.0.0.1:9400/000000000000/settle-events.fifo',
    deadLetterQueueUrl: 'http://127.0.0.1:9400/000000000000/settle-events-dlq.fifo',
    tableName: 'settle-instances',
    registry: '/somewhere/machines/index.ts',
    ...extra,
  };
  writeFileSync(file, JSON.stringify(discovery));
  return file;
}

describe('resolveConnection: the payload bucket given outright', () => {
  it('takes --bucket with the other flags', async () => {
    const connection = await resolveConnection(
      { queueUrl, deadLetterQueueUrl, tableName: 'orders-instances', bucketName: 'orders-payloads' },
      environment(),
    );

    expect(connection).toEqual({
      queueUrl,
      deadLetterQueueUrl,
      tableName: 'orders-instances',
      bucketName: 'orders-payloads',
      region: undefined,
      source: 'flags',
    });
  });

  it('takes SETTLE_BUCKET with SETTLE_QUEUE_URL, SETTLE_DLQ_URL and SETTLE_TABLE', async () => {
    const connection = await resolveConnection({}, environment({ ...settings, SETTLE_BUCKET: 'orders-payloads' }));

    expect(connection).toMatchObject({ queueUrl, tableName: 'orders-instances', bucketName: 'orders-payloads', source: 'environment' });
  });

  it('lets --bucket win over SETTLE_BUCKET', async () => {
    const connection = await resolveConnection({ bucketName: 'from-flag' }, environment({ ...settings, SETTLE_BUCKET: 'from-env' }));

    expect(connection.bucketName).toBe('from-flag');
  });

  it('has no bucket when none is given, or a blank one', async () => {
    for (const env of [settings, { ...settings, SETTLE_BUCKET: '' }, { ...settings, SETTLE_BUCKET: '   ' }]) {
      const connection = await resolveConnection({ bucketName: ' ' }, environment(env));
      expect(connection).not.toHaveProperty('bucketName');
    }
  });

  it('trims the name it is given', async () => {
    expect((await resolveConnection({}, environment({ ...settings, SETTLE_BUCKET: ' orders-payloads\n' }))).bucketName).toBe(
      'orders-payloads',
    );
  });
});

describe('resolveConnection: the bucket of a running settle dev', () => {
  it('takes the bucketName its discovery file gives', async () => {
    const connection = await resolveConnection({}, environment({}, writeDevFile('with-bucket', { bucketName: 'settle-payloads' })));

    expect(connection).toMatchObject({ bucketName: 'settle-payloads', source: `settle dev (pid ${process.pid})` });
  });

  it('has none when the file names none (a settle dev from before the bucket)', async () => {
    const connection = await resolveConnection({}, environment({}, writeDevFile('without-bucket')));

    expect(connection.local).toBeDefined();
    expect(connection).not.toHaveProperty('bucketName');
  });
});

/** CloudFormation on loopback, answering `DescribeStacks` with the outputs `stacks` gives each stack name. */
function cloudFormationOf(stacks: Record<string, Record<string, string>>): Promise<FakeCloudFormation> {
  return startCloudFormation((name) => {
    const outputs = stacks[name];
    return outputs ? describeStacksXml(name, outputs) : errorXml(400, 'ValidationError', `Stack with id ${name} does not exist`);
  });
}

describe('resolveConnection: the bucket of a deployed stack', () => {
  const settle = stackOutputKeys();
  const billing = stackOutputKeys('Billing');
  const base = (keys: ReturnType<typeof stackOutputKeys>) => ({
    [keys.queueUrl]: queueUrl,
    [keys.deadLetterQueueUrl]: deadLetterQueueUrl,
    [keys.tableName]: 'OrdersProd-SettleTable1A2B3C4D-0ABCDEF12345',
    [keys.region]: 'eu-west-1',
  });
  let cloudFormation: FakeCloudFormation;

  beforeAll(async () => {
    cloudFormation = await cloudFormationOf({
      OrdersProd: { ...base(settle), [settle.bucketName]: 'ordersprod-settlepayloads-1a2b3c' },
      TwoServices: {
        ...base(settle),
        [settle.bucketName]: 'settle-bucket',
        ...base(billing),
        [billing.bucketName]: 'billing-bucket',
      },
      Older: base(settle),
    });
  });
  afterAll(() => cloudFormation?.close());

  it('reads the bucket from the <prefix>BucketName output', async () => {
    expect(settle.bucketName).toBe('SettleBucketName');

    const connection = await resolveConnection({ stack: 'OrdersProd' }, environment(), { cloudFormation: cloudFormation.client() });

    expect(connection).toEqual({
      queueUrl,
      deadLetterQueueUrl,
      tableName: 'OrdersProd-SettleTable1A2B3C4D-0ABCDEF12345',
      bucketName: 'ordersprod-settlepayloads-1a2b3c',
      region: 'eu-west-1',
      source: "stack 'OrdersProd'",
    });
  });

  it('reads the output of the service the prefix names, when a stack holds two', async () => {
    const client = cloudFormation.client();

    expect((await resolveConnection({ stack: 'TwoServices' }, environment(), { cloudFormation: client })).bucketName).toBe('settle-bucket');
    expect(
      (await resolveConnection({ stack: 'TwoServices', outputPrefix: 'Billing' }, environment(), { cloudFormation: client })).bucketName,
    ).toBe('billing-bucket');
  });

  it('lets --bucket override the output, and not SETTLE_BUCKET (as the other settings)', async () => {
    const client = cloudFormation.client();

    const flagged = await resolveConnection({ stack: 'OrdersProd', bucketName: 'from-flag' }, environment(), { cloudFormation: client });
    const variable = await resolveConnection({ stack: 'OrdersProd' }, environment({ SETTLE_BUCKET: 'from-env' }), {
      cloudFormation: client,
    });

    expect(flagged.bucketName).toBe('from-flag');
    expect(variable.bucketName).toBe('ordersprod-settlepayloads-1a2b3c');
  });

  it('has no bucket for a stack deployed before the bucket output existed', async () => {
    const connection = await resolveConnection({ stack: 'Older' }, environment(), { cloudFormation: cloudFormation.client() });

    expect(connection.tableName).toBe('OrdersProd-SettleTable1A2B3C4D-0ABCDEF12345');
    expect(connection).not.toHaveProperty('bucketName');
  });
});

describe('connectionClients: the payload store', () => {
  const deployed: SettleConnection = { queueUrl, deadLetterQueueUrl, tableName: 'orders-instances', region: 'eu-west-1', source: 'flags' };

  it('gives an S3 payload store on the connection’s bucket, and none without one', () => {
    const withBucket = connectionClients({ ...deployed, bucketName: 'orders-payloads' });
    const without = connectionClients(deployed);
    try {
      expect(withBucket.payloads).toBeInstanceOf(S3PayloadStore);
      expect(withBucket.payloads?.bucket).toBe('orders-payloads');
      expect(without.payloads).toBeUndefined();
    } finally {
      withBucket.destroy();
      without.destroy();
    }
  });

  it("reaches a settle dev's bucket on its SQS endpoint, by path, and never tags (its S3 cannot)", async () => {
    const objects = new Map<string, Buffer>();
    const requests: string[] = [];
    const s3 = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = decodeURIComponent(new URL(request.url ?? '/', 'http://local').pathname);
        requests.push(`${request.method} ${path}`);
        if (request.method === 'PUT') {
          objects.set(path, Buffer.concat(chunks));
          response.writeHead(200, { etag: '"0"' }).end();
        } else if (request.method === 'GET' && objects.has(path)) {
          response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(objects.get(path));
        } else {
          response.writeHead(404, { 'content-type': 'application/xml' });
          response.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
          );
        }
      });
    });
    // By name, not an IP address: the SDK addresses buckets by path on an IP endpoint whatever it is told.
    await new Promise<void>((resolve) => s3.listen(0, 'localhost', resolve));
    const endpoint = `http://localhost:${(s3.address() as AddressInfo).port}`;
    try {
      const file = writeDevFile('local-s3', { sqsEndpoint: endpoint, bucketName: 'settle-payloads' });
      const connection = await resolveConnection({}, environment({}, file));
      const { payloads, destroy } = connectionClients(connection);
      try {
        const store = payloads as PayloadStore;
        await store.put('events/blob/a%2Fb/abc', Buffer.from('the event'));
        expect(Buffer.from((await store.get('events/blob/a%2Fb/abc')) ?? []).toString()).toBe('the event');
        expect(await store.get('events/blob/none')).toBeUndefined();
        await store.supersede('events/blob/a%2Fb/abc');
        expect(requests).toEqual([
          'PUT /settle-payloads/events/blob/a%2Fb/abc',
          'GET /settle-payloads/events/blob/a%2Fb/abc',
          'GET /settle-payloads/events/blob/none',
        ]);
      } finally {
        destroy();
      }
    } finally {
      s3.closeAllConnections();
      await new Promise<void>((resolve) => s3.close(() => resolve()));
    }
  });
});

/** An SQS client whose sends never leave the process: each is recorded and answered with a sequence number. */
function offlineSqs() {
  const sends: SendMessageCommandInput[] = [];
  const batches: SendMessageBatchCommandInput[] = [];
  let sequence = 0;
  const sqs = new SQSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' }, maxAttempts: 1 });
  sqs.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as SendMessageCommandInput & SendMessageBatchCommandInput;
      let output: object;
      if (context.commandName === 'SendMessageCommand') {
        sends.push(input);
        sequence += 1;
        output = { MessageId: `m-${sequence}`, SequenceNumber: String(18_000_000_000_000_000_000n + BigInt(sequence)) };
      } else if (context.commandName === 'SendMessageBatchCommand') {
        batches.push(input);
        output = {
          Successful: (input.Entries ?? []).map((entry) => {
            sequence += 1;
            return { Id: entry.Id, MessageId: `m-${sequence}`, SequenceNumber: String(18_000_000_000_000_000_000n + BigInt(sequence)) };
          }),
          Failed: [],
        };
      } else throw new Error(`unexpected ${context.commandName}`);
      return { output: { $metadata: {}, ...output } as never, response: {} };
    },
    { step: 'initialize', priority: 'high', name: 'offlineSqs' },
  );
  return { sqs, sends, batches };
}

/** An ADD event whose JSON is exactly `bytes` long. */
function eventOfBytes(bytes: number): { type: 'ADD'; data: string } {
  const empty = Buffer.byteLength(JSON.stringify({ type: 'ADD', data: '' }));
  const event = { type: 'ADD' as const, data: 'd'.repeat(bytes - empty) };
  expect(Buffer.byteLength(JSON.stringify(event))).toBe(bytes);
  return event;
}

function clientWith(payloads: PayloadStore | undefined, eventOffloadBytes?: number) {
  const { sqs, sends, batches } = offlineSqs();
  const client = new SettleClient({
    queueUrl,
    deadLetterQueueUrl,
    tableName: 'orders-instances',
    sqs,
    dynamodb: { destroy: () => undefined } as unknown as DynamoDBDocumentClient,
    payloads,
    ...(eventOffloadBytes === undefined ? {} : { eventOffloadBytes }),
  });
  return { client, sends, batches };
}

async function refusalOf(promise: Promise<unknown>): Promise<PermanentError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof PermanentError)) throw new Error(`expected a PermanentError, got ${String(error)}`);
  return error;
}

describe('SettleClient: claim checks for large events', () => {
  it('sends an event of exactly eventOffloadBytes inline, and one a byte over through the bucket', async () => {
    const payloads = new MemoryPayloadStore('orders-payloads');
    const { client, sends } = clientWith(payloads);
    const atLimit = eventOfBytes(defaults.eventOffloadBytes);
    const over = eventOfBytes(defaults.eventOffloadBytes + 1);
    expect(defaults.eventOffloadBytes).toBe(200 * 1024);

    await client.send('blob', 'b1', atLimit);
    await client.send('blob', 'b1', over);

    expect(sends[0]?.MessageBody).toBe(JSON.stringify(atLimit));
    const body = JSON.stringify(over);
    const key = eventObjectKey('blob/b1', sha256Hex(body));
    expect([...payloads.objects.keys()]).toEqual([key]);
    expect(Buffer.from(payloads.objects.get(key) ?? []).toString('utf8')).toBe(body);
    expect(sends[1]?.MessageBody).toBe(
      pointerBody({ bucket: 'orders-payloads', key, bytes: Buffer.byteLength(body), sha256: sha256Hex(body) }, 'ADD'),
    );
    expect(sends[1]?.MessageGroupId).toBe('blob/b1');
    expect(Buffer.byteLength(sends[1]?.MessageBody ?? '')).toBeLessThan(1024);
    // The worker reads back exactly the event.
    expect(await resolveBody(sends[1]?.MessageBody ?? '', 'blob/b1', payloads)).toEqual({ body, offloaded: true });
  });

  it('takes its threshold from eventOffloadBytes', async () => {
    const payloads = new MemoryPayloadStore();
    const { client, sends } = clientWith(payloads, 1000);

    await client.send('blob', 'b1', eventOfBytes(1000));
    await client.send('blob', 'b1', eventOfBytes(1001));

    expect(sends[0]?.MessageBody).toBe(JSON.stringify(eventOfBytes(1000)));
    expect(JSON.parse(sends[1]?.MessageBody ?? '{}').settle.payload.bytes).toBe(1001);
    expect(payloads.objects.size).toBe(1);
  });

  it('puts the instance id in the key as one segment', async () => {
    const payloads = new MemoryPayloadStore();
    const { client } = clientWith(payloads, 0);

    await client.send('blob', 'orders/2026/17', { type: 'ADD', data: 'x' });

    const [key] = [...payloads.objects.keys()];
    expect(key).toBe(eventObjectKey('blob/orders/2026/17', sha256Hex(JSON.stringify({ type: 'ADD', data: 'x' }))));
    expect(key?.startsWith('events/blob/orders%2F2026%2F17/')).toBe(true);
  });

  it('claim-checks the large events of a sendMany, and only those', async () => {
    const payloads = new MemoryPayloadStore();
    const { client, batches } = clientWith(payloads);
    const large = eventOfBytes(defaults.eventOffloadBytes + 1);

    const results = await client.sendMany([
      { machine: 'blob', id: 'b1', event: { type: 'ADD', data: 'small' } },
      { machine: 'blob', id: 'b2', event: large },
    ]);

    expect(results).toHaveLength(2);
    const bodies = new Map(batches.flatMap((batch) => batch.Entries ?? []).map((entry) => [entry.MessageGroupId, entry.MessageBody]));
    expect(bodies.get('blob/b1')).toBe('{"type":"ADD","data":"small"}');
    expect(await resolveBody(bodies.get('blob/b2') ?? '', 'blob/b2', payloads)).toEqual({ body: JSON.stringify(large), offloaded: true });
    expect(payloads.objects.size).toBe(1);
  });

  it('without a bucket sends up to SQS’s limit inline and refuses one byte more before sending, saying how to send it', async () => {
    const { client, sends } = clientWith(undefined);
    expect(client.maxEventBytes).toBe(maxEventBytes);

    await client.send('blob', 'b1', eventOfBytes(maxEventBytes));
    const error = await refusalOf(client.send('blob', 'b1', eventOfBytes(maxEventBytes + 1)));

    expect(sends).toHaveLength(1);
    expect(sends[0]?.MessageBody).toBe(JSON.stringify(eventOfBytes(maxEventBytes)));
    expect(error.code).toBe('event-too-large');
    expect(error.message).toContain(`is ${maxEventBytes + 1} bytes, over the ${maxEventBytes}-byte limit`);
    expect(error.message).toContain('This client has no payload bucket to put it in: connect with --stack');
  });

  it('with a bucket takes an event of 10 MiB and refuses a larger one before putting or sending anything', async () => {
    const payloads = new MemoryPayloadStore();
    const { client, sends, batches } = clientWith(payloads);
    expect(client.maxEventBytes).toBe(maxOffloadedEventBytes);

    const error = await refusalOf(client.send('blob', 'b1', eventOfBytes(maxOffloadedEventBytes + 1)));
    const manyError = await refusalOf(client.sendMany([{ machine: 'blob', id: 'b1', event: eventOfBytes(maxOffloadedEventBytes + 1) }]));

    expect(error.code).toBe('event-too-large');
    expect(error.message).toContain(`over the ${maxOffloadedEventBytes}-byte limit`);
    expect(manyError.code).toBe('event-too-large');
    expect(payloads.objects.size).toBe(0);
    expect(sends).toEqual([]);
    expect(batches).toEqual([]);

    await client.send('blob', 'b1', eventOfBytes(maxOffloadedEventBytes));
    expect(payloads.objects.size).toBe(1);
    expect(sends).toHaveLength(1);
  });
});
