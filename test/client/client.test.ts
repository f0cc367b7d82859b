import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { SettleClient, type InstanceSummary, type ListOptions } from '../../client/index.ts';
import { localCredentials, localRegion } from '../../local/defaults.ts';
import { silentLogger } from '../../local/log.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { approvalMachine } from '../../machines/approval.ts';
import { DynamoStore } from '../../runtime/aws/dynamo-store.ts';
import { PermanentError, RequestError, WaitTimeoutError } from '../../runtime/core/errors.ts';
import { listIndexFields, listShards } from '../../runtime/core/listing.ts';
import { shardOf } from '../../runtime/core/instance-key.ts';
import { defineRegistry, type MachineRegistry } from '../../runtime/core/registry.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { registry as cliRegistry } from '../support/cli-registry.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * SettleClient in this process against the local stack (fauxqs SQS, dynalite DynamoDB, the worker behind its
 * poller), through its public API only: listing through every page, the dead-letter box, sending and waiting,
 * reading an instance. Records for the listing are written with DynamoStore, as the worker writes them.
 */

/** Appends each NOTE's `n` to `seen`: the order the instance applied its events in. */
const recorderMachine = setup({
  types: { context: {} as { seen: number[] }, events: {} as { type: 'NOTE'; n: number } },
}).createMachine({
  id: 'recorder',
  context: { seen: [] },
  initial: 'open',
  states: {
    open: { tags: ['resolve'], on: { NOTE: { actions: assign({ seen: ({ context, event }) => [...context.seen, event.n] }) } } },
  },
});

/** A machine whose root is parallel: its instances sort under the list index's empty top. */
const lightsMachine = setup({
  types: { events: {} as { type: 'FLIP' } | { type: 'TOUCH' } },
}).createMachine({
  id: 'lights',
  type: 'parallel',
  states: {
    left: { initial: 'off', states: { off: { tags: ['resolve'], on: { FLIP: 'on' } }, on: { tags: ['resolve'] } } },
    right: { initial: 'off', states: { off: { tags: ['resolve'], on: { TOUCH: 'on' } }, on: { tags: ['resolve'] } } },
  },
});

/** While the gate is closed the worker refuses every event of `gated` (schema-violation); the client's registry does not know it. */
let gateOpen = false;

const workerRegistry = defineRegistry({
  ...cliRegistry,
  listed: { machine: approvalMachine, version: 1 },
  lights: { machine: lightsMachine, version: 1 },
  recorder: { machine: recorderMachine, version: 1 },
  gated: { machine: recorderMachine, version: 1, validateEvent: () => (gateOpen ? undefined : 'the gate is closed') },
});
/** What the client checks with: `gated` without the worker's gate, and `later`, which the worker does not run yet. */
const clientRegistry = defineRegistry({
  ...workerRegistry,
  gated: { machine: recorderMachine, version: 1 },
  later: { machine: recorderMachine, version: 1 },
});

let stack: LocalStack;
let client: SettleClient<typeof clientRegistry>;

beforeAll(async () => {
  stack = await startLocalStack({ registry: workerRegistry, logger: silentLogger, poller: { waitTimeSeconds: 1 } });
  client = stack.client(clientRegistry);
}, 60_000);

afterAll(async () => {
  // The client shares the stack's SDK clients: the stack closes them.
  await stack?.stop();
}, 30_000);

/** What `promise` rejected with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** The RequestError `promise` rejected with, which must have `code`. */
async function requestError(promise: Promise<unknown>, code: RequestError['code']): Promise<RequestError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(RequestError);
  expect((error as RequestError).code, (error as Error).message).toBe(code);
  return error as RequestError;
}

/** The list index's sort key of a summary, as the item encoding computes it. */
const listSortOf = (item: InstanceSummary) =>
  listIndexFields({ pk: item.key, machine: item.machine, states: item.states, updatedAt: item.updatedAt }).listSort;

