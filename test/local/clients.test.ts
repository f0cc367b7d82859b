import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLocalClients, localSigner, withFastProperties } from '../../local/clients.ts';
import { type Dispatch, InProcessHandler } from '../../local/in-process.ts';

describe('localSigner', () => {
  it('writes a well-formed SigV4 header for the signing date, region and service', async () => {
    const signed = await localSigner.sign(
      { headers: {} as Record<string, string> },
      { signingDate: new Date('2026-11-30T12:04:54.987Z'), signingRegion: 'eu-west-1', signingService: 'dynamodb' },
    );
    expect(signed.headers['x-amz-date']).toBe('20261130T120454Z');
    expect(signed.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=[^/]+\/20261130\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=host;x-amz-date, Signature=0{64}$/,
    );
  });

  it('follows the date, region and service from one request to the next', async () => {
    const sign = (iso: string, region: string, service: string) =>
      localSigner.sign(
        { headers: {} as Record<string, string> },
        { signingDate: new Date(iso), signingRegion: region, signingService: service },
      );
    const first = await sign('2026-11-30T23:59:59.999Z', 'us-east-1', 'sqs');
    const second = await sign('2026-12-01T00:00:00.000Z', 'us-east-1', 'sqs');
    const third = await sign('2026-12-01T00:00:00.500Z', 'eu-west-1', 'dynamodb');
    expect(first.headers['x-amz-date']).toBe('20261130T235959Z');
    expect(first.headers.authorization).toContain('/20261130/us-east-1/sqs/');
    expect(second.headers['x-amz-date']).toBe('20261201T000000Z');
    expect(second.headers.authorization).toContain('/20261201/us-east-1/sqs/');
    expect(third.headers.authorization).toContain('/20261201/eu-west-1/dynamodb/');
  });
});

describe('withFastProperties', () => {
  it('leaves the object as it was: same properties, values, accessors and prototype', () => {
    let reads = 0;
    const proto = { inherited: true };
    const object = Object.create(proto) as Record<string, unknown>;
    for (let i = 0; i < 60; i += 1) Object.assign(object, { [`key${i}`]: i });
    Object.defineProperty(object, 'credentials', { enumerable: true, get: () => ++reads });
    const before = Object.getOwnPropertyDescriptors(object);
    const readsBefore = reads;
    withFastProperties(object);
    expect(Object.getPrototypeOf(object)).toBe(proto);
    expect(Object.keys(Object.getOwnPropertyDescriptors(object))).toEqual(Object.keys(before));
    expect(Object.getOwnPropertyDescriptors(object)).toEqual(before);
    expect(reads).toBe(readsBefore);
    expect({ ...object }.key59).toBe(59);
  });

  it('gives the local clients configs with fast properties (checked with V8 natives in a child process)', async () => {
    const script = [
      "const { createLocalClients } = await import('./local/clients.ts');",
      "const clients = createLocalClients({ sqsEndpoint: 'http://127.0.0.1:1', dynamodbEndpoint: 'http://127.0.0.1:2' });",
      "const fast = new Function('o', 'return %HasFastProperties(o)');",
      'console.log(JSON.stringify([clients.sqs, clients.dynamodb, clients.s3].map((client) => fast(client.config))));',
      'clients.destroy();',
    ].join('\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: process.cwd() },
    );
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '')).toEqual([true, true, true]);
  });

  it('keeps the clients working: the document client shares the fast config of its DynamoDB client', () => {
    const clients = createLocalClients({ sqsEndpoint: 'http://127.0.0.1:1', dynamodbEndpoint: 'http://127.0.0.1:2' });
    try {
      expect(clients.document.config).toBe(clients.dynamodb.config);
      expect((clients.document.config as { translateConfig?: unknown }).translateConfig).toEqual({
        marshallOptions: { removeUndefinedValues: true },
      });
    } finally {
      clients.destroy();
    }
  });
});

describe('InProcessHandler', () => {
  it('hands a string body on as it is, with its length in bytes', async () => {
    const seen: Parameters<Dispatch>[0][] = [];
    const handler = new InProcessHandler(async (request) => {
      seen.push(request);
      return { statusCode: 200, headers: {}, body: new Uint8Array() };
    });
    await handler.handle({ method: 'POST', path: '/', headers: { 'Content-Type': 'application/x-amz-json-1.0' }, body: '{"a":"é"}' });
    expect(seen[0]?.body).toBe('{"a":"é"}');
    expect(seen[0]?.headers).toEqual({ 'content-type': 'application/x-amz-json-1.0', 'content-length': '10' });
  });
});
