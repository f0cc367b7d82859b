import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RequestError } from '../runtime/core/errors.ts';
import { listShardKeys, sortPrefixesFor } from '../runtime/core/listing.ts';
import { tableDefinition } from '../runtime/core/resources.ts';
import { awsCall } from './aws-errors.ts';

/** What `list` filters on. Every filter is optional but the machine. */
export interface ListFilter {
  readonly machine: string;
  /** A state path: `review` matches every instance inside review, `review.legal.signed` only those there. */
  readonly state?: string;
  /** XState's snapshot status: `active`, `done`, `error`, `stopped`. */
  readonly status?: string;
  /** The outcome of the instance's last event: `resolve`, `reject`, `done`, `error`, `ignored`, `dead-lettered`. */
  readonly outcome?: string;
  /** Only instances whose last update is before this time (ISO 8601 or a Date). */
  readonly updatedBefore?: string | Date;
}

export interface ListOptions extends ListFilter {
  /** At most this many per page, 1–1,000. @default 50 */
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
}

/** One instance as the list index holds it: everything but context, timers and history. */
export interface InstanceSummary {
  readonly key: string;
  readonly machine: string;
  readonly id: string;
  readonly states: readonly string[];
  readonly status: string;
  readonly outcome: string | undefined;
  readonly tags: readonly string[];
  /** The last handled SQS SequenceNumber, as SQS wrote it. */
  readonly lastSeq: string;
  /** When its earliest timer is due (ISO), if it has one. */
  readonly wakeAt: string | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ListPage {
  /** Ordered by top-level state, then oldest update first. */
  readonly items: readonly InstanceSummary[];
  /** Pass it back for the next page; `undefined` on the last one. */
  readonly cursor: string | undefined;
}

type StartKey = Record<string, unknown>;
/** Where one stream (a shard, under one sort prefix) goes on from: a key, its start (`null`), or its end. */
type StreamPosition = StartKey | null | 'done';

interface Stream {
  readonly shard: string;
  readonly prefix: string;
}

const { listIndex } = tableDefinition;
const maxLimit = 1000;
const defaultLimit = 50;

/**
 * Lists a machine's instances through the list index (docs/DESIGN.md, "Listing"): each shard is queried in
 * parallel, under the sort prefixes the state can be under, the filters applied by DynamoDB; the shards' results
 * are merged in index order, and the cursor remembers where each shard stopped. No Scan.
 */
export async function listInstances(document: DynamoDBDocumentClient, tableName: string, options: ListOptions): Promise<ListPage> {
  const limit = options.limit ?? defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw new RequestError('invalid-option', `limit must be a whole number from 1 to ${maxLimit}, got ${limit}.`);
  }
  const filter = normalized(options);
  const prefixes = filter.state === undefined ? [''] : sortPrefixesFor(filter.state);
  const streams: Stream[] = listShardKeys(filter.machine).flatMap((shard) => prefixes.map((prefix) => ({ shard, prefix })));
  const positions =
    options.cursor === undefined ? streams.map((): StreamPosition => null) : decodeCursor(options.cursor, filter, streams.length);

  const fetched = await Promise.all(
    streams.map((stream, index) => fetchStream(document, tableName, stream, filter, positionAt(positions, index), limit)),
  );
  const taken = mergePage(
    fetched.map(({ items }) => items),
    limit,
  );
  const page = taken.flatMap((count, stream) => (fetched[stream]?.items ?? []).slice(0, count).map((item) => ({ stream, item })));
  page.sort((a, b) => compareKeys(a.item, b.item));

  const next = positions.map((position, stream): StreamPosition => {
    const fetchedHere = fetched[stream];
    const count = taken[stream] ?? 0;
    if (!fetchedHere || position === 'done') return 'done';
    if (count === fetchedHere.items.length && fetchedHere.exhausted) return 'done';
    // The last item taken in the stream's own order: a stream's items are only ever taken as a prefix.
    const last = fetchedHere.items[count - 1];
    return last ? keyOf(last) : position;
  });
  return {
    items: page.map(({ item }) => summaryOf(item)),
    cursor: next.every((position) => position === 'done') ? undefined : encodeCursor(filter, next),
  };
}

