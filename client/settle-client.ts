import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ContextFrom, StateValue } from 'xstate';
import { createDocumentClient } from '../runtime/aws/dynamo-store.ts';
import type { EventObject } from 'xstate';
import { type CallbackOptions, makeCallbackUrl, secretValue } from '../api/callbacks.ts';
import { PermanentError, RequestError, WaitTimeoutError } from '../runtime/core/errors.ts';
import { shardOf } from '../runtime/core/instance-key.ts';
import { maxEventBytes } from '../runtime/core/event.ts';
import { defaults } from '../runtime/core/config.ts';
import { shownType } from '../runtime/core/event.ts';
import type { InstanceKey } from '../runtime/core/instance-key.ts';
import { loadRecord, type StoredItem } from '../runtime/core/item.ts';
import { maxOffloadedEventBytes, offloadEvent, type PayloadStore, resolveBody } from '../runtime/core/payloads.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import type { Outcome } from '../runtime/core/settled.ts';
import type { HistoryEntry, InstanceRecord } from '../runtime/core/store.ts';
import { awsCall } from './aws-errors.ts';
import { connectionClients, resolveConnection, type ConnectionOptions, type SettleConnection } from './connection.ts';
import { DeadLetterBox } from './dead-letter-box.ts';
import { checkOutgoing, type EventOf, instanceKeyOf, type MachineName } from './events.ts';
import { type InstanceSummary, type ListFilter, listAllInstances, listInstances, type ListOptions, type ListPage } from './list-query.ts';

export interface SettleClientOptions<R extends MachineRegistry> {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  /**
   * The registry the worker runs. Optional; with it the client refuses, before sending, an event for an unknown
   * machine, of a type no state takes, or that `validateEvent` rejects.
   */
  readonly registry?: R;
  /** @default a client from the SDK's standard settings */
  readonly sqs?: SQSClient;
  /** @default a document client from the SDK's standard settings */
  readonly dynamodb?: DynamoDBDocumentClient;
  /** The stack's HTTP API, for {@link SettleClient.callbackUrl}: its URL and its signing key (or the key's secret). */
  readonly api?: SettleConnection['api'];
  /** The region of the stack, for reading the callback key's secret. */
  readonly region?: string | undefined;
  /**
   * The stack's payload bucket (docs/DESIGN.md, "Large payloads"): events over `eventOffloadBytes` go there and
   * travel as a claim check, and offloaded snapshots are read from it. Without it an event must fit SQS (256 KiB).
   */
  readonly payloads?: PayloadStore | undefined;
  /** @default defaults.eventOffloadBytes (200 KiB) */
  readonly eventOffloadBytes?: number;
}

export interface SendOptions {
  /**
   * SQS drops a message whose deduplication id it saw in the last 5 minutes. Pass the same id to retry a send
   * whose answer was lost; by default every call gets a fresh one.
   */
  readonly deduplicationId?: string;
}

export interface SendResult {
  readonly instanceKey: string;
  /** SQS's SequenceNumber, as SQS wrote it: the instance's history and `lastSeq` show the same string. */
  readonly sequenceNumber: string;
  readonly messageId: string;
  readonly deduplicationId: string;
}

/** One event of a bulk send. */
export type OutgoingEvent<R extends MachineRegistry = MachineRegistry> = {
  [M in MachineName<R>]: { readonly machine: M; readonly id: string; readonly event: EventOf<R, M>; readonly deduplicationId?: string };
}[MachineName<R>];

export interface SendManyOptions {
  /** Batches in flight at once; each instance's events always go through one lane, in order. @default 8 */
  readonly concurrency?: number;
  /** Called as batches are accepted, with the number of events sent so far. */
  readonly onProgress?: (sent: number) => void;
}

export interface WaitOptions {
  /** @default 30,000 */
  readonly timeoutMs?: number;
}

/** How an event ended: the instance's history entry for it, and the instance's settled state after it. */
export type EventOutcome = Outcome | 'dead-lettered';

/** Where an instance rests: its settled machine state. */
export interface SettledState<C = unknown> {
  readonly value: StateValue;
  /** Every active state as a dot path, one per region. */
  readonly states: readonly string[];
  readonly context: C;
  readonly tags: readonly string[];
  /** XState's status: `active`, `done`, `error`. */
  readonly status: string;
}

