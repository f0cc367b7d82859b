import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import { DynamoStore } from '../runtime/aws/dynamo-store.ts';
import { processBatch } from '../runtime/core/process-batch.ts';
import { eventObjectKey, pointerBody, sha256Hex } from '../runtime/core/payloads.ts';
import { MemoryDeadLetterQueue } from '../runtime/memory/memory-queues.ts';
import { blobRegistry, noise } from './support/blob.ts';
import { recordingLogger } from './support/emulators.ts';
import { racingStore } from './support/racing-store.ts';
import { fifoRecord, sequence } from './support/records.ts';
import { sendEvents } from './support/sqs.ts';
import { waitFor } from './support/wait-for.ts';

const MiB = 1024 * 1024;

const registry = blobRegistry;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    registry,
    logger: recordingLogger(),
    sweeper: null,
    // A hanging event fails after 300 ms, and its redelivery comes a second later: five receives in seconds.
    settings: { SETTLE_EVENT_TIMEOUT_MS: '300' },
    poller: { waitTimeSeconds: 1, visibilityTimeoutSeconds: 1 },
  });
});

afterAll(async () => {
  await stack?.stop();
});

async function objectKeys(prefix: string): Promise<string[]> {
  const listed = await stack.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.bucketName, Prefix: prefix }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

async function rawItem(pk: string) {
  const { Item } = await stack.clients.dynamodb.send(
    new GetItemCommand({ TableName: stack.tableName, Key: { pk: { S: pk } }, ConsistentRead: true }),
  );
  return Item;
}