/**
 * Every instance that matches `filter`, at most `max`, in no particular order: each shard is read to its end in
 * parallel, without the ordered merge of {@link listInstances} — what counts over a whole machine need.
 */
export async function listAllInstances(
  document: DynamoDBDocumentClient,
  tableName: string,
  filter: ListFilter,
  max = 100_000,
): Promise<InstanceSummary[]> {
  const normalizedFilter = normalized(filter);
  const prefixes = normalizedFilter.state === undefined ? [''] : sortPrefixesFor(normalizedFilter.state);
  const streams = listShardKeys(normalizedFilter.machine).flatMap((shard) => prefixes.map((prefix) => ({ shard, prefix })));
  const perStream = Math.ceil(max / streams.length);
  const fetched = await Promise.all(streams.map((stream) => fetchStream(document, tableName, stream, normalizedFilter, null, perStream)));
  return fetched.flatMap(({ items }) => items.map(summaryOf)).slice(0, max);
}

interface Normalized {
  readonly machine: string;
  readonly state: string | undefined;
  readonly status: string | undefined;
  readonly outcome: string | undefined;
  readonly updatedBefore: string | undefined;
}

function normalized(options: ListFilter): Normalized {
  const problems: string[] = [];
  if (!/^[a-z0-9-]+$/.test(options.machine)) problems.push(`machine '${options.machine}' is not a machine name ([a-z0-9-]+)`);
  if (options.state !== undefined && !/^[^.]+(\.[^.]+)*$/.test(options.state)) {
    problems.push(`state '${options.state}' is not a state path (names joined by dots, e.g. review.legal)`);
  }
  let updatedBefore: string | undefined;
  if (options.updatedBefore !== undefined) {
    const time = options.updatedBefore instanceof Date ? options.updatedBefore : new Date(options.updatedBefore);
    if (Number.isNaN(time.getTime())) problems.push(`updatedBefore '${String(options.updatedBefore)}' is not a time (use ISO 8601)`);
    else updatedBefore = time.toISOString();
  }
  if (problems.length > 0) throw new RequestError('invalid-option', `Cannot list: ${problems.join('; ')}.`);
  return { machine: options.machine, state: options.state, status: options.status, outcome: options.outcome, updatedBefore };
}

/** Reads one stream from `position` until it has `limit` matches or ends. */
async function fetchStream(
  document: DynamoDBDocumentClient,
  tableName: string,
  stream: Stream,
  filter: Normalized,
  position: StreamPosition,
  limit: number,
): Promise<{ items: Record<string, unknown>[]; exhausted: boolean }> {
  if (position === 'done') return { items: [], exhausted: true };
  const names: Record<string, string> = { '#shard': listIndex.partitionKey.name };
  const values: Record<string, unknown> = { ':shard': stream.shard };
  let keyCondition = '#shard = :shard';
  if (stream.prefix !== '') {
    names['#sort'] = listIndex.sortKey.name;
    if (filter.updatedBefore === undefined) {
      keyCondition += ' AND begins_with(#sort, :prefix)';
      values[':prefix'] = stream.prefix;
    } else {
      keyCondition += ' AND #sort BETWEEN :low AND :high';
      values[':low'] = stream.prefix;
      values[':high'] = `${stream.prefix}${filter.updatedBefore}`;
    }
  }
  const conditions: string[] = [];
  const add = (field: string, expression: (name: string, value: string) => string, value: string | undefined) => {
    if (value === undefined) return;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    conditions.push(expression(`#${field}`, `:${field}`));
  };
  add('inStates', (name, value) => `contains(${name}, ${value})`, filter.state);
  add('status', (name, value) => `${name} = ${value}`, filter.status);
  add('outcome', (name, value) => `${name} = ${value}`, filter.outcome);
  add('updatedAt', (name, value) => `${name} < ${value}`, filter.updatedBefore);

  const items: Record<string, unknown>[] = [];
  let startKey = position ?? undefined;
  do {
    const page = await awsCall(`list the instances of ${filter.machine}`, () =>
      document.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: listIndex.name,
          KeyConditionExpression: keyCondition,
          ...(conditions.length > 0 ? { FilterExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: startKey,
          Limit: Math.min(Math.max(limit, 25), 1000),
        }),
      ),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined && items.length < limit);
  return { items, exhausted: startKey === undefined };
}