/** Every page of a listing, following the cursor (bounded): the items in page order, and how many pages it took. */
async function listAll(options: Omit<ListOptions, 'cursor'> & { machine: 'listed' | 'lights' }, maxPages = 1000) {
  const items: InstanceSummary[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.list({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    pages += 1;
    expect(page.items.length).toBeLessThanOrEqual(options.limit ?? 50);
    items.push(...page.items);
    cursor = page.cursor;
    if (pages > maxPages) throw new Error(`listing ${JSON.stringify(options)} did not end within ${maxPages} pages`);
  } while (cursor !== undefined);
  return { items, pages };
}

/** Each instance exactly once, in non-decreasing list order; returns the keys, sorted. */
function exactlyOnceInOrder(items: readonly InstanceSummary[]): string[] {
  const keys = items.map((item) => item.key);
  expect(new Set(keys).size, 'an instance listed twice').toBe(keys.length);
  const sorts = items.map(listSortOf);
  for (let i = 1; i < sorts.length; i += 1) {
    expect(sorts[i - 1]! <= sorts[i]!, `out of order at ${i}: ${sorts[i - 1]} then ${sorts[i]}`).toBe(true);
  }
  return [...keys].sort();
}

describe('list', () => {
  /** How the directly written `listed` instances look: their states, status and last outcome. */
  const kinds = [
    { states: ['draft'], value: 'draft', status: 'active', outcome: 'resolve' },
    {
      states: ['review.legal.pending', 'review.finance.pending'],
      value: { review: { legal: 'pending', finance: 'pending' } },
      status: 'active',
      outcome: 'resolve',
    },
    {
      states: ['review.legal.signed', 'review.finance.pending'],
      value: { review: { legal: 'signed', finance: 'pending' } },
      status: 'active',
      outcome: 'resolve',
    },
    { states: ['rejected'], value: 'rejected', status: 'active', outcome: 'reject' },
    { states: ['approved'], value: 'approved', status: 'done', outcome: 'done' },
    { states: ['draft'], value: 'draft', status: 'active', outcome: 'ignored' },
    {
      states: ['review.legal.pending', 'review.finance.pending'],
      value: { review: { legal: 'pending', finance: 'pending' } },
      status: 'active',
      outcome: 'dead-lettered',
    },
  ] as const;
  /** Three update times, each shared by 56 instances over all 8 shards. */
  const times = ['2026-03-01T10:00:00.000Z', '2026-03-01T10:01:00.000Z', '2026-03-01T10:02:00.000Z'] as const;
  const count = 168;
  const written = Array.from({ length: count }, (_, i) => ({
    key: `listed/l${String(i).padStart(3, '0')}`,
    kind: kinds[i % kinds.length]!,
    kindIndex: i % kinds.length,
    updatedAt: times[i % times.length]!,
  }));
  const keysWhere = (predicate: (entry: (typeof written)[number]) => boolean) =>
    written
      .filter(predicate)
      .map((entry) => entry.key)
      .sort();

  /** `lights` instances driven through the worker: even ones FLIP (left on), odd ones TOUCH (right on), every fourth both. */
  const lights = Array.from({ length: 24 }, (_, i) => ({
    id: `s${String(i).padStart(2, '0')}`,
    flip: i % 2 === 0,
    touch: i % 2 === 1 || i % 4 === 0,
  }));

  beforeAll(async () => {
    const store = new DynamoStore(stack.tableName, stack.clients.document);
    await Promise.all(
      written.map(({ key, kind, updatedAt }) => {
        const record: InstanceRecord = {
          pk: key,
          machine: 'listed',
          machineVersion: 1,
          snapshot: { status: kind.status, value: kind.value, context: {} },
          status: kind.status,
          value: kind.value,
          states: kind.states,
          tags: kind.status === 'done' ? [] : [kind.outcome === 'reject' ? 'reject' : 'resolve'],
          timers: [],
          version: 1,
          lastSeq: '18000000000000000001',
          outcome: kind.outcome,
          wakeAt: undefined,
          wakeShard: undefined,
          history: [],
          letters: [],
          createdAt: times[0],
          updatedAt,
        };
        return store.write(record, undefined);
      }),
    );
    const events = lights.flatMap(({ id, flip, touch }) => [
      ...(flip ? [{ machine: 'lights' as const, id, event: { type: 'FLIP' as const } }] : []),
      ...(touch ? [{ machine: 'lights' as const, id, event: { type: 'TOUCH' as const } }] : []),
    ]);
    const sent = await client.sendMany(events);
    await Promise.all(sent.map((result) => client.waitFor(result.instanceKey, result.sequenceNumber, { timeoutMs: 20_000 })));
  }, 60_000);

  it('spreads the instances over every shard, with many sharing an update time', () => {
    const shards = new Set(written.map(({ key }) => shardOf(key, listShards)));
    expect(shards.size).toBe(listShards);
    for (const time of times) {
      const sameTime = written.filter((entry) => entry.updatedAt === time);
      expect(new Set(sameTime.map(({ key }) => shardOf(key, listShards))).size).toBe(listShards);
    }
  });

  it('pages through every instance exactly once, in order, with limits 1, 7 and 50', async () => {
    const all = written.map((entry) => entry.key).sort();
    for (const limit of [1, 7, 50]) {
      const { items, pages } = await listAll({ machine: 'listed', limit });
      expect(exactlyOnceInOrder(items), `limit ${limit}`).toEqual(all);
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(count / limit));
      expect(pages).toBeLessThanOrEqual(Math.ceil(count / limit) + 1);
    }
    // A summary is the stored instance, less context, timers and history.
    const { items } = await listAll({ machine: 'listed', limit: 200 });
    for (const item of items) {
      const entry = written.find(({ key }) => key === item.key)!;
      expect(item).toEqual({
        key: entry.key,
        machine: 'listed',
        id: entry.key.slice('listed/'.length),
        states: entry.kind.states,
        status: entry.kind.status,
        outcome: entry.kind.outcome,
        tags: expect.any(Array),
        lastSeq: '18000000000000000001',
        wakeAt: undefined,
        createdAt: times[0],
        updatedAt: entry.updatedAt,
      });
    }
  }, 60_000);

  it('filters by a deep state, a top-level state, status, outcome and update time, through every page', async () => {
    const inReview = (entry: (typeof written)[number]) => [1, 2, 6].includes(entry.kindIndex);
    const cases: [Omit<ListOptions, 'machine'>, string[]][] = [
      [{ state: 'review' }, keysWhere(inReview)],
      [{ state: 'review.finance' }, keysWhere(inReview)],
      [{ state: 'review.legal.signed' }, keysWhere((entry) => entry.kindIndex === 2)],
      [{ state: 'review.legal.pending' }, keysWhere((entry) => entry.kindIndex === 1 || entry.kindIndex === 6)],
      [{ state: 'draft' }, keysWhere((entry) => entry.kindIndex === 0 || entry.kindIndex === 5)],
      [{ state: 'approved' }, keysWhere((entry) => entry.kindIndex === 4)],
      [{ state: 'expired' }, []],
      [{ state: 'review.legal' + '.nowhere' }, []],
      [{ status: 'done' }, keysWhere((entry) => entry.kind.status === 'done')],
      [{ status: 'active' }, keysWhere((entry) => entry.kind.status === 'active')],
      [{ outcome: 'reject' }, keysWhere((entry) => entry.kind.outcome === 'reject')],
      [{ outcome: 'ignored' }, keysWhere((entry) => entry.kind.outcome === 'ignored')],
      [{ outcome: 'dead-lettered' }, keysWhere((entry) => entry.kind.outcome === 'dead-lettered')],
      [{ updatedBefore: times[1] }, keysWhere((entry) => entry.updatedAt === times[0])],
      [{ updatedBefore: new Date(times[2]) }, keysWhere((entry) => entry.updatedAt !== times[2])],
      [{ updatedBefore: '2026-03-01T10:02:00.001Z' }, keysWhere(() => true)],
      [{ updatedBefore: times[0] }, []],
      [
        { state: 'review', outcome: 'resolve', updatedBefore: times[2] },
        keysWhere((entry) => (entry.kindIndex === 1 || entry.kindIndex === 2) && entry.updatedAt !== times[2]),
      ],
      [
        { state: 'review.legal.pending', updatedBefore: times[1] },
        keysWhere((entry) => [1, 6].includes(entry.kindIndex) && entry.updatedAt === times[0]),
      ],
      [{ state: 'draft', status: 'active', outcome: 'ignored' }, keysWhere((entry) => entry.kindIndex === 5)],
    ];
    for (const [filter, expected] of cases) {
      for (const limit of [7, 50]) {
        const { items } = await listAll({ machine: 'listed', ...filter, limit });
        expect(exactlyOnceInOrder(items), `${JSON.stringify(filter)} limit ${limit}`).toEqual(expected);
      }
    }
    const signed = await listAll({ machine: 'listed', state: 'review.legal.signed', limit: 1 });
    expect(exactlyOnceInOrder(signed.items)).toEqual(keysWhere((entry) => entry.kindIndex === 2));
  }, 60_000);

  it('finds the instances of a machine whose root is parallel by either region, at any depth', async () => {
    const key = (id: string) => `lights/${id}`;
    const where = (predicate: (light: (typeof lights)[number]) => boolean) =>
      lights
        .filter(predicate)
        .map(({ id }) => key(id))
        .sort();
    const everything = await listAll({ machine: 'lights', limit: 5 });
    expect(exactlyOnceInOrder(everything.items)).toEqual(where(() => true));
    for (const item of everything.items) expect(listSortOf(item)).toBe(`#${item.updatedAt}`);

    const cases: [string, string[]][] = [
      ['left', where(() => true)],
      ['right', where(() => true)],
      ['left.on', where(({ flip }) => flip)],
      ['left.off', where(({ flip }) => !flip)],
      ['right.on', where(({ touch }) => touch)],
      ['right.off', where(({ touch }) => !touch)],
      ['middle', []],
    ];
    for (const [state, expected] of cases) {
      for (const limit of [1, 50]) {
        const { items } = await listAll({ machine: 'lights', state, limit });
        expect(exactlyOnceInOrder(items), `${state} limit ${limit}`).toEqual(expected);
      }
    }
    // Update times through the worker: those before the middle one, by state.
    const times = everything.items.map((item) => item.updatedAt).sort();
    const middle = times[Math.floor(times.length / 2)]!;
    const before = everything.items.filter((item) => item.updatedAt < middle);
    expect(before.length).toBeGreaterThan(0);
    const { items } = await listAll({ machine: 'lights', state: 'left.on', updatedBefore: middle, limit: 3 });
    expect(exactlyOnceInOrder(items)).toEqual(
      before
        .filter((item) => item.states.includes('left.on'))
        .map((item) => item.key)
        .sort(),
    );
  }, 60_000);

  it('refuses a cursor made for other filters, a garbled cursor, and a limit outside 1–1,000', async () => {
    const first = await client.list({ machine: 'listed', state: 'review', limit: 7 });
    expect(first.items).toHaveLength(7);
    const cursor = first.cursor!;
    expect(cursor).toBeDefined();
    // The same filters with another limit go on where the first page stopped.
    const next = await client.list({ machine: 'listed', state: 'review', limit: 20, cursor });
    expect(next.items.map((item) => item.key).filter((key) => first.items.some((item) => item.key === key))).toEqual([]);

    for (const other of [
      { machine: 'listed', state: 'draft' },
      { machine: 'listed', state: 'review', status: 'active' },
      { machine: 'listed', state: 'review', outcome: 'resolve' },
      { machine: 'listed', state: 'review', updatedBefore: times[2] },
      { machine: 'listed' },
      { machine: 'lights', state: 'review' },
    ] as const) {
      const error = await requestError(client.list({ ...other, cursor }), 'invalid-option');
      expect(error.message).toMatch(/cursor/);
    }
    for (const garbled of ['', 'not-a-cursor', cursor.slice(0, -5), Buffer.from('{"positions":[]}').toString('base64url'), `${cursor}x`]) {
      await requestError(client.list({ machine: 'listed', state: 'review', cursor: garbled }), 'invalid-option');
    }
    for (const limit of [0, 1001, -1, 2.5, Number.NaN]) {
      const error = await requestError(client.list({ machine: 'listed', limit }), 'invalid-option');
      expect(error.message).toMatch(/limit must be a whole number from 1 to 1000/);
    }
    expect((await client.list({ machine: 'listed', limit: 1000 })).items).toHaveLength(count);
    await requestError(client.list({ machine: 'listed', updatedBefore: 'yesterday' }), 'invalid-option');
    await requestError(client.list({ machine: 'listed', state: 'review..legal' }), 'invalid-option');
  });
});

/** An SQS client of its own on the stack's emulator that records every SendMessage and SendMessageBatch it makes. */
function recordingSqs(): { sqs: SQSClient; sends: string[] } {
  const sqs = new SQSClient({
    region: localRegion,
    credentials: localCredentials,
    endpoint: stack.endpoints.sqs,
    useQueueUrlAsEndpoint: false,
  });
  const sends: string[] = [];
  sqs.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName?.startsWith('SendMessage')) sends.push(context.commandName);
      return next(args);
    },
    { step: 'initialize', name: 'recordSends' },
  );
  return { sqs, sends };
}

