import { connect } from 'node:net';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCredentials } from '../../local/clients.ts';
import { startEmulators } from '../../local/emulators.ts';
import { startTestEmulators, type TestEmulators } from '../support/emulators.ts';

let emulators: TestEmulators;

beforeAll(async () => {
  emulators = await startTestEmulators();
});
afterAll(async () => {
  await emulators.stop();
});

/** Resolves with the connection's fate: 'connected' or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

const portOf = (endpoint: string) => Number(new URL(endpoint).port);

describe('emulators', () => {
  it('start on free ports of 127.0.0.1 and answer', async () => {
    expect(emulators.sqsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulators.dynamodbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await emulators.clients.dynamodb.send(new ListTablesCommand({}))).toMatchObject({ TableNames: [] });
  });

  it('listen on 127.0.0.1 only, not on every interface', async () => {
    // On Linux all of 127/8 reaches the host: a server bound to 0.0.0.0 would accept on 127.0.0.2.
    for (const endpoint of [emulators.sqsEndpoint, emulators.dynamodbEndpoint]) {
      expect(await tryConnect('127.0.0.1', portOf(endpoint))).toBe('connected');
      expect(await tryConnect('127.0.0.2', portOf(endpoint))).not.toBe('connected');
    }
  });

  it('give queues URLs on the endpoint itself, so an SDK client configured by AWS_ENDPOINT_URL_SQS reaches them', async () => {
    // Bug: fauxqs's default queue URLs (http://sqs.us-east-1.localhost:<port>/…) made SDK v3 send to an
    // unresolvable host (ENOTFOUND). Fix: the store builds URLs from the request's host.
    const { QueueUrl } = await emulators.clients.sqs.send(
      new CreateQueueCommand({ QueueName: 'by-env.fifo', Attributes: { FifoQueue: 'true' } }),
    );
    expect(QueueUrl).toBe(`${emulators.sqsEndpoint}/000000000000/by-env.fifo`);

    const previous = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = emulators.sqsEndpoint;
    const fromEnvironment = new SQSClient({ region: 'us-east-1', credentials: localCredentials, maxAttempts: 1 });
    try {
      await fromEnvironment.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: '{"type":"COUNT"}',
          MessageGroupId: 'counter/env',
          MessageDeduplicationId: 'env-1',
        }),
      );
      const { Messages = [] } = await fromEnvironment.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
      expect(Messages.map((message) => message.Body)).toEqual(['{"type":"COUNT"}']);
    } finally {
      fromEnvironment.destroy();
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
      else process.env.AWS_ENDPOINT_URL_SQS = previous;
    }
  });

  it('stop() frees both ports, so they can be taken again', async () => {
    const first = await startEmulators();
    const ports = { sqsPort: portOf(first.sqsEndpoint), dynamodbPort: portOf(first.dynamodbEndpoint) };
    await first.stop();
    await first.stop(); // a second stop is harmless

    const second = await startEmulators(ports);
    await second.stop();

    expect(await tryConnect('127.0.0.1', ports.sqsPort)).toBe('ECONNREFUSED');
  });

  it('name the port and the setting to change when a port is taken', async () => {
    await expect(startEmulators({ sqsPort: portOf(emulators.sqsEndpoint) })).rejects.toThrow(
      /SQS emulator cannot listen on 127\.0\.0\.1:\d+: the port is in use.*SETTLE_SQS_PORT/,
    );
    await expect(startEmulators({ dynamodbPort: portOf(emulators.dynamodbEndpoint) })).rejects.toThrow(
      /DynamoDB emulator cannot listen on 127\.0\.0\.1:\d+: the port is in use.*SETTLE_DYNAMODB_PORT/,
    );
  });
});