describe('large payloads through the payload bucket', () => {
  it('applies a 1 MiB event: the client puts it in the bucket and sends a claim check', async () => {
    const client = stack.client(registry);
    const data = noise(MiB);

    const result = await client.sendAndWait('blob', 'one-mib', { type: 'ADD', data }, { timeoutMs: 20_000 });

    expect(result.outcome).toBe('resolve');
    expect((result.context as { items: string[] }).items).toEqual([data]);
    const body = JSON.stringify({ type: 'ADD', data });
    expect(await objectKeys('events/blob/one-mib/')).toEqual([eventObjectKey('blob/one-mib', sha256Hex(body))]);
    const history = await client.history('blob', 'one-mib');
    expect(history.map((entry) => [entry.type, entry.outcome])).toEqual([['ADD', 'resolve']]);
  });

  it('saves a context that grows to 5 MiB in the bucket and restores it for each later batch', async () => {
    const client = stack.client(registry);
    const parts = Array.from({ length: 5 }, () => noise(MiB + 1024));

    for (const [index, data] of parts.entries()) {
      // One event per batch: each is applied to the snapshot read back from the bucket.
      const result = await client.sendAndWait('blob', 'five-mib', { type: 'ADD', data }, { timeoutMs: 30_000 });
      expect(result.outcome, `ADD ${index + 1}`).toBe('resolve');
    }

    const instance = await client.get('blob', 'five-mib');
    if (!instance) throw new Error('blob/five-mib was not saved');
    const items = (instance.context as { items: string[] }).items;
    expect(items).toEqual(parts);
    expect(items.join('').length).toBeGreaterThan(5 * MiB);
    expect(instance.version).toBe(5);
    const item = await rawItem('blob/five-mib');
    expect(item?.snapshotRef?.M?.key?.S).toMatch(/^snapshots\/blob\/five-mib\/v5-[0-9a-f-]{36}\.json\.gz$/);
    expect(item?.snapshot).toBeUndefined();
    expect(item?.snapshotGz).toBeUndefined();
    // Every save wrote an object of its own; none was overwritten.
    expect(await objectKeys('snapshots/blob/five-mib/')).toHaveLength(5);
  });

  it('dead-letters a 262,000-byte event that fails on its last receive, with its reason, and applies the event behind it', async () => {
    const client = stack.client(registry);
    const poison = JSON.stringify({ type: 'HANG', pad: '' });
    const body = JSON.stringify({ type: 'HANG', pad: 'p'.repeat(262_000 - poison.length) });
    expect(Buffer.byteLength(body)).toBe(262_000);

    const [sent] = await sendEvents(stack.clients.sqs, stack.queueUrl, [{ group: 'blob/poison', body }]);
    await sendEvents(stack.clients.sqs, stack.queueUrl, [{ group: 'blob/poison', body: JSON.stringify({ type: 'ADD', data: 'after' }) }]);

    const { letters } = await waitFor(
      async () => {
        const listing = await client.deadLetters.list({ instance: 'blob/poison' });
        return listing.letters.length > 0 && listing;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'the poison event in the dead-letter queue' },
    );
    expect(letters).toHaveLength(1);
    const [letter] = letters;
    expect(letter).toMatchObject({ code: 'retries-exhausted', instanceKey: 'blob/poison', sequenceNumber: sent?.sequenceNumber });
    expect(letter?.reason).toMatch(/did not settle within \d+ ms after event 'HANG'.*Gave up after 5 receives \(settle-timeout\)/);
    // The letter travels as a claim check; what it points to is the event, byte for byte.
    expect(Buffer.byteLength(letter?.body ?? '')).toBeLessThan(1024);
    const object = await stack.payloads.get(JSON.parse(letter?.body ?? '{}').settle.payload.key);
    expect(Buffer.from(object ?? []).toString('utf8')).toBe(body);

    const instance = await waitFor(
      async () => {
        const found = await client.get('blob', 'poison').catch(() => undefined);
        return found?.history.some((entry) => entry.type === 'ADD') && found;
      },
      { timeoutMs: 20_000, description: 'the ADD behind the poison event applied' },
    );
    expect(instance.history.map((entry) => [entry.type, entry.outcome])).toEqual([
      ['HANG', 'dead-lettered'],
      ['ADD', 'resolve'],
    ]);
    expect((instance.context as { items: string[] }).items).toEqual(['after']);
  });

  it('dead-letters a 262,000-byte event the machine refuses on its first receive, with its reason', async () => {
    const client = stack.client(registry);
    const bare = JSON.stringify({ type: 'BOOM', pad: '' });
    const body = JSON.stringify({ type: 'BOOM', pad: 'b'.repeat(262_000 - bare.length) });

    await sendEvents(stack.clients.sqs, stack.queueUrl, [
      { group: 'blob/boom', body },
      { group: 'blob/boom', body: JSON.stringify({ type: 'ADD', data: 'next' }) },
    ]);

    const { letters } = await waitFor(
      async () => {
        const listing = await client.deadLetters.list({ instance: 'blob/boom' });
        return listing.letters.length > 0 && listing;
      },
      { timeoutMs: 20_000, intervalMs: 250, description: 'the refused event in the dead-letter queue' },
    );
    expect(letters.map((letter) => letter.code)).toEqual(['machine-error']);
    expect(letters[0]?.reason).toContain('the machine refuses this event');
    const instance = await waitFor(
      async () => {
        const found = await client.get('blob', 'boom').catch(() => undefined);
        return found?.history.some((entry) => entry.type === 'ADD') && found;
      },
      { timeoutMs: 20_000, description: 'the ADD behind it applied' },
    );
    expect((instance.context as { items: string[] }).items).toEqual(['next']);
  });

  it('refuses a forged claim check: another bucket, another instance, a missing or altered object', async () => {
    const client = stack.client(registry);
    const real = JSON.stringify({ type: 'ADD', data: 'secret of another instance' });
    const realKey = eventObjectKey('blob/victim', sha256Hex(real));
    await stack.payloads.put(realKey, Buffer.from(real));
    const pointer = (bucket: string, key: string, content = real) =>
      pointerBody({ bucket, key, bytes: Buffer.byteLength(content), sha256: sha256Hex(content) }, 'ADD');
    const altered = JSON.stringify({ type: 'ADD', data: 'what was sent' });
    const alteredKey = eventObjectKey('blob/forger-4', sha256Hex(altered));
    await stack.payloads.put(alteredKey, Buffer.from(JSON.stringify({ type: 'ADD', data: 'what was put there later' })));

    await sendEvents(stack.clients.sqs, stack.queueUrl, [
      { group: 'blob/forger-1', body: pointer('someone-elses-bucket', eventObjectKey('blob/forger-1', sha256Hex(real))) },
      { group: 'blob/forger-2', body: pointer(stack.bucketName, realKey) },
      { group: 'blob/forger-3', body: pointer(stack.bucketName, eventObjectKey('blob/forger-3', sha256Hex('nothing here'))) },
      { group: 'blob/forger-4', body: pointer(stack.bucketName, alteredKey, altered) },
    ]);

    const letters = await waitFor(
      async () => {
        const { letters } = await client.deadLetters.list();
        const forged = letters.filter((letter) => letter.instanceKey.startsWith('blob/forger-'));
        return forged.length === 4 && forged;
      },
      { timeoutMs: 20_000, intervalMs: 250, description: 'four forged claim checks dead-lettered' },
    );
    const byInstance = Object.fromEntries(letters.map((letter) => [letter.instanceKey, letter]));
    expect(byInstance['blob/forger-1']).toMatchObject({ code: 'payload-refused' });
    expect(byInstance['blob/forger-1']?.reason).toContain("names bucket 'someone-elses-bucket', not this stack's");
    expect(byInstance['blob/forger-2']).toMatchObject({ code: 'payload-refused' });
    expect(byInstance['blob/forger-2']?.reason).toContain("is not under this instance's prefix 'events/blob/forger-2/'");
    expect(byInstance['blob/forger-3']).toMatchObject({ code: 'payload-missing' });
    expect(byInstance['blob/forger-4']).toMatchObject({ code: 'payload-corrupt' });
    for (const key of ['blob/forger-1', 'blob/forger-2', 'blob/forger-3', 'blob/forger-4']) {
      const [machine, id] = key.split('/') as [string, string];
      const instance = await client.get(machine as 'blob', id).catch(() => undefined);
      expect(instance?.context ?? { items: [] }, key).toEqual({ items: [] });
    }
  });

  it('loses no update when two writers race on an instance whose snapshot is in the bucket', async () => {
    const pk = 'blob/race';
    const shared = new DynamoStore(stack.tableName, stack.clients.document, { payloads: stack.payloads, aboveBytes: 0 });
    const core = {
      registry,
      store: shared,
      payloads: stack.payloads,
      deadLetters: new MemoryDeadLetterQueue(),
      now: Date.now,
      maxReceiveCount: 5,
      wakeShards: 8,
    };
    // Each within SQS's limit as a record; the snapshot they make is not.
    const [first, second, third] = [noise(200_000), noise(200_000), noise(200_000)];
    await processBatch([fifoRecord(pk, sequence(1), { type: 'ADD', data: first })], core, () => 5000);
    const before = await shared.read(pk);
    expect(before?.snapshotRef?.key).toMatch(/^snapshots\/blob\/race\/v1-/);

    // Both read version 1 before either writes: one write wins, the other conflicts, deletes its object and re-reads.
    const { store: racing, conflicts } = racingStore(shared);
    const racers = { ...core, store: racing };
    const two = fifoRecord(pk, sequence(2), { type: 'ADD', data: second });
    const three = fifoRecord(pk, sequence(3), { type: 'ADD', data: third });
    const results = await Promise.all([processBatch([two], racers, () => 5000), processBatch([two, three], racers, () => 5000)]);

    expect(results.flatMap((result) => result.batchItemFailures)).toEqual([]);
    expect(conflicts()).toBe(1);
    const after = await shared.read(pk);
    expect(after).toMatchObject({ lastSeq: sequence(3).toString(), version: 3 });
    expect(after?.snapshot.context).toEqual({ items: [first, second, third] });
    // The loser's object is gone; the winner's and the one before stay (nothing tags them locally), each distinct.
    const keys = await objectKeys('snapshots/blob/race/');
    expect(keys).toHaveLength(3);
    expect(keys).toContain(before?.snapshotRef?.key);
    expect(keys).toContain(after?.snapshotRef?.key);
  });

  it('takes a large event through the HTTP API into the bucket', async () => {
    const withApi = await startLocalStack({
      registry,
      logger: recordingLogger(),
      sweeper: null,
      apiPort: 0,
      poller: { waitTimeSeconds: 1 },
    });
    try {
      const data = noise(300 * 1024);
      const response = await fetch(`${withApi.api?.url.replace(/\/$/, '')}/instances/blob/via-api/events?wait=20`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'ADD', data }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ outcome: 'resolve', context: { items: [data] } });
      const listed = await withApi.clients.s3.send(
        new ListObjectsV2Command({ Bucket: withApi.bucketName, Prefix: 'events/blob/via-api/' }),
      );
      expect(listed.Contents).toHaveLength(1);
    } finally {
      await withApi.stop();
    }
  });
});