describe('send, sendMany, sendAndWait, waitFor', () => {
  it('sends nothing invalid: each refusal has the code the worker would give, and the queue receives nothing', async () => {
    const { sqs, sends } = recordingSqs();
    // Untyped, so that the test can hand it what the types would refuse.
    const loose = new SettleClient<MachineRegistry>({
      queueUrl: stack.queueUrl,
      deadLetterQueueUrl: stack.deadLetterQueueUrl,
      tableName: stack.tableName,
      sqs,
      dynamodb: stack.clients.document,
      registry: clientRegistry,
    });
    const pad = (bytes: number) => {
      const event = { type: 'NOTE', n: 1, pad: '' };
      return { ...event, pad: 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(event))) };
    };
    expect(Buffer.byteLength(JSON.stringify(pad(262_145)))).toBe(262_145);
    const cases: [string, string, unknown, PermanentError['code'] | 'unknown-event'][] = [
      ['Tally', 'inv-a', { type: 'COUNT' }, 'invalid-instance-key'],
      ['tally', '', { type: 'COUNT' }, 'invalid-instance-key'],
      ['tally', 'inv b', { type: 'COUNT' }, 'invalid-instance-key'],
      ['tally', `inv-${'c'.repeat(130)}`, { type: 'COUNT' }, 'invalid-instance-key'],
      ['tally', 'inv-1', 42, 'invalid-event'],
      ['tally', 'inv-2', 'COUNT', 'invalid-event'],
      ['tally', 'inv-3', null, 'invalid-event'],
      ['tally', 'inv-4', [{ type: 'COUNT' }], 'invalid-event'],
      ['tally', 'inv-5', undefined, 'invalid-json'],
      ['tally', 'inv-6', {}, 'invalid-event'],
      ['tally', 'inv-7', { type: '' }, 'invalid-event'],
      ['tally', 'inv-8', { type: 7 }, 'invalid-event'],
      ['tally', 'inv-9', { type: 'xstate.init' }, 'reserved-type'],
      ['tally', 'inv-10', { type: 'settle.wake', wakeAt: 1 }, 'reserved-type'],
      ['tally', 'inv-11', { type: 'settle.later' }, 'reserved-type'],
      ['tally', 'inv-12', { type: 'COUNT', settle: { idempotencyKey: 'mine' } }, 'invalid-event'],
      ['recorder', 'inv-13', pad(262_145), 'event-too-large'],
      ['recorder', 'inv-14', pad(400_000), 'event-too-large'],
      ['nope', 'inv-15', { type: 'COUNT' }, 'unknown-machine'],
      ['tally', 'inv-16', { type: 'SUBMIT', by: 'eve' }, 'unknown-event'],
      ['approval', 'inv-17', { type: 'APPROVE', role: 'sales', by: 'ana' }, 'schema-violation'],
      ['payment', 'inv-18', { type: 'CHECKOUT', amount: -1 }, 'schema-violation'],
    ];
    for (const [machine, id, event, code] of cases) {
      const what = `${machine}/${id.slice(0, 20)} ${JSON.stringify(event)?.slice(0, 60)}`;
      for (const attempt of [
        () => loose.send(machine, id, event as never),
        () => loose.sendAndWait(machine, id, event as never, { timeoutMs: 1000 }),
        () => loose.sendMany([{ machine, id, event: event as never }]),
      ]) {
        const error = await rejection(attempt());
        if (code === 'unknown-event') {
          expect(error, what).toBeInstanceOf(RequestError);
        } else {
          expect(error, what).toBeInstanceOf(PermanentError);
        }
        expect((error as PermanentError).code, `${what}: ${(error as Error).message}`).toBe(code);
      }
    }
    expect(sends).toEqual([]);

    // One bad event among good ones refuses the whole batch, naming it.
    const batch = [1, 2, 3, 4, 5].map((n) => ({ machine: 'recorder', id: `inv-batch-${n}`, event: { type: 'NOTE', n } }));
    batch[3] = { machine: 'recorder', id: 'inv-batch-4', event: { type: 'NOTE', n: 4, settle: {} } as never };
    const refused = await rejection(loose.sendMany(batch, { onProgress: () => sends.push('progress') }));
    expect(refused).toBeInstanceOf(PermanentError);
    expect((refused as PermanentError).code).toBe('invalid-event');
    expect((refused as Error).message).toMatch(/^Event 4: The event 'NOTE' for instance recorder\/inv-batch-4 sets the field "settle"/);
    expect(sends).toEqual([]);

    // Right at SQS's limit is still an event: it is sent, and applied.
    const atLimit = await loose.sendAndWait('recorder', 'at-limit', pad(262_144) as never, { timeoutMs: 20_000 });
    expect(atLimit.outcome).toBe('resolve');
    expect(sends).toEqual(['SendMessageCommand']);
    sqs.destroy();

    // Nothing else reached the queue: no instance appeared, and no letter names one.
    const attempted = new Set([...cases.map(([machine, id]) => `${machine}/${id}`), ...batch.map(({ id }) => `recorder/${id}`)]);
    for (const [machine, id] of [
      ...cases.map(([machine, id]) => [machine, id] as const),
      ...batch.map(({ id }) => ['recorder', id] as const),
    ]) {
      if (/^[a-z0-9-]+\/[a-z0-9-]{1,40}$/.test(`${machine}/${id}`))
        expect(await loose.get(machine, id), `${machine}/${id}`).toBeUndefined();
    }
    const { letters } = await client.deadLetters.list();
    expect(letters.filter((letter) => attempted.has(letter.instanceKey) || letter.instanceKey.includes('inv'))).toEqual([]);
  }, 30_000);

  it('sends once for a deduplication id reused within 5 minutes', async () => {
    const first = await client.send('tally', 'dedup1', { type: 'COUNT' }, { deduplicationId: 'dedup-1' });
    const again = await client.send('tally', 'dedup1', { type: 'COUNT' }, { deduplicationId: 'dedup-1' });
    expect(first.deduplicationId).toBe('dedup-1');
    expect(again).toEqual(first);
    await client.waitFor(first.instanceKey, first.sequenceNumber, { timeoutMs: 20_000 });
    // After the worker took it, the same id still sends nothing; a new one sends a new event.
    expect(await client.send('tally', 'dedup1', { type: 'COUNT' }, { deduplicationId: 'dedup-1' })).toEqual(first);
    const fresh = await client.sendAndWait('tally', 'dedup1', { type: 'COUNT' }, { timeoutMs: 20_000 });
    expect(BigInt(fresh.sequenceNumber)).toBeGreaterThan(BigInt(first.sequenceNumber));
    expect(fresh.context).toEqual({ count: 4 });
    const history = await client.history('tally', 'dedup1');
    expect(history.map((entry) => [entry.seq, entry.outcome])).toEqual([
      [first.sequenceNumber, 'resolve'],
      [fresh.sequenceNumber, 'resolve'],
    ]);
  }, 30_000);

  it("sendMany keeps each instance's order among interleaved instances, and reports progress as it goes", async () => {
    const instances = Array.from({ length: 12 }, (_, i) => `order-${i}`);
    const rounds = 15;
    const events = Array.from({ length: rounds }, (_, round) =>
      instances.map((id) => ({ machine: 'recorder' as const, id, event: { type: 'NOTE' as const, n: round + 1 } })),
    ).flat();
    const progress: number[] = [];
    const results = await client.sendMany(events, { onProgress: (sent) => progress.push(sent) });

    expect(results).toHaveLength(events.length);
    for (const [index, result] of results.entries()) expect(result.instanceKey).toBe(`recorder/${events[index]!.id}`);
    expect(progress.length).toBeGreaterThanOrEqual(Math.ceil(events.length / 10));
    for (let i = 1; i < progress.length; i += 1) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(progress.at(-1)).toBe(events.length);

    for (const id of instances) {
      const mine = results.filter((result) => result.instanceKey === `recorder/${id}`);
      const sequence = mine.map((result) => BigInt(result.sequenceNumber));
      for (let i = 1; i < sequence.length; i += 1) expect(sequence[i]! > sequence[i - 1]!).toBe(true);
      const last = await client.waitFor(`recorder/${id}`, mine.at(-1)!.sequenceNumber, { timeoutMs: 20_000 });
      expect(last.context).toEqual({ seen: Array.from({ length: rounds }, (_, round) => round + 1) });
      expect((await client.history('recorder', id)).map((entry) => entry.seq)).toEqual(mine.map((result) => result.sequenceNumber));
    }
  }, 30_000);

  it('sends characters SQS would refuse in a body as JSON escapes, so that every event of a batch arrives as it was', async () => {
    // SQS takes #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF in a body; JSON.stringify leaves U+FFFE and U+FFFF as they are.
    const by = 'eve \uFFFF\uFFFE \u{1F600} \u00e9';
    const results = await client.sendMany([
      { machine: 'tally', id: 'chars', event: { type: 'COUNT' } },
      { machine: 'approval', id: 'chars', event: { type: 'SUBMIT', by } },
      { machine: 'tally', id: 'chars', event: { type: 'COUNT' } },
    ]);
    const submitted = await client.waitFor(results[1]!.instanceKey, results[1]!.sequenceNumber, { timeoutMs: 20_000 });
    expect(submitted).toMatchObject({ outcome: 'resolve', context: { submittedBy: by } });
    expect((await client.waitFor(results[2]!.instanceKey, results[2]!.sequenceNumber, { timeoutMs: 20_000 })).context).toEqual({
      count: 4,
    });
    const single = await client.sendAndWait('approval', 'chars-one', { type: 'SUBMIT', by }, { timeoutMs: 20_000 });
    expect(single.context).toMatchObject({ submittedBy: by });
  }, 30_000);

  it('refuses a concurrency that is not a whole number from 1, and sends nothing', async () => {
    for (const concurrency of [0, -1, 2.5, Number.NaN]) {
      const error = await requestError(
        client.sendMany([{ machine: 'recorder', id: 'lanes', event: { type: 'NOTE', n: 1 } }], { concurrency }),
        'invalid-option',
      );
      expect(error.message).toMatch(/concurrency/);
    }
    expect(await client.get('recorder', 'lanes')).toBeUndefined();
    const [one] = await client.sendMany([{ machine: 'recorder', id: 'lanes', event: { type: 'NOTE', n: 1 } }], { concurrency: 1 });
    expect((await client.waitFor(one!.instanceKey, one!.sequenceNumber, { timeoutMs: 20_000 })).context).toEqual({ seen: [1] });
  }, 30_000);

  it('waitFor throws WaitTimeoutError naming the instance and how to look later, when the event never comes', async () => {
    const known = await client.sendAndWait('tally', 'waits', { type: 'COUNT' }, { timeoutMs: 20_000 });
    const never = (BigInt(known.sequenceNumber) + 10n ** 12n).toString();
    const started = Date.now();
    const error = await rejection(client.waitFor('tally/waits', never, { timeoutMs: 400 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ instanceKey: 'tally/waits', sequenceNumber: never });
    expect((error as Error).message).toBe(
      `Instance tally/waits had not handled event ${never} after 400 ms. It is queued, not lost: ` +
        "look later with `settle history tally/waits` (or the client's history()), or wait longer (--timeout).",
    );

    // An event the worker cannot take for an instance it never creates: a machine it does not run yet.
    const late = await rejection(client.sendAndWait('later', 'w1', { type: 'NOTE', n: 1 }, { timeoutMs: 1500 }));
    expect(late).toBeInstanceOf(WaitTimeoutError);
    expect((late as WaitTimeoutError).instanceKey).toBe('later/w1');
    expect((late as Error).message).toMatch(
      /^Instance later\/w1 had not handled event \d+ after 1500 ms\. It is queued, not lost: look later with `settle history later\/w1`/,
    );
    expect((late as Error).message).toMatch(
      /later\/w1 does not exist yet: if this was its first event, the worker may have refused it before creating it \(`settle dlq list --instance later\/w1`\)\.$/,
    );
  }, 30_000);

  it('sendAndWait answers a dead-lettered event with its code and a reason naming the instance', async () => {
    const applied = await client.sendAndWait('faulty', 'sw1', { type: 'OK' }, { timeoutMs: 20_000 });
    expect(applied).toMatchObject({ instanceKey: 'faulty/sw1', outcome: 'resolve', context: { n: 1 }, states: ['idle'] });
    expect(applied.deadLetter).toBeUndefined();

    const failed = await client.sendAndWait('faulty', 'sw1', { type: 'ACTION_THROWS' }, { timeoutMs: 20_000 });
    expect(failed).toMatchObject({
      instanceKey: 'faulty/sw1',
      outcome: 'dead-lettered',
      deadLetter: { code: 'machine-error' },
      // The instance kept the state it had before the event.
      context: { n: 1 },
      states: ['idle'],
      status: 'active',
    });
    expect(failed.deadLetter?.reason).toMatch(/faulty\/sw1/);
    expect(failed.deadLetter?.reason).toMatch(/the ledger is closed/);

    // The worker refuses the event before the machine sees it (its registry's validateEvent, which the client's lacks).
    gateOpen = true;
    await client.sendAndWait('gated', 'sw2', { type: 'NOTE', n: 1 }, { timeoutMs: 20_000 });
    gateOpen = false;
    const refused = await client.sendAndWait('gated', 'sw2', { type: 'NOTE', n: 2 }, { timeoutMs: 20_000 });
    expect(refused.context).toEqual({ seen: [1] });
    expect(refused.outcome).toBe('dead-lettered');
    expect(refused.deadLetter).toEqual({ code: 'schema-violation', reason: expect.stringContaining('gated/sw2') });
    expect(refused.deadLetter?.reason).toMatch(/the gate is closed/);
  }, 30_000);
});