export interface EventResult<C = unknown> extends SettledState<C> {
  readonly instanceKey: string;
  readonly sequenceNumber: string;
  readonly outcome: EventOutcome;
  /** For a dead-lettered event: its `settle-error` code and the start of its reason (the letter has all of it). */
  readonly deadLetter?: { readonly code: string; readonly reason: string };
}

/** A pending durable timer. */
export interface TimerView {
  /** The delayed event's id (for `after`, XState's event type). */
  readonly id: string;
  readonly eventType: string;
  /** When it is due (ISO). */
  readonly fireAt: string;
  /** For a delayed `sendTo` a child: the child's id. */
  readonly target?: string;
}

/** Everything stored about one instance, read at once. */
export interface InstanceView<C = unknown> extends SettledState<C> {
  readonly key: string;
  readonly machine: string;
  readonly id: string;
  readonly machineVersion: number;
  /** The outcome of the last event. */
  readonly outcome: EventOutcome | undefined;
  /** The last handled SequenceNumber, as SQS wrote it. */
  readonly lastSeq: string;
  readonly timers: readonly TimerView[];
  /** The last events, oldest first. */
  readonly history: readonly HistoryEntry[];
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The item's version: it counts writes. */
  readonly version: number;
}

type ContextOf<R extends MachineRegistry, M extends keyof R> = ContextFrom<R[M]['machine']>;

const pollFirstMs = 50;
const pollMaxMs = 500;

/**
 * Sends events to Settle instances and reads them back, over the AWS SDK: the same code against a deployed
 * stack and the local one. Typed by the registry: `new SettleClient<typeof registry>(…)` makes an event of
 * a shape the machine does not declare a compile error.
 *
 * @example
 * const client = new SettleClient({ ...connection, registry });
 * const result = await client.sendAndWait('approval', 'doc-17', { type: 'SUBMIT', by: 'eve' });
 * // result.outcome === 'resolve', result.states === ['review.legal.pending', 'review.finance.checking']
 */
export class SettleClient<R extends MachineRegistry = MachineRegistry> {
  /** The dead-letter queue: browse it, redrive letters safely. */
  readonly deadLetters: DeadLetterBox;
  private readonly sqs: SQSClient;
  private callbackKey: Promise<string> | undefined;
  private readonly dynamodb: DynamoDBDocumentClient;

  /**
   * A client for the stack `options` names (see {@link resolveConnection}): `--stack`, the SETTLE_* settings, or
   * a `settle dev` running on this machine.
   */
  static async connect<R extends MachineRegistry = MachineRegistry>(
    options: ConnectionOptions = {},
    registry?: R,
  ): Promise<SettleClient<R>> {
    return SettleClient.over(await resolveConnection(options), registry);
  }

  /** A client over a connection already resolved, with its SDK clients and payload bucket (connectionClients). */
  static over<R extends MachineRegistry = MachineRegistry>(connection: SettleConnection, registry?: R): SettleClient<R> {
    const { sqs, dynamodb, payloads } = connectionClients(connection);
    return new SettleClient<R>({ ...connection, sqs, dynamodb, payloads, ...(registry ? { registry } : {}) });
  }

  constructor(private readonly options: SettleClientOptions<R>) {
    const offloadAbove = options.eventOffloadBytes;
    if (offloadAbove !== undefined && (!Number.isSafeInteger(offloadAbove) || offloadAbove < 0 || offloadAbove > maxEventBytes)) {
      throw new RequestError(
        'invalid-option',
        `eventOffloadBytes must be a whole number from 0 to ${maxEventBytes} (SQS's limit), got ${offloadAbove}.`,
      );
    }
    this.sqs = options.sqs ?? new SQSClient({});
    this.dynamodb = options.dynamodb ?? createDocumentClient(new DynamoDBClient({}));
    this.deadLetters = new DeadLetterBox(
      this.sqs,
      options.deadLetterQueueUrl,
      options.queueUrl,
      (key) => this.read(key),
      options.registry,
      async (key, body) => (await resolveBody(body, key, options.payloads)).body,
    );
  }

