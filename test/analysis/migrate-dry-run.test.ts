import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkMigration,
  dryRunMigrations,
  type FailureReason,
  type ListedInstance,
  type MigrationReport,
  type StoredInstanceReader,
} from '../../analysis/migrate-dry-run.ts';
import { stackReader } from '../../analysis/migrate-command.ts';
import type { DevDiscovery } from '../../client/connection.ts';
import { exitCodes } from '../../cli/output.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { DynamoStore } from '../../runtime/aws/dynamo-store.ts';
import { PermanentError } from '../../runtime/core/errors.ts';
import { InstanceSession, type MachineState } from '../../runtime/core/instance.ts';
import { parseInstanceKey } from '../../runtime/core/instance-key.ts';
import { buildRecord } from '../../runtime/core/item.ts';
import { silentLogger } from '../../runtime/core/logger.ts';
import type { MachineDefinition, MachineRegistry, PersistedSnapshot } from '../../runtime/core/registry.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { noise } from '../support/blob.ts';
import { runSettle, shellEnv } from '../support/settle-cli.ts';
import {
  deployedRegistry,
  expectedFailure,
  lampMachine,
  registry,
  settledState,
  ticketV1,
  ticketV2,
  ticketV3,
  withContext,
  workRuns,
} from './fixtures/migrate-machines.ts';

const ticket = registry.ticket;
const now = Date.parse('2026-11-23T10:00:00Z');

/** Settled states of each version, as the worker saves them: the templates every stored instance is made from. */
const states = {
  v1: { open: settledState(ticketV1, 1, []), held: settledState(ticketV1, 1, [{ type: 'HOLD' }]) },
  v2: {
    open: settledState(ticketV2, 2, []),
    paused: settledState(ticketV2, 2, [{ type: 'PAUSE' }]),
    working: settledState(ticketV2, 2, [{ type: 'WORK' }]),
  },
  v3: { open: settledState(ticketV3, 3, []) },
  lamp: { off: settledState(lampMachine, 1, []), on: settledState(lampMachine, 1, [{ type: 'TOGGLE' }]) },
};

/** The record the worker would have saved for `<machine>/<id>` in `state`. */
function stored(instanceKey: string, state: MachineState, version = 1): InstanceRecord {
  const record = buildRecord(parseInstanceKey(instanceKey), state, {
    stored: undefined,
    history: [],
    letters: [],
    lastSeq: '18000000000000000001',
    now,
    historyLimit: 20,
    wakeShards: 8,
  });
  return { ...record, version };
}

function ticketAt(id: string, version: 1 | 2, n: number, state: 'open' | 'held' | 'paused' | 'working' = 'open'): InstanceRecord {
  const template = version === 1 ? states.v1[state as 'open' | 'held'] : states.v2[state as 'open' | 'paused' | 'working'];
  const context = version === 1 ? { n } : { n, owner: `owner-${n % 5}` };
  return stored(`ticket/${id}`, withContext(template, context));
}

/** What the worker does with the stored record on the instance's next event: opens a session (and starts it). */
function workerVerdict(definition: MachineDefinition, record: InstanceRecord): PermanentError | undefined {
  try {
    const session = InstanceSession.open({ definition, key: parseInstanceKey(record.pk), stored: record, now: () => now });
    session.stop();
    return undefined;
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
}

/** A reader over records in memory: the list index's pages (with their version, like the index), and reads. */
function fakeReader(records: readonly InstanceRecord[], options: { readonly withVersion?: boolean; readonly readDelayMs?: number } = {}) {
  const byKey = new Map(records.map((record) => [record.pk, record]));
  const reads: string[] = [];
  const pages: { machine: string; limit: number; cursor: string | undefined }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const reader: StoredInstanceReader & { reads: string[]; pages: typeof pages; readonly maxInFlight: number } = {
    reads,
    pages,
    get maxInFlight() {
      return maxInFlight;
    },
    async list({ machine, limit, cursor }) {
      pages.push({ machine, limit, cursor });
      const all = [...byKey.values()].filter((record) => record.machine === machine).sort((a, b) => (a.pk < b.pk ? -1 : 1));
      const from = cursor === undefined ? 0 : Number(cursor);
      const items: ListedInstance[] = all.slice(from, from + limit).map((record) => ({
        key: record.pk,
        id: record.pk.slice(record.pk.indexOf('/') + 1),
        ...(options.withVersion === false ? {} : { machineVersion: record.machineVersion }),
      }));
      return { items, cursor: from + limit < all.length ? String(from + limit) : undefined };
    },
    async record(machine, id) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      reads.push(`${machine}/${id}`);
      await new Promise((resolve) => setTimeout(resolve, options.readDelayMs ?? 0));
      inFlight -= 1;
      return byKey.get(`${machine}/${id}`);
    },
  };
  return reader;
}