describe('get, history, timers', () => {
  it('shows a payment with its durable timer, due at an ISO time, and the timer gone once paid', async () => {
    const before = Date.now();
    const checkout = await client.sendAndWait(
      'payment',
      'p1',
      { type: 'CHECKOUT', amount: 42, windowSeconds: 3600 },
      { timeoutMs: 20_000 },
    );
    const after = Date.now();
    expect(checkout).toMatchObject({ outcome: 'resolve', states: ['awaitingPayment'], tags: ['resolve'], status: 'active' });

    const timers = await client.timers('payment', 'p1');
    expect(timers).toEqual([
      {
        id: 'xstate.after.paymentWindow.payment.awaitingPayment',
        eventType: 'xstate.after.paymentWindow.payment.awaitingPayment',
        fireAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    ]);
    const fireAt = Date.parse(timers[0]!.fireAt);
    expect(fireAt).toBeGreaterThanOrEqual(before + 3600_000);
    expect(fireAt).toBeLessThanOrEqual(after + 3600_000);

    const view = await client.get('payment', 'p1');
    expect(view).toMatchObject({
      key: 'payment/p1',
      machine: 'payment',
      id: 'p1',
      machineVersion: 1,
      status: 'active',
      value: 'awaitingPayment',
      states: ['awaitingPayment'],
      context: { amount: 42, windowMs: 3600_000 },
      outcome: 'resolve',
      lastSeq: checkout.sequenceNumber,
      timers,
      version: 1,
    });
    expect(view?.history).toEqual([
      { seq: checkout.sequenceNumber, type: 'CHECKOUT', outcome: 'resolve', at: expect.stringMatching(/Z$/) },
    ]);
    expect(view!.history[0]!.at <= view!.updatedAt).toBe(true);
    expect(Date.parse(view!.createdAt)).toBeGreaterThanOrEqual(before);
    const [listed] = (await client.list({ machine: 'payment', state: 'awaitingPayment' })).items;
    expect(listed).toMatchObject({ key: 'payment/p1', wakeAt: timers[0]!.fireAt });

    const paid = await client.sendAndWait('payment', 'p1', { type: 'PAID', reference: 'r-1' }, { timeoutMs: 20_000 });
    expect(paid).toMatchObject({ outcome: 'done', status: 'done', states: ['paid'] });
    expect(await client.timers('payment', 'p1')).toEqual([]);
    expect((await client.history('payment', 'p1')).map((entry) => entry.type)).toEqual(['CHECKOUT', 'PAID']);
    expect((await client.get('payment', 'p1'))?.version).toBe(2);
  }, 30_000);

  it('answers undefined for an instance no event has created, and refuses a key that is not one', async () => {
    expect(await client.get('payment', 'missing')).toBeUndefined();
    expect(await client.history('payment', 'missing')).toEqual([]);
    expect(await client.timers('payment', 'missing')).toEqual([]);
    const error = await rejection(client.get('payment', 'not one'));
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe('invalid-instance-key');
  });
});

describe('dead letters', () => {
  const ours = (key: string) => key === 'gated/g12' || /^faulty\/dl\d\d$/.test(key);
  /** The 35 letters of this test, by the SequenceNumber their events had. */
  let sent: Map<string, { instanceKey: string; body: string }>;

  beforeAll(async () => {
    gateOpen = false;
    // 12 letters for one instance (its first event is applied while the gate is open: the instance exists), and 23 more.
    gateOpen = true;
    await client.sendAndWait('gated', 'g12', { type: 'NOTE', n: 0 }, { timeoutMs: 20_000 });
    gateOpen = false;
    const events = [
      ...Array.from({ length: 12 }, (_, i) => ({ machine: 'gated' as const, id: 'g12', event: { type: 'NOTE' as const, n: i + 1 } })),
      ...Array.from({ length: 23 }, (_, i) => ({
        machine: 'faulty' as const,
        id: `dl${String(i).padStart(2, '0')}`,
        event: { type: 'ACTION_THROWS' as const },
      })),
    ];
    const results = await client.sendMany(events);
    sent = new Map(
      results.map((result, index) => [
        result.sequenceNumber,
        { instanceKey: result.instanceKey, body: JSON.stringify(events[index]!.event) },
      ]),
    );
    for (const result of results) {
      const handled = await client.waitFor(result.instanceKey, result.sequenceNumber, { timeoutMs: 20_000 });
      expect(handled.outcome).toBe('dead-lettered');
    }
    // The letters go out right after the write that records them.
    await waitFor(async () => (await client.deadLetters.list()).letters.filter((letter) => ours(letter.instanceKey)).length === 35, {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: 'the 35 letters in the dead-letter queue',
    });
  }, 60_000);

  it('lists every letter, 12 of them for one instance, and leaves them all in place', async () => {
    const first = (await client.deadLetters.list()).letters.filter((letter) => ours(letter.instanceKey));
    const second = (await client.deadLetters.list()).letters.filter((letter) => ours(letter.instanceKey));
    expect(first).toHaveLength(35);
    expect(new Set(first.map((letter) => letter.messageId)).size).toBe(35);
    expect([...second].sort((a, b) => (a.messageId < b.messageId ? -1 : 1))).toEqual(
      [...first].sort((a, b) => (a.messageId < b.messageId ? -1 : 1)),
    );
    for (const letter of first) {
      const event = sent.get(letter.sequenceNumber ?? '');
      expect(event, `letter ${letter.messageId} names event ${letter.sequenceNumber}`).toBeDefined();
      expect(letter.instanceKey).toBe(event?.instanceKey);
      expect(letter.body).toBe(event?.body);
      expect(letter.code).toBe(letter.instanceKey === 'gated/g12' ? 'schema-violation' : 'machine-error');
      expect(letter.reason).toContain(letter.instanceKey);
      expect(letter.letterId).not.toBe(letter.messageId);
      expect(Number.isNaN(Date.parse(letter.sentAt))).toBe(false);
    }
    // Oldest first.
    const times = first.map((letter) => letter.sentAt);
    expect(times).toEqual([...times].sort());

    const one = await client.deadLetters.list({ instance: 'gated/g12' });
    expect(one.letters).toHaveLength(12);
    expect(one.letters.every((letter) => letter.instanceKey === 'gated/g12')).toBe(true);
    expect(one.letters.map((letter) => letter.body).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => JSON.stringify({ type: 'NOTE', n: i + 1 })).sort(),
    );
    expect((await client.deadLetters.list({ instance: 'faulty/dl07' })).letters).toHaveLength(1);
    expect((await client.deadLetters.list({ instance: 'faulty/none' })).letters).toEqual([]);
  }, 30_000);

  it("shows a letter SQS moved itself, in its instance's group, without a code", async () => {
    const { MessageId } = await stack.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.deadLetterQueueUrl,
        MessageGroupId: 'tally/moved1',
        MessageDeduplicationId: 'moved-1',
        MessageBody: '{"type":"COUNT"}',
      }),
    );
    const { letters } = await client.deadLetters.list({ instance: 'tally/moved1' });
    expect(letters).toEqual([
      {
        messageId: MessageId,
        letterId: MessageId,
        instanceKey: 'tally/moved1',
        sequenceNumber: undefined,
        code: undefined,
        reason: undefined,
        body: '{"type":"COUNT"}',
        sentAt: expect.stringMatching(/Z$/),
      },
    ]);
  });

  it('refuses to redrive a malformed letter unless forced, one whose event was applied, and one SQS moved; the refused stay', async () => {
    // Malformed events, straight to the events queue as a sender without the client could: the worker dead-letters them.
    const raw = async (group: string, body: string) => {
      const { SequenceNumber } = await stack.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.queueUrl,
          MessageGroupId: group,
          MessageDeduplicationId: `raw-${group}`,
          MessageBody: body,
        }),
      );
      return SequenceNumber!;
    };
    // Their instances exist: a first event the worker refuses before the machine starts leaves no item to wait on.
    await client.sendAndWait('tally', 'bad1', { type: 'COUNT' }, { timeoutMs: 20_000 });
    await client.sendAndWait('tally', 'bad2', { type: 'COUNT' }, { timeoutMs: 20_000 });
    const notJsonSeq = await raw('tally/bad1', '{"type":');
    const reservedSeq = await raw('tally/bad2', '{"type":"xstate.init"}');
    // An applied event, and a letter for it (as a worker that died after its write and before its delete would leave).
    const applied = await client.sendAndWait('tally', 'app1', { type: 'COUNT' }, { timeoutMs: 20_000 });
    await stack.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.deadLetterQueueUrl,
        MessageGroupId: 'letter-app1',
        MessageDeduplicationId: 'letter-app1',
        MessageBody: '{"type":"COUNT"}',
        MessageAttributes: {
          'settle-error': { DataType: 'String', StringValue: 'retries-exhausted' },
          'settle-reason': { DataType: 'String', StringValue: 'Instance tally/app1 could not be saved. Gave up after 5 receives.' },
          'settle-group': { DataType: 'String', StringValue: 'tally/app1' },
          'settle-sequence-number': { DataType: 'String', StringValue: applied.sequenceNumber },
          'settle-message-id': { DataType: 'String', StringValue: 'app1-original' },
        },
      }),
    );
    const keys = ['tally/bad1', 'tally/bad2', 'tally/app1', 'tally/moved1'];
    const letters = await waitFor(
      async () => {
        const found = (await client.deadLetters.list()).letters.filter((letter) => keys.includes(letter.instanceKey));
        return found.length === 4 && found;
      },
      { timeoutMs: 20_000, intervalMs: 100, description: 'the letters of tally/bad1, bad2, app1 and moved1' },
    );
    const letterOf = (key: string) => letters.find((letter) => letter.instanceKey === key)!;
    expect(letterOf('tally/bad1')).toMatchObject({ code: 'invalid-json', sequenceNumber: notJsonSeq });
    expect(letterOf('tally/bad2')).toMatchObject({ code: 'reserved-type', sequenceNumber: reservedSeq });
    expect(letterOf('tally/app1')).toMatchObject({ code: 'retries-exhausted', letterId: 'app1-original' });

    const results = await client.deadLetters.redrive({ letterIds: letters.map((letter) => letter.messageId) });
    const resultOf = (key: string) => results.find((result) => result.letter.instanceKey === key)!;
    expect(results.map((result) => result.status)).toEqual(['refused', 'refused', 'refused', 'refused']);
    expect(resultOf('tally/bad1').message).toMatch(/^its event is malformed \(invalid-json\), so it would fail the same way/);
    expect(resultOf('tally/bad2').message).toMatch(/^the registry still refuses it: Event type 'xstate\.init'/);
    expect(resultOf('tally/app1').message).toBe(
      `tally/app1 already applied this event (${applied.sequenceNumber}, resolve) at ${(await client.history('tally', 'app1'))[0]?.at}: sending it again would apply it twice`,
    );
    expect(resultOf('tally/moved1').message).toMatch(/^SQS moved it after its last receive without a decision by the worker/);
    const stayed = (await client.deadLetters.list()).letters.filter((letter) => keys.includes(letter.instanceKey));
    expect(stayed.map((letter) => letter.messageId).sort()).toEqual(letters.map((letter) => letter.messageId).sort());
    expect((await client.get('tally', 'app1'))?.history).toHaveLength(1);

    // Forced: the registry's refusal still holds; the unparseable one is sent again, and fails again.
    const forced = await client.deadLetters.redrive({
      letterIds: [letterOf('tally/bad1').letterId, letterOf('tally/bad2').letterId],
      force: true,
    });
    expect(forced.map((result) => [result.letter.instanceKey, result.status])).toEqual([
      ['tally/bad1', 'redriven'],
      ['tally/bad2', 'refused'],
    ]);
    const again = await client.waitFor('tally/bad1', forced[0]!.sequenceNumber!, { timeoutMs: 20_000 });
    expect(again.deadLetter?.code).toBe('invalid-json');
    expect((await client.history('tally', 'bad1')).at(-1)).toMatchObject({
      seq: forced[0]!.sequenceNumber,
      outcome: 'dead-lettered',
      error: 'invalid-json',
      redriveOf: letterOf('tally/bad1').letterId,
    });
    const after = await waitFor(
      async () => {
        const found = (await client.deadLetters.list({ instance: 'tally/bad1' })).letters;
        return found.some((letter) => letter.sequenceNumber === forced[0]!.sequenceNumber) && found;
      },
      { timeoutMs: 20_000, intervalMs: 100, description: 'the letter of the redriven tally/bad1 event' },
    );
    expect(after.map((letter) => letter.messageId)).not.toContain(letterOf('tally/bad1').messageId);
    expect(after).toHaveLength(1);
  }, 60_000);

  it("redrives one instance's letters in their order, each recorded with the letter it came from, and removes them", async () => {
    const letters = (await client.deadLetters.list({ instance: 'gated/g12' })).letters;
    expect(letters).toHaveLength(12);
    const bySequence = [...letters].sort((a, b) => (BigInt(a.sequenceNumber!) < BigInt(b.sequenceNumber!) ? -1 : 1));
    gateOpen = true;
    const results = await client.deadLetters.redrive({ instance: 'gated/g12' });

    expect(results.map((result) => result.status)).toEqual(Array(12).fill('redriven'));
    expect(results.map((result) => result.letter.letterId)).toEqual(bySequence.map((letter) => letter.letterId));
    const resent = results.map((result) => BigInt(result.sequenceNumber!));
    for (let i = 1; i < resent.length; i += 1) expect(resent[i]! > resent[i - 1]!).toBe(true);

    const last = await client.waitFor('gated/g12', results.at(-1)!.sequenceNumber!, { timeoutMs: 20_000 });
    expect(last.context).toEqual({ seen: [0, ...Array.from({ length: 12 }, (_, i) => i + 1)] });
    const history = await client.history('gated', 'g12');
    const redriven = history.filter((entry) => entry.redriveOf !== undefined);
    expect(redriven.map((entry) => [entry.seq, entry.type, entry.outcome, entry.redriveOf])).toEqual(
      results.map((result) => [result.sequenceNumber, 'NOTE', 'resolve', result.letter.letterId]),
    );

    expect((await client.deadLetters.list({ instance: 'gated/g12' })).letters).toEqual([]);
    // The other letters are where they were.
    const rest = (await client.deadLetters.list()).letters.filter((letter) => ours(letter.instanceKey));
    expect(rest).toHaveLength(23);
  }, 60_000);

  it('redrives by SequenceNumber, not by the order the letters arrived in', async () => {
    // Four letters of one instance, the later events first (as retries-exhausted letters can arrive).
    for (const n of [4, 3, 2, 1]) {
      const sentBefore = Date.now();
      await stack.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.deadLetterQueueUrl,
          MessageGroupId: `letter-rev-${n}`,
          MessageDeduplicationId: `letter-rev-${n}`,
          MessageBody: JSON.stringify({ type: 'NOTE', n }),
          MessageAttributes: {
            'settle-error': { DataType: 'String', StringValue: 'retries-exhausted' },
            'settle-reason': { DataType: 'String', StringValue: 'Instance recorder/rev did not settle. Gave up after 5 receives.' },
            'settle-group': { DataType: 'String', StringValue: 'recorder/rev' },
            'settle-sequence-number': { DataType: 'String', StringValue: `1800000000000000000${n}` },
            'settle-message-id': { DataType: 'String', StringValue: `rev-${n}` },
          },
        }),
      );
      // A later SentTimestamp for each (bounded: the clock moves on within milliseconds).
      await waitFor(() => Date.now() > sentBefore + 1, { timeoutMs: 1000, intervalMs: 1 });
    }
    const listed = (await client.deadLetters.list({ instance: 'recorder/rev' })).letters;
    expect(listed.map((letter) => letter.letterId)).toEqual(['rev-4', 'rev-3', 'rev-2', 'rev-1']);

    const results = await client.deadLetters.redrive({ instance: 'recorder/rev' });
    expect(results.map((result) => [result.letter.letterId, result.status])).toEqual([
      ['rev-1', 'redriven'],
      ['rev-2', 'redriven'],
      ['rev-3', 'redriven'],
      ['rev-4', 'redriven'],
    ]);
    const last = await client.waitFor('recorder/rev', results.at(-1)!.sequenceNumber!, { timeoutMs: 20_000 });
    expect(last.context).toEqual({ seen: [1, 2, 3, 4] });
    expect((await client.history('recorder', 'rev')).map((entry) => entry.redriveOf)).toEqual(['rev-1', 'rev-2', 'rev-3', 'rev-4']);
    expect((await client.deadLetters.list({ instance: 'recorder/rev' })).letters).toEqual([]);
  }, 30_000);
});
