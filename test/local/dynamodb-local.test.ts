import { spawn } from 'node:child_process';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createLocalClients } from '../../local/clients.ts';
import { startDynamoDbLocal } from '../../local/dynamodb-local.ts';
import { startSqsEmulator } from '../../local/emulators.ts';
import { provision } from '../../local/provision.ts';
import { defaultNames, tableDefinition } from '../../runtime/core/resources.ts';
import { waitFor } from '../support/wait-for.ts';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('DynamoDB Local', () => {
  it('starts on a free port, serves the provisioned table, and stops with no process left', async () => {
    // Prepare
    const [sqs, dynamodb] = await Promise.all([startSqsEmulator(), startDynamoDbLocal()]);
    const clients = createLocalClients({ sqsEndpoint: sqs.endpoint, dynamodbEndpoint: dynamodb.endpoint });
    try {
      // Act
      const resources = await provision({ sqs: clients.sqs, dynamodb: clients.dynamodb });
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: resources.tableName }));

      // Assess
      expect(dynamodb.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(isRunning(dynamodb.pid)).toBe(true);
      expect(Table).toMatchObject({
        TableName: defaultNames.table,
        TableStatus: 'ACTIVE',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingModeSummary: { BillingMode: tableDefinition.billingMode },
        GlobalSecondaryIndexes: [
          expect.objectContaining({
            IndexName: tableDefinition.dueIndex.name,
            IndexStatus: 'ACTIVE',
            Projection: { ProjectionType: tableDefinition.dueIndex.projection },
          }),
          expect.objectContaining({
            IndexName: tableDefinition.listIndex.name,
            IndexStatus: 'ACTIVE',
            Projection: {
              ProjectionType: tableDefinition.listIndex.projection,
              NonKeyAttributes: [...tableDefinition.listIndex.nonKeyAttributes],
            },
          }),
        ],
      });
    } finally {
      clients.destroy();
      await Promise.all([sqs.stop(), dynamodb.stop()]);
    }

    expect(isRunning(dynamodb.pid)).toBe(false);
    const after = new DynamoDBClient({
      endpoint: dynamodb.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    await expect(after.send(new DescribeTableCommand({ TableName: defaultNames.table }))).rejects.toThrow(/ECONNREFUSED|connect/);
    after.destroy();
  });

  it('refuses a port that is taken instead of answering from whatever holds it', async () => {
    const first = await startDynamoDbLocal();
    try {
      await expect(startDynamoDbLocal({ port: first.port })).rejects.toThrow(/cannot listen on port \d+: the port is in use/);
    } finally {
      await first.stop();
    }
  });

  it('dies with the process that started it, even when that process is killed', async () => {
    // Bug: a test runner's SIGTERM skipped the 'exit' hook and left the JVM running. Fix: a watchdog
    // kills the JVM when its stdin (held by the starting process) closes.
    const holder = spawn(process.execPath, ['--import', 'tsx', 'test/support/hold-dynamodb-local.ts'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    holder.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const { pid } = await waitFor(() => (output.includes('\n') ? (JSON.parse(output) as { pid: number }) : undefined), {
      description: 'the holder to start DynamoDB Local',
      timeoutMs: 20_000,
    });
    expect(isRunning(pid)).toBe(true);

    holder.kill('SIGKILL');

    await waitFor(() => !isRunning(pid), { description: `the JVM ${pid} to exit`, timeoutMs: 10_000 });
  });
});