const failureSet = (report: MigrationReport) => report.failures.map((failure) => `${failure.key} ${failure.reason}`).sort();

describe('checkMigration: the worker’s rule, without starting the actor', () => {
  const cases: [string, InstanceRecord, FailureReason | undefined][] = [
    ['a v1 ticket that migrates', ticketAt('a', 1, 8, 'held'), undefined],
    ['a v1 ticket whose migrate() throws', ticketAt('b', 1, 14), 'migrate-threw'],
    ['a v2 ticket that migrates, resting in working', ticketAt('c', 2, 5, 'working'), undefined],
    ['a v2 ticket migrate() declines', ticketAt('d', 2, 22), 'migrate-declined'],
    ['a v2 ticket migrated into a state v3 lacks', ticketAt('e', 2, 26, 'paused'), 'snapshot-mismatch'],
    ['a ticket of a version migrate() does not know', { ...ticketAt('f', 2, 1), machineVersion: 9 }, 'migrate-declined'],
    ['a ticket with no snapshot', { ...ticketAt('g', 1, 1), snapshot: null as unknown as PersistedSnapshot }, 'snapshot-mismatch'],
  ];

  it.each(cases)('%s: the same verdict, code and reason as InstanceSession.open', (_, record, expected) => {
    const verdict = checkMigration(ticket, parseInstanceKey(record.pk), record);
    const worker = workerVerdict(ticket, record);
    expect(verdict.ok ? undefined : verdict.reason).toBe(expected);
    expect(verdict.ok).toBe(worker === undefined);
    if (!verdict.ok) {
      expect(verdict.error.code).toBe(worker?.code);
      expect(verdict.error.message).toBe(worker?.message);
    }
  });

  it('names what migrate() threw', () => {
    const verdict = checkMigration(ticket, parseInstanceKey('ticket/b'), ticketAt('b', 1, 14));
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'migrate-threw',
      thrown: { name: 'BrokenMigrationError', message: 'cannot carry ticket n=14 over from v1' },
      error: { code: 'unknown-machine-version' },
    });
  });

  it('reports a machine without migrate() as no-migrate, and a snapshot with an inline child as snapshot-mismatch', () => {
    const lamp = stored('lamp/l1', states.lamp.on);
    expect(checkMigration(registry.lamp, parseInstanceKey('lamp/l1'), lamp)).toMatchObject({
      ok: false,
      reason: 'no-migrate',
      error: { code: 'unknown-machine-version' },
    });
    // XState's production build writes an inline child's `src` as {}: the worker refuses to restore it.
    const inline = ticketAt('i', 2, 4, 'working');
    const snapshot = inline.snapshot as PersistedSnapshot & { children: Record<string, { src: unknown }> };
    const withInline = { ...inline, snapshot: { ...snapshot, children: { work: { ...snapshot.children.work, src: {} } } } };
    const verdict = checkMigration(ticket, parseInstanceKey('ticket/i'), withInline);
    expect(verdict).toMatchObject({ ok: false, reason: 'snapshot-mismatch', error: { code: 'snapshot-mismatch' } });
    expect(workerVerdict(ticket, withInline)?.message).toBe(verdict.ok ? undefined : verdict.error.message);
  });

  it('reports a snapshot that cannot be read with the reason the worker would dead-letter with', () => {
    const unreadable = new PermanentError(
      'payload-missing',
      'The snapshot of ticket/u is offloaded to snapshots/… and that object is not there',
    );
    const record = { ...ticketAt('u', 1, 1), snapshot: null as unknown as PersistedSnapshot, unreadableSnapshot: unreadable };
    expect(checkMigration(ticket, parseInstanceKey('ticket/u'), record)).toEqual({
      ok: false,
      reason: 'unreadable-snapshot',
      error: unreadable,
    });
  });

  it('never starts the restored actor: an invoked actor of the snapshot does not run again (the worker’s start would)', () => {
    const record = ticketAt('w', 2, 5, 'working');
    expect((record.snapshot as unknown as { children: Record<string, unknown> }).children.work).toMatchObject({ src: 'work' });
    const before = workRuns.count;
    expect(checkMigration(ticket, parseInstanceKey('ticket/w'), record)).toEqual({ ok: true });
    expect(workRuns.count).toBe(before);
    // What XState does on start(): the restored child's promise runs again. The dry run must not do that.
    expect(workerVerdict(ticket, record)).toBeUndefined();
    expect(workRuns.count).toBe(before + 1);
  });

  it('does not change the stored record', () => {
    const record = ticketAt('x', 1, 3, 'held');
    const copy = structuredClone(record);
    checkMigration(ticket, parseInstanceKey('ticket/x'), record);
    expect(record).toEqual(copy);
  });
});