/**
 * How many items of each stream the page takes: a k-way merge over the streams' heads, so that each stream gives
 * a prefix of its items in the index's own order (items with the same sort key may come in any order of pk).
 */
function mergePage(streams: readonly (readonly Record<string, unknown>[])[], limit: number): number[] {
  const taken = streams.map(() => 0);
  for (let count = 0; count < limit; count += 1) {
    let best: number | undefined;
    for (const [stream, items] of streams.entries()) {
      const head = items[taken[stream] ?? 0];
      const bestHead = best === undefined ? undefined : streams[best]?.[taken[best] ?? 0];
      if (head && (!bestHead || compareKeys(head, bestHead) < 0)) best = stream;
    }
    if (best === undefined) break;
    taken[best] = (taken[best] ?? 0) + 1;
  }
  return taken;
}

/** A stream's position (`null`, its start, is a position: not a missing one). */
function positionAt(positions: readonly StreamPosition[], index: number): StreamPosition {
  const position = positions[index];
  return position === undefined ? 'done' : position;
}

function compareKeys(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const sortA = String(a[listIndex.sortKey.name]);
  const sortB = String(b[listIndex.sortKey.name]);
  if (sortA !== sortB) return sortA < sortB ? -1 : 1;
  return String(a.pk) < String(b.pk) ? -1 : String(a.pk) > String(b.pk) ? 1 : 0;
}

function keyOf(item: Record<string, unknown>): StartKey {
  return {
    pk: item.pk,
    [listIndex.partitionKey.name]: item[listIndex.partitionKey.name],
    [listIndex.sortKey.name]: item[listIndex.sortKey.name],
  };
}

function summaryOf(item: Record<string, unknown>): InstanceSummary {
  const key = String(item.pk);
  const strings = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return {
    key,
    machine: String(item.machine),
    id: key.slice(key.indexOf('/') + 1),
    states: strings(item.states),
    status: String(item.status),
    outcome: item.outcome === undefined ? undefined : String(item.outcome),
    tags: strings(item.tags),
    lastSeq: String(item.lastSeq),
    wakeAt: typeof item.wakeAt === 'number' ? new Date(item.wakeAt).toISOString() : undefined,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
  };
}

/** The cursor: where each stream stopped, bound to the filter it was made for. */
function encodeCursor(filter: Normalized, positions: readonly StreamPosition[]): string {
  return Buffer.from(JSON.stringify({ filter, positions })).toString('base64url');
}

function decodeCursor(cursor: string, filter: Normalized, streams: number): StreamPosition[] {
  let decoded: { filter?: unknown; positions?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof decoded;
  } catch {
    decoded = {};
  }
  const positions = decoded.positions;
  if (!Array.isArray(positions) || positions.length !== streams) {
    throw new RequestError('invalid-option', 'The cursor is not one this client made: pass the cursor of the previous page as it came.');
  }
  if (JSON.stringify(decoded.filter) !== JSON.stringify(filter)) {
    throw new RequestError(
      'invalid-option',
      'The cursor was made for other filters: list with the same machine, state, status, outcome and time.',
    );
  }
  return positions as StreamPosition[];
}