  /** Queues an event for `<machine>/<id>`; the worker applies it in order. Nothing is sent if it is invalid. */
  async send<M extends MachineName<R>>(machine: M, id: string, event: EventOf<R, M>, options: SendOptions = {}): Promise<SendResult> {
    const { key, body, type } = await this.outgoing(`${machine}/${id}`, event);
    const deduplicationId = options.deduplicationId ?? randomUUID();
    const sent = await awsCall(`send '${type.slice(0, 128)}' to ${key.key}`, () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.options.queueUrl,
          MessageGroupId: key.key,
          MessageDeduplicationId: deduplicationId,
          MessageBody: body,
        }),
      ),
    );
    if (!sent.SequenceNumber || !sent.MessageId)
      throw new Error(`SQS answered without a SequenceNumber: is ${this.options.queueUrl} a FIFO queue?`);
    return { instanceKey: key.key, sequenceNumber: sent.SequenceNumber, messageId: sent.MessageId, deduplicationId };
  }

  /**
   * Sends many events, checked all first (nothing is sent if one is invalid), in batches of up to 10 with
   * `concurrency` batches in flight. Each instance's events keep their order. Returns one result per event, in
   * the order given.
   */
  async sendMany(events: readonly OutgoingEvent<R>[], options: SendManyOptions = {}): Promise<SendResult[]> {
    const checked = events.map((entry, index) => {
      try {
        const { key, body, type } = this.checked(`${entry.machine}/${entry.id}`, entry.event);
        return { index, key: key.key, body, type, deduplicationId: entry.deduplicationId ?? randomUUID() };
      } catch (error) {
        (error as Error).message = `Event ${index + 1}: ${(error as Error).message}`;
        throw error;
      }
    });
    // Checked all first; then the large ones go to the bucket, one after another (each is up to 10 MiB).
    for (const entry of checked) entry.body = await this.claimCheck(entry.key, entry.body, entry.type);
    const concurrency = options.concurrency ?? 8;
    // Each event goes to lane shardOf(key, concurrency): with no whole number of lanes it would go nowhere, unsent.
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RequestError('invalid-option', `concurrency must be a whole number of at least 1, got ${concurrency}.`);
    }
    const lanes: (typeof checked)[] = Array.from({ length: concurrency }, () => []);
    for (const entry of checked) lanes[shardOf(entry.key, concurrency)]?.push(entry);
    const results: SendResult[] = new Array(checked.length);
    let sent = 0;
    await Promise.all(
      lanes.map(async (lane) => {
        for (const batch of batches(lane)) {
          let pending = batch;
          for (let attempt = 1; pending.length > 0; attempt += 1) {
            const answer = await awsCall(`send ${pending.length} events`, () =>
              this.sqs.send(
                new SendMessageBatchCommand({
                  QueueUrl: this.options.queueUrl,
                  Entries: pending.map((entry) => ({
                    Id: String(entry.index),
                    MessageGroupId: entry.key,
                    MessageDeduplicationId: entry.deduplicationId,
                    MessageBody: entry.body,
                  })),
                }),
              ),
            );
            for (const ok of answer.Successful ?? []) {
              const entry = checked[Number(ok.Id)];
              if (!entry || !ok.SequenceNumber || !ok.MessageId) continue;
              results[entry.index] = {
                instanceKey: entry.key,
                sequenceNumber: ok.SequenceNumber,
                messageId: ok.MessageId,
                deduplicationId: entry.deduplicationId,
              };
              sent += 1;
            }
            options.onProgress?.(sent);
            const failed = new Set((answer.Failed ?? []).map((failure) => failure.Id));
            pending = pending.filter((entry) => failed.has(String(entry.index)));
            if (pending.length > 0 && attempt >= 3) {
              const first = answer.Failed?.[0];
              throw new Error(
                `SQS refused ${pending.length} events three times (${first?.Code}: ${first?.Message}); the first is event ${(pending[0]?.index ?? 0) + 1} ` +
                  `for ${pending[0]?.key}. ${sent} events were sent; send the rest again with the same deduplication ids.`,
              );
            }
          }
        }
      }),
    );
    return results;
  }

  /**
   * Sends an event and waits until the instance has handled it — applied, ignored or dead-lettered — then
   * answers with the settled state. Throws {@link WaitTimeoutError} after `timeoutMs` (the event stays queued).
   */
  async sendAndWait<M extends MachineName<R>>(
    machine: M,
    id: string,
    event: EventOf<R, M>,
    options: SendOptions & WaitOptions = {},
  ): Promise<EventResult<ContextOf<R, M>>> {
    const sent = await this.send(machine, id, event, options);
    return this.waitFor(sent.instanceKey, sent.sequenceNumber, options) as Promise<EventResult<ContextOf<R, M>>>;
  }

  /** Waits until `instanceKey` has handled the event SQS numbered `sequenceNumber`. */
  async waitFor(instanceKey: string, sequenceNumber: string, options: WaitOptions = {}): Promise<EventResult> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const wanted = BigInt(sequenceNumber);
    for (let pause = pollFirstMs; ; pause = Math.min(pollMaxMs, pause * 2)) {
      const record = await this.read(instanceKey);
      if (record && BigInt(record.lastSeq) >= wanted) return resultOf(record, sequenceNumber);
      const left = deadline - Date.now();
      if (left <= 0) throw new WaitTimeoutError(instanceKey, sequenceNumber, timeoutMs, record !== undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }

  /** The instance as stored, or `undefined` if it has handled no event yet. */
  async get<M extends MachineName<R>>(machine: M, id: string): Promise<InstanceView<ContextOf<R, M>> | undefined> {
    const record = await this.read(instanceKeyOf(`${machine}/${id}`).key);
    return record && (viewOf(record) as InstanceView<ContextOf<R, M>>);
  }

  /** Its last events (the worker keeps SETTLE_HISTORY_LIMIT, 20 by default), oldest first. */
  async history(machine: MachineName<R>, id: string): Promise<readonly HistoryEntry[]> {
    return (await this.get(machine, id))?.history ?? [];
  }

  /** Its pending durable timers, earliest first. */
  async timers(machine: MachineName<R>, id: string): Promise<readonly TimerView[]> {
    return (await this.get(machine, id))?.timers ?? [];
  }

  /**
   * The instance's stored record as the worker reads it (its snapshot fetched from the payload bucket when offloaded;
   * a snapshot that cannot be had is in `unreadableSnapshot`), or `undefined` if it has handled no event yet. For
   * tools that check stored state against a registry (`settle migrate --dry-run`); {@link get} is the view for people.
   */
  record(machine: MachineName<R>, id: string): Promise<InstanceRecord | undefined> {
    return this.read(instanceKeyOf(`${machine}/${id}`).key);
  }

  /** A page of a machine's instances, filtered by state, status, outcome or age, through the list index. */
  list(options: ListOptions & { readonly machine: MachineName<R> }): Promise<ListPage> {
    return listInstances(this.dynamodb, this.options.tableName, options);
  }

  /**
   * Every instance matching the filter (at most `max`, 100,000 by default), unordered: the shards are read in
   * parallel to their end. For counts over a machine; page with {@link list} to show them.
   */
  listAll(filter: ListFilter & { readonly machine: MachineName<R> }, max?: number): Promise<InstanceSummary[]> {
    return listAllInstances(this.dynamodb, this.options.tableName, filter, max);
  }

  /**
   * A link that sends `event` to `<machine>/<id>` when followed: GET shows what it does, POST does it (README,
   * "HTTP API and callback links"). Reads the signing key from the stack's secret once (or takes the local one).
   */
  async callbackUrl<M extends MachineName<R>>(machine: M, id: string, event: EventOf<R, M>, options: CallbackOptions): Promise<string> {
    const { api } = this.options;
    if (!api || (!api.callbackKey && !api.callbackSecretArn)) {
      throw new RequestError(
        'not-configured',
        'This stack has no HTTP API to make callback links for (its construct has api: false, or settle dev was started without one).',
      );
    }
    const { key } = checkOutgoing(`${machine}/${id}`, event, this.options.registry);
    this.callbackKey ??= api.callbackKey ? Promise.resolve(api.callbackKey) : secretValue(api.callbackSecretArn ?? '', this.options.region);
    return makeCallbackUrl(api.url, await this.callbackKey, key.key, event as EventObject & Record<string, unknown>, options);
  }

  /** The same client, checking events against another registry (the SDK clients are shared). */
  withRegistry<S extends MachineRegistry>(registry: S): SettleClient<S> {
    return new SettleClient<S>({ ...this.options, sqs: this.sqs, dynamodb: this.dynamodb, registry });
  }

  /** The most an event may take, as JSON: SQS's limit, or with the payload bucket an offloaded event's. */
  get maxEventBytes(): number {
    return this.options.payloads ? maxOffloadedEventBytes : maxEventBytes;
  }

  /** Checks an event (see checkOutgoing) and returns the body to send: itself, or a claim check for it. */
  private async outgoing(instanceKey: string, event: unknown): Promise<{ key: InstanceKey; body: string; type: string }> {
    const { key, body, type } = this.checked(instanceKey, event);
    return { key, body: await this.claimCheck(key.key, body, type), type };
  }

  /** checkOutgoing with this client's size limit; an event too large for SQS says what this client lacks. */
  private checked(instanceKey: string, event: unknown): ReturnType<typeof checkOutgoing> {
    try {
      return checkOutgoing(instanceKey, event, this.options.registry, this.maxEventBytes);
    } catch (error) {
      if (this.options.payloads || !(error instanceof PermanentError) || error.code !== 'event-too-large') throw error;
      throw new PermanentError(
        'event-too-large',
        `${error.message.slice(0, error.message.indexOf(' Send '))} This client has no payload bucket to put it in: connect with --stack ` +
          '(its SettleBucketName output), or pass --bucket / SETTLE_BUCKET (SettleClient: `payloads`).',
        { instanceKey: error.instanceKey },
      );
    }
  }

  /** A body over `eventOffloadBytes` put in the payload bucket, and the pointer to send in its place. */
  private async claimCheck(instanceKey: string, body: string, type: string): Promise<string> {
    const { payloads } = this.options;
    if (!payloads || Buffer.byteLength(body) <= (this.options.eventOffloadBytes ?? defaults.eventOffloadBytes)) return body;
    return awsCall(`put a ${Buffer.byteLength(body)}-byte event for ${instanceKey} in s3://${payloads.bucket}`, () =>
      offloadEvent(payloads, instanceKey, body, shownType(type)),
    );
  }

  /** Closes the SDK clients' sockets. */
  destroy(): void {
    this.sqs.destroy();
    this.dynamodb.destroy();
  }

  private async read(instanceKey: string): Promise<InstanceRecord | undefined> {
    const { Item } = await awsCall(`read ${instanceKey}`, () =>
      this.dynamodb.send(new GetCommand({ TableName: this.options.tableName, Key: { pk: instanceKey }, ConsistentRead: true })),
    );
    return Item ? loadRecord(Item as StoredItem, this.options.payloads) : undefined;
  }
}