describe('dryRunMigrations over a reader', () => {
  const records = [
    ...Array.from({ length: 40 }, (_, n) => ticketAt(`v1-${String(n).padStart(2, '0')}`, 1, n, n % 2 === 0 ? 'open' : 'held')),
    ...Array.from({ length: 40 }, (_, n) => ticketAt(`v2-${String(n).padStart(2, '0')}`, 2, n, n % 3 === 0 ? 'working' : 'open')),
    ...Array.from({ length: 5 }, (_, n) => stored(`ticket/v3-${n}`, withContext(states.v3.open, { count: n, owner: 'o' }))),
    stored('lamp/l1', states.lamp.off),
    stored('lamp/l2', { ...states.lamp.on, machineVersion: 2 }),
  ];
  const expected = records
    .flatMap((record) => {
      if (record.machine === 'lamp') return record.machineVersion === 1 ? [`${record.pk} no-migrate`] : [];
      const failure = expectedFailure(record.machineVersion, (record.snapshot.context as { n: number }).n);
      return failure ? [`${record.pk} ${failure}`] : [];
    })
    .sort();

  it('reads only the instances of another version, page by page, and reports exactly those that would fail', async () => {
    const reader = fakeReader(records);
    const report = await dryRunMigrations(reader, registry, { pageSize: 7, concurrency: 4 });

    expect(failureSet(report)).toEqual(expected);
    expect(report).toMatchObject({ listed: 87, checked: 81, wouldFail: expected.length, wouldMigrate: 81 - expected.length });
    const [lamp, tickets] = report.machines;
    expect(lamp).toEqual({
      machine: 'lamp',
      version: 2,
      listed: 2,
      current: 1,
      gone: 0,
      versions: [{ fromVersion: 1, checked: 1, wouldMigrate: 0, wouldFail: 1, reasons: { 'no-migrate': 1 } }],
    });
    // n in 0..39: v1 fails for 0, 7, 14, 21, 28, 35; v2 declines 0, 11, 22, 33 and misplaces 13, 26, 39.
    expect(tickets).toEqual({
      machine: 'ticket',
      version: 3,
      listed: 85,
      current: 5,
      gone: 0,
      versions: [
        { fromVersion: 1, checked: 40, wouldMigrate: 34, wouldFail: 6, reasons: { 'migrate-threw': 6 } },
        { fromVersion: 2, checked: 40, wouldMigrate: 33, wouldFail: 7, reasons: { 'migrate-declined': 4, 'snapshot-mismatch': 3 } },
      ],
    });
    expect(reader.reads.filter((key) => key.includes('/v3-') || key === 'lamp/l2')).toEqual([]);
    expect(reader.reads).toHaveLength(81);
    expect(reader.pages.filter((page) => page.machine === 'ticket')).toHaveLength(Math.ceil(85 / 7));
    const failure = report.failures.find((entry) => entry.key === 'ticket/v1-07');
    expect(failure).toEqual({
      key: 'ticket/v1-07',
      machine: 'ticket',
      id: 'v1-07',
      fromVersion: 1,
      toVersion: 3,
      reason: 'migrate-threw',
      code: 'unknown-machine-version',
      thrown: { name: 'BrokenMigrationError', message: 'cannot carry ticket n=7 over from v1' },
      message: expect.stringContaining("migrate() of machine 'ticket' threw BrokenMigrationError: cannot carry ticket n=7 over from v1"),
    });
    const order = (failure: MigrationReport['failures'][number]) =>
      `${failure.machine} ${String(failure.fromVersion).padStart(4, '0')} ${failure.key}`;
    const keys = report.failures.map(order);
    expect(keys).toEqual([...keys].sort());
  });

  it('keeps at most `concurrency` reads in flight', async () => {
    const reader = fakeReader(records, { readDelayMs: 2 });
    await dryRunMigrations(reader, registry, { concurrency: 3, machine: 'ticket' });
    expect(reader.maxInFlight).toBe(3);
  });

  it('reads an instance the index lists without a version, and counts one migrated since it was listed as current', async () => {
    const reader = fakeReader(records, { withVersion: false });
    const report = await dryRunMigrations(reader, registry, { machine: 'ticket' });
    expect(reader.reads).toHaveLength(85);
    expect(failureSet(report)).toEqual(expected.filter((entry) => entry.startsWith('ticket/')));
    expect(report.machines[0]).toMatchObject({ listed: 85, current: 5 });
  });

  it('counts an instance gone when read, and takes an instance listed twice (it moved in the index) once', async () => {
    const reader = fakeReader(records.slice(0, 10));
    const list = reader.list.bind(reader);
    // The second page repeats the first page's last instance, and the first page lists one deleted since.
    reader.list = async (options) => {
      const page = await list(options);
      if (options.cursor === undefined)
        return { ...page, items: [...page.items, { key: 'ticket/deleted', id: 'deleted', machineVersion: 1 }] };
      return { ...page, items: [...page.items, { key: 'ticket/v1-00', id: 'v1-00', machineVersion: 1 }] };
    };
    const report = await dryRunMigrations(reader, registry, { machine: 'ticket', pageSize: 5 });
    expect(report.machines[0]).toMatchObject({ listed: 11, gone: 1, current: 0 });
    expect(reader.reads.filter((key) => key === 'ticket/v1-00')).toHaveLength(1);
    expect(report.checked).toBe(10);
  });

  it('reports progress as pages are listed and instances checked', async () => {
    const seen: { listed: number; toCheck: number; checked: number; wouldFail: number }[] = [];
    await dryRunMigrations(fakeReader(records), registry, {
      machine: 'ticket',
      pageSize: 50,
      onProgress: (progress) => seen.push(progress),
    });
    expect(seen.at(-1)).toEqual({ machine: 'ticket', listed: 85, toCheck: 80, checked: 80, wouldFail: 13 });
    expect(seen.map((progress) => progress.checked)).toEqual([...seen.map((progress) => progress.checked)].sort((a, b) => a - b));
  });

  it('refuses an unknown machine and bad options; a failed read stops the run', async () => {
    await expect(dryRunMigrations(fakeReader(records), registry, { machine: 'lights' })).rejects.toThrow(
      "No machine 'lights' in the registry: it has ticket, lamp.",
    );
    await expect(dryRunMigrations(fakeReader(records), registry, { concurrency: 0 })).rejects.toThrow('concurrency must be');
    await expect(dryRunMigrations(fakeReader(records), registry, { pageSize: 1001 })).rejects.toThrow('pageSize must be');
    const reader = fakeReader(records);
    reader.record = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(dryRunMigrations(reader, registry)).rejects.toThrow('ProvisionedThroughputExceededException');
  });

  it('checks instances of a newer version too: a registry rolled back', async () => {
    const report = await dryRunMigrations(fakeReader(records), deployedRegistry as MachineRegistry, { machine: 'lamp' });
    expect(report).toMatchObject({ listed: 2, checked: 1, wouldFail: 1 }); // lamp/l2 is v2: newer than the deployed v1
    expect(report.failures.map((failure) => [failure.key, failure.fromVersion, failure.toVersion, failure.reason])).toEqual([
      ['lamp/l2', 2, 1, 'no-migrate'],
    ]);
  });
});

