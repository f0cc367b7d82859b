/**
 * A DynamoDB client for the local stack's emulator that counts what the worker asks of it: calls by
 * command, the capacity the emulator reports (it is asked for with `ReturnConsumedCapacity`), the size
 * of every item written (DynamoDB's item-size rules), and the writes the sparse due index and the list index would take.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLocalClients, type LocalClients } from '../local/clients.ts';
import { tableDefinition } from '../runtime/core/resources.ts';

export interface WriteRecord {
  readonly pk: string;
  readonly bytes: number;
  /** Writes to the due index (KEYS_ONLY): 1 when the item enters or leaves it, 2 when its index key changes. */
  readonly indexWrites: number;
  /** Write units of the list index ({@link listIndexUnits}): the entry's KBs, twice when its key moves, none when unchanged. */
  readonly listIndexUnits: number;
}

export class StorageCounter {
  readonly calls = new Map<string, number>();
  readonly writes: WriteRecord[] = [];
  /** Item sizes of the reads (the size last written under that key; a miss counts 0 bytes). */
  readonly reads: number[] = [];
  consumedRead = 0;
  consumedWrite = 0;
  /** Calls that returned ConsumedCapacity: tells whether the emulator honours ReturnConsumedCapacity. */
  capacityReported = 0;
  private readonly sizes = new Map<string, number>();
  private readonly indexKeys = new Map<string, string | undefined>();
  private readonly listEntries = new Map<string, Record<string, unknown> | undefined>();

  count(command: string): number {
    return this.calls.get(command) ?? 0;
  }

  reset(): void {
    this.calls.clear();
    this.writes.length = 0;
    this.reads.length = 0;
    this.consumedRead = 0;
    this.consumedWrite = 0;
    this.capacityReported = 0;
  }

  onPut(item: Record<string, unknown>): void {
    const pk = String(item.pk);
    const bytes = itemBytes(item);
    const { partitionKey, sortKey } = tableDefinition.dueIndex;
    const shard = item[partitionKey.name];
    const at = item[sortKey.name];
    const key = shard !== undefined && at !== undefined ? `${String(shard)}|${String(at)}` : undefined;
    const before = this.indexKeys.get(pk);
    const indexWrites = before === key ? 0 : before === undefined || key === undefined ? 1 : 2;
    this.indexKeys.set(pk, key);
    this.sizes.set(pk, bytes);
    const entry = listIndexEntry(item);
    const { units: listUnits } = listIndexUnits(this.listEntries.get(pk), entry);
    this.listEntries.set(pk, entry);
    this.writes.push({ pk, bytes, indexWrites, listIndexUnits: listUnits });
  }

  onGet(pk: string): void {
    this.reads.push(this.sizes.get(pk) ?? 0);
  }
}

type Input = { Item?: Record<string, unknown>; Key?: Record<string, unknown>; RequestItems?: unknown; ReturnConsumedCapacity?: string };
type Output = { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] };

/** Adds the counting middleware to a DynamoDB client's stack (shared with a document client made from it). */
export function addCounter(stack: DynamoDBClient['middlewareStack'], counter: StorageCounter): void {
  stack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? 'unknown';
      counter.calls.set(command, counter.count(command) + 1);
      const input = { ...(args.input as Input) };
      if (command === 'GetItem' || command === 'PutItem') input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next({ ...args, input });
      const output = result.output as Output;
      const capacities = [output.ConsumedCapacity ?? []].flat();
      if (capacities.length > 0) counter.capacityReported += 1;
      for (const capacity of capacities) {
        if (command === 'GetItem') counter.consumedRead += capacity.CapacityUnits ?? 0;
        else counter.consumedWrite += capacity.CapacityUnits ?? 0;
      }
      // Counted once the call succeeded: a failed conditional write consumes capacity on AWS but stores nothing.
      if (command === 'PutItem' && input.Item) counter.onPut(input.Item);
      if (command === 'GetItem' && input.Key) counter.onGet(String(input.Key.pk));
      return result;
    },
    // Before the document client marshals: inputs and items are plain values here.
    { step: 'initialize', name: 'settleBenchStorageCounter', priority: 'high' },
  );
}

/** Clients on the local stack's emulators, the DynamoDB one counted. */
export function countedLocalClients(endpoints: { sqs: string; dynamodb: string }): LocalClients & { counter: StorageCounter } {
  const clients = createLocalClients({ sqsEndpoint: endpoints.sqs, dynamodbEndpoint: endpoints.dynamodb });
  const counter = new StorageCounter();
  addCounter(clients.dynamodb.middlewareStack, counter);
  return Object.assign(clients, { counter });
}

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * An item's size by DynamoDB's rules: attribute names plus values; strings in UTF-8, numbers about one
 * byte per two significant digits plus one, binary as is, booleans and null one byte, lists and maps
 * 3 bytes plus 1 per element. `undefined` attributes are dropped, as the worker's marshalling does.
 */
export function itemBytes(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) if (value !== undefined) size += utf8(name) + valueBytes(value);
  return size;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const digits = String(value).replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
    return Math.ceil(Math.max(1, digits) / 2) + 1;
  }
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value))
    return 3 + value.reduce<number>((sum, element) => sum + (element === undefined ? 0 : 1 + valueBytes(element)), 0);
  if (typeof value === 'object') {
    let size = 3;
    for (const [key, element] of Object.entries(value)) if (element !== undefined) size += 1 + utf8(key) + valueBytes(element);
    return size;
  }
  return 0;
}

/** The list index entry of an item as DynamoDB projects it (table key, index key, included attributes); none without the index key. */
export function listIndexEntry(item: Record<string, unknown>): Record<string, unknown> | undefined {
  const { listIndex, partitionKey } = tableDefinition;
  if (item[listIndex.partitionKey.name] === undefined || item[listIndex.sortKey.name] === undefined) return undefined;
  const names = [partitionKey.name, listIndex.partitionKey.name, listIndex.sortKey.name, ...listIndex.nonKeyAttributes];
  return Object.fromEntries(names.filter((name) => item[name] !== undefined).map((name) => [name, item[name]]));
}

/**
 * The list index write units of one item write, by DynamoDB's rules (CapacityUnitCalculations, GSI writes): a put of
 * the entry per KB when it appears or changes, a delete and a put when its key changes, nothing when no projected
 * attribute changed. (DynamoDB Local meters the same: bench/sections/list-index.ts checks it.)
 */
export function listIndexUnits(
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
): { units: number; keyChanged: boolean } {
  const { listIndex } = tableDefinition;
  const kilobytes = (entry: Record<string, unknown>) => Math.max(1, Math.ceil(itemBytes(entry) / 1024));
  if (before === undefined) return { units: after === undefined ? 0 : kilobytes(after), keyChanged: false };
  if (after === undefined) return { units: kilobytes(before), keyChanged: false };
  const key = (entry: Record<string, unknown>) => `${String(entry[listIndex.partitionKey.name])}|${String(entry[listIndex.sortKey.name])}`;
  if (key(before) !== key(after)) return { units: kilobytes(before) + kilobytes(after), keyChanged: true };
  if (JSON.stringify(before) === JSON.stringify(after)) return { units: 0, keyChanged: false };
  return { units: Math.max(kilobytes(before), kilobytes(after)), keyChanged: false };
}