function viewOf(record: InstanceRecord): InstanceView {
  if (record.unreadableSnapshot) throw record.unreadableSnapshot;
  return {
    key: record.pk,
    machine: record.machine,
    id: record.pk.slice(record.pk.indexOf('/') + 1),
    machineVersion: record.machineVersion,
    status: record.status,
    value: record.value,
    states: record.states,
    context: record.snapshot.context,
    tags: record.tags,
    outcome: record.outcome,
    lastSeq: record.lastSeq,
    timers: record.timers.map((timer) => ({
      id: timer.id,
      eventType: timer.event.type,
      fireAt: new Date(timer.fireAt).toISOString(),
      ...(timer.target === undefined ? {} : { target: timer.target }),
    })),
    history: record.history,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
  };
}

function resultOf(record: InstanceRecord, sequenceNumber: string): EventResult {
  const wanted = BigInt(sequenceNumber);
  const entry = record.history.find((candidate) => /^\d+$/.test(candidate.seq) && BigInt(candidate.seq) === wanted);
  const base = {
    instanceKey: record.pk,
    sequenceNumber,
    value: record.value,
    states: record.states,
    // An instance whose snapshot cannot be read dead-letters the event with that reason (below): no context to show.
    context: record.unreadableSnapshot ? undefined : record.snapshot.context,
    tags: record.tags,
    status: record.status,
  };
  if (!entry) {
    // Past lastSeq, not in the history: trimmed by newer events, or refused before the instance existed (a new
    // instance's first event that failed the checks leaves no item; a later event created it).
    throw new Error(
      `Instance ${record.pk} has no record of event ${sequenceNumber} in its last ${record.history.length} events: either more events ` +
        `were recorded after it, or the worker refused it before the instance existed (see \`settle dlq list --instance ${record.pk}\`). ` +
        `Its state now: ${JSON.stringify(record.states)}.`,
    );
  }
  if (entry.outcome === 'dead-lettered' || entry.outcome === 'error') {
    return { ...base, outcome: 'dead-lettered', deadLetter: { code: entry.error ?? entry.outcome, reason: entry.reason ?? '' } };
  }
  return { ...base, outcome: entry.outcome };
}

/**
 * SQS takes at most 10 messages and 256 KiB per batch. A batch holds at most one event per instance: SQS may
 * refuse some entries of a batch and take the others, and a refused event retried after a later one of its
 * instance was taken would arrive out of order.
 */
function batches<T extends { readonly key: string; readonly body: string }>(entries: readonly T[]): T[][] {
  const result: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry.body);
    const full = current.length === 10 || bytes + size > maxEventBytes || current.some((taken) => taken.key === entry.key);
    if (current.length > 0 && full) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}