/**
 * The "Done when": the migration dry run over 10,000 stored instances of two versions reports exactly those a
 * deliberately broken migrate() fails. The instances are written straight into the local stack's table as the worker
 * writes them (buildRecord → DynamoStore), not sent through SQS.
 */
describe('on the local stack: 10,000 stored tickets of v1 and v2', () => {
  const root = join(import.meta.dirname, '..', '..');
  const folder = mkdtempSync(join(tmpdir(), 'settle-migrate-'));
  const devFile = join(folder, 'dev.json');
  const stackOf = () => stack;
  let stack: LocalStack;
  /** Every seeded instance that should fail, with its reason. */
  const expected = new Map<string, FailureReason>();
  const seededVersions = new Map<string, number>();
  let seedSeconds = 0;

  async function scanTable(): Promise<Map<string, string>> {
    const items = new Map<string, string>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await stackOf().clients.document.send(new ScanCommand({ TableName: stackOf().tableName, ExclusiveStartKey: startKey }));
      for (const item of page.Items ?? []) items.set(String(item.pk), JSON.stringify(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  async function objectKeys(): Promise<string[]> {
    const listed = await stackOf().clients.s3.send(new ListObjectsV2Command({ Bucket: stackOf().bucketName }));
    return (listed.Contents ?? []).map((object) => `${object.Key} ${object.ETag}`).sort();
  }

  beforeAll(async () => {
    stack = await startLocalStack({ registry: deployedRegistry, logger: silentLogger, sweeper: null });
    const started = performance.now();
    // A seeded generator: the same 10,000 instances on every run.
    let seed = 0x5e771e;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const records: InstanceRecord[] = [];
    for (let i = 0; i < 10_000; i += 1) {
      const version = random() < 0.5 ? 1 : 2;
      const n = Math.floor(random() * 100_000);
      const state = version === 1 ? (random() < 0.5 ? 'open' : 'held') : (['open', 'paused', 'working'] as const)[Math.floor(random() * 3)];
      // Each saved a millisecond apart, as real writes are: dynalite tells apart index entries with one sort key by
      // 24 bits of a hash of their pk, so thousands saved in the same millisecond would lose some from the index.
      const record = { ...ticketAt(`t${String(i).padStart(5, '0')}`, version, n, state), updatedAt: new Date(now + i).toISOString() };
      records.push(record);
      seededVersions.set(record.pk, version);
      const failure = expectedFailure(version, n);
      if (failure) expected.set(record.pk, failure);
    }
    // Current ones, never read; and a machine with no migrate() whose v1 instances all fail.
    for (let i = 0; i < 200; i += 1) records.push(stored(`ticket/current-${i}`, withContext(states.v3.open, { count: i, owner: 'o' })));
    for (let i = 0; i < 20; i += 1) {
      const record = stored(`lamp/l${i}`, i % 2 === 0 ? states.lamp.off : states.lamp.on);
      records.push(record);
      expected.set(record.pk, 'no-migrate');
    }
    const store = new DynamoStore(stack.tableName, stack.clients.document);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let record = records[next++]; record; record = records[next++]) await store.write(record, undefined);
      }),
    );
    // Three v1 tickets whose snapshots are offloaded to the payload bucket; one of those objects then goes missing.
    const offloading = new DynamoStore(stack.tableName, stack.clients.document, { payloads: stack.payloads, aboveBytes: 0 });
    for (const [id, n] of [
      ['big-1', 5],
      ['big-2', 49],
      ['big-3', 8],
    ] as const) {
      const record = stored(`ticket/${id}`, withContext(states.v1.held, { n, pad: noise(8000) }));
      const saved = await offloading.write(record, undefined);
      expect(saved.snapshotRef, `${id} offloaded`).toBeDefined();
      seededVersions.set(record.pk, 1);
      if (id === 'big-3') {
        await stack.clients.s3.send(new DeleteObjectCommand({ Bucket: stack.bucketName, Key: saved.snapshotRef?.key }));
        expected.set(record.pk, 'unreadable-snapshot');
      } else if (expectedFailure(1, n)) {
        expected.set(record.pk, 'migrate-threw');
      }
    }
    seedSeconds = (performance.now() - started) / 1000;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('reports exactly the instances the broken migrate() fails, with counts per version, and changes nothing', async () => {
    const tableBefore = await scanTable();
    const objectsBefore = await objectKeys();
    const runsBefore = workRuns.count;
    expect(tableBefore.size).toBe(10_000 + 200 + 20 + 3);

    const started = performance.now();
    const report = await dryRunMigrations(stackReader(stack.client(), stack.clients.document, stack.tableName, true), registry, {
      concurrency: 16,
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `migrate dry run: seeded ${tableBefore.size} items in ${seedSeconds.toFixed(1)} s; checked ${report.checked} of ${report.listed} ` +
        `listed in ${seconds.toFixed(1)} s (${Math.round(report.checked / seconds)} instances/s); ${report.wouldFail} would fail`,
    );

    expect(failureSet(report)).toEqual([...expected].map(([key, reason]) => `${key} ${reason}`).sort());
    expect(report.listed).toBe(10_223);
    expect(report.checked).toBe(10_023);
    const tickets = report.machines.find((machine) => machine.machine === 'ticket');
    const perVersion = (version: number) => {
      const keys = [...seededVersions].filter(([key, seeded]) => key.startsWith('ticket/') && seeded === version).map(([key]) => key);
      const failing = keys.filter((key) => expected.has(key));
      const reasons: Partial<Record<FailureReason, number>> = {};
      for (const key of failing) reasons[expected.get(key) as FailureReason] = (reasons[expected.get(key) as FailureReason] ?? 0) + 1;
      return { fromVersion: version, checked: keys.length, wouldMigrate: keys.length - failing.length, wouldFail: failing.length, reasons };
    };
    expect(tickets).toEqual({
      machine: 'ticket',
      version: 3,
      listed: 10_203,
      current: 200,
      gone: 0,
      versions: [perVersion(1), perVersion(2)],
    });
    expect(tickets?.versions[0]?.reasons['migrate-threw']).toBeGreaterThan(300);
    expect(tickets?.versions[1]?.reasons['migrate-declined']).toBeGreaterThan(300);
    expect(tickets?.versions[1]?.reasons['snapshot-mismatch']).toBeGreaterThan(300);
    expect(report.failures.find((failure) => failure.key === 'ticket/big-3')).toMatchObject({ code: 'payload-missing' });

    // How long it took is printed above, not asserted: speed is measured in benchmarks, never in timed tests.
    // Read-only: every item as it was (version, updatedAt, snapshot: all of it), the bucket unchanged, no actor started.
    const tableAfter = await scanTable();
    expect([...tableAfter].filter(([pk, item]) => tableBefore.get(pk) !== item).map(([pk]) => pk)).toEqual([]);
    expect(tableAfter.size).toBe(tableBefore.size);
    expect(await objectKeys()).toEqual(objectsBefore);
    expect(workRuns.count).toBe(runsBefore);
  }, 240_000);

  describe('settle migrate, as a user runs it', () => {
    const nextRegistry = join(import.meta.dirname, 'fixtures', 'migrate-registry.ts');
    const currentRegistry = join(import.meta.dirname, 'fixtures', 'migrate-registry-deployed.ts');

    /** `settle migrate <args>` in a new Node process, connected to the stack as to a running `settle dev`. */
    function settle(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      // What `settle dev` writes; this test's process stands in for it (the file counts while its pid is alive).
      const discovery: DevDiscovery = {
        pid: process.pid,
        sqsEndpoint: stack.endpoints.sqs,
        dynamodbEndpoint: stack.endpoints.dynamodb,
        region: stack.env.AWS_REGION ?? 'us-east-1',
        queueUrl: stack.queueUrl,
        deadLetterQueueUrl: stack.deadLetterQueueUrl,
        tableName: stack.tableName,
        bucketName: stack.bucketName,
        registry: currentRegistry,
      };
      writeFileSync(devFile, JSON.stringify(discovery));
      return runSettle(['migrate', ...args], { env: shellEnv({ SETTLE_DEV_FILE: devFile }), cwd: root, timeoutMs: 90_000 });
    }

    it('--json: the same failures, exit code 5 (exitCodes.deadLettered)', async () => {
      const run = await settle(['--dry-run', '--registry', nextRegistry, '--json']);
      expect(run.code, run.stderr).toBe(exitCodes.deadLettered);
      expect(run.stderr).toBe('');
      const report = JSON.parse(run.stdout) as MigrationReport;
      expect(failureSet(report)).toEqual([...expected].map(([key, reason]) => `${key} ${reason}`).sort());
      expect(report).toMatchObject({ listed: 10_223, checked: 10_023, wouldFail: expected.size });
    }, 120_000);

    it('a table per machine and version, the first failures, a last line; a progress bar on stderr', async () => {
      const run = await settle(['--dry-run', '--registry', nextRegistry, '--machine', 'lamp']);
      expect(run.code, run.stderr).toBe(exitCodes.deadLettered);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^MACHINE\s+REGISTRY\s+SAVED BY\s+INSTANCES\s+WOULD MIGRATE\s+WOULD FAIL\s+REASONS$/);
      expect(lines[1]).toMatch(/^lamp\s+v2\s+current\s+0\s+-\s+-$/);
      expect(lines[2]).toMatch(/^lamp\s+v2\s+v1\s+20\s+0\s+20\s+no-migrate 20$/);
      expect(lines).toContainEqual(
        expect.stringMatching(/^lamp\/l0\s+v1\s+no-migrate\s+unknown-machine-version\s+machine 'lamp' has no migrate\(\)$/),
      );
      expect(lines.at(-1)).toBe(
        '20 instances listed; 20 instances of another version checked: 0 would migrate, 20 would fail (their next events would be dead-lettered with the code shown). Nothing was written.',
      );
      expect(run.stderr).toMatch(/checked \[.*\] 20\/20 100% \| listed 20 \| would fail 20/);
    }, 60_000);

    it('exit code 0 when every instance would migrate (or none is of another version)', async () => {
      const run = await settle(['--dry-run', '--registry', currentRegistry, '--machine', 'lamp']);
      expect(run.code, run.stderr).toBe(exitCodes.ok);
      expect(run.stdout.trimEnd().split('\n').at(-1)).toBe("20 instances listed, all at the registry's version: nothing to migrate.");
    }, 60_000);

    it('refuses without --dry-run, an unknown machine, and a missing registry: one line, exit code 2', async () => {
      const [noDryRun, unknown, noRegistry] = await Promise.all([
        settle(['--registry', nextRegistry]),
        settle(['--dry-run', '--registry', nextRegistry, '--machine', 'lights']),
        settle(['--dry-run']),
      ]);
      for (const run of [noDryRun, unknown, noRegistry]) {
        expect(run.code, run.stderr).toBe(exitCodes.usage);
        expect(run.stdout).toBe('');
        expect(run.stderr.trim().split('\n')).toHaveLength(1);
      }
      expect(noDryRun.stderr).toMatch(/^settle: migrate has only a dry run: pass --dry-run/);
      expect(unknown.stderr).toMatch(/No machine 'lights' in the registry/);
      expect(noRegistry.stderr).toMatch(/--registry <module>/);
    }, 60_000);
  });
});
