/**
 * `settle/testing`: run your machines under Settle's rules in your own unit tests, with no emulator and no
 * waiting. Every event goes through the real worker core, one batch per event, so the instance is restored
 * from its persisted snapshot before each one (as on Lambda); time is simulated, so a timer of days fires
 * as soon as the test moves the clock past it.
 *
 * @example
 * const world = createTestWorld(registry);
 * expect((await world.send('orders/o1', { type: 'PLACE' })).outcome).toBe('resolve');
 * await world.advance({ days: 3 }); // durable timers due by then fire, each at its own time
 * expect((await world.instance('orders/o1')).states).toEqual(['cancelled']);
 */
import type { SQSRecord } from 'aws-lambda';
import { checkRegistry, type Finding } from '../analysis/check.ts';
import { configureCallbacks } from '../api/callbacks.ts';
import { verifyCallback } from '../runtime/core/callback-token.ts';
import type { StateValue } from 'xstate';
import type { DeadLetter } from '../runtime/core/dead-letters.ts';
import { MemoryDeadLetterQueue } from '../runtime/memory/memory-queues.ts';
import { describeError } from '../runtime/core/errors.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { MemoryPayloadStore } from '../runtime/memory/memory-payloads.ts';
import { defaults } from '../runtime/core/config.ts';
import { offloadEvent } from '../runtime/core/payloads.ts';
import { processBatch, type AppliedEvent, type WorkerCore } from '../runtime/core/process-batch.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import type { InstanceRecord } from '../runtime/core/store.ts';
import { sweep, wakeEvent } from '../runtime/core/sweep.ts';
import { MemoryWakeQueue } from '../runtime/memory/memory-queues.ts';

export { MemoryDeadLetterQueue, MemoryStore, MemoryWakeQueue, processBatch };

/** Sequence numbers as SQS makes them: 20+ digit decimals beyond Number.MAX_SAFE_INTEGER. */
export function sqsSequenceNumber(n: number): bigint {
  return 18_000_000_000_000_000_000n + BigInt(n);
}
export type { AppliedEvent, DeadLetter, Finding, InstanceRecord, WorkerCore };

/** How an event ended, as a test sees it. */
export interface EventResult {
  readonly outcome: AppliedEvent['outcome'] | 'dead-lettered';
  /** The state value after the event (or before it, for an event that was not applied); none before the first save. */
  readonly value: StateValue | undefined;
  /** Every active state as a dot path, one per region. */
  readonly states: readonly string[];
  readonly context: unknown;
  /** For a dead-lettered event: the `settle-error` code and the reason. */
  readonly deadLetter?: { readonly code: string; readonly reason: string };
}

export interface TestWorldOptions {
  /** Where simulated time starts: a Date, epoch milliseconds or an ISO string. @default 2026-01-01T00:00:00Z */
  readonly start?: Date | number | string;
  /** The most one event may take to settle, in real milliseconds. @default 2000 */
  readonly eventTimeoutMs?: number;
  /** Events kept in each instance's history. @default 20 */
  readonly historyLimit?: number;
}

export type Duration =
  | number
  | { readonly days?: number; readonly hours?: number; readonly minutes?: number; readonly seconds?: number; readonly ms?: number };

/** A machine that does not settle: what the worker would retry, and then dead-letter, in production. */
export class NotSettledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotSettledError';
  }
}

export interface TestWorld {
  /** Simulated epoch milliseconds. */
  readonly now: number;
  readonly store: MemoryStore;
  /** Every event dead-lettered so far, with its reason. */
  readonly deadLetters: readonly DeadLetter[];
  /**
   * What `settle check` finds in the registry (analysis/check.ts): assert `[]` to keep your machines clean. A
   * {@link NotSettledError} also names the errors found in its machine.
   */
  readonly findings: readonly Finding[];
  /**
   * Sends one event to `instanceKey` (`<machine>/<instanceId>`) and returns how it ended. Throws
   * {@link NotSettledError}, with the worker's reason, when the machine does not settle in time.
   */
  send(instanceKey: string, event: { readonly type: string; readonly [field: string]: unknown }): Promise<EventResult>;
  /** Moves time ahead, firing every durable timer due by then at its own time, earliest first. */
  advance(by: Duration): Promise<void>;
  /** The stored instance; throws if it was never saved. */
  instance(instanceKey: string): Promise<InstanceRecord>;
  /**
   * Follows a callback link a machine made with `callbackUrl` (as a POST would): checks its signature and
   * expiry, and sends its event — with `data`, for the fields the link lets a caller add.
   */
  follow(link: string, data?: Readonly<Record<string, string>>): Promise<EventResult>;
}

/** Where `callbackUrl` points, and the key it signs with, in a test world. */
export const testCallbacks = { apiUrl: 'https://settle.test', key: 'settle-testing-callback-key' } as const;

export function createTestWorld(registry: MachineRegistry, options: TestWorldOptions = {}): TestWorld {
  // Machines that make callback links get them in a test world too (the setting is this process's).
  configureCallbacks(testCallbacks);
  // Large events and snapshots take the payload bucket's path, as with the client and the worker on AWS.
  const payloads = new MemoryPayloadStore();
  const store = new MemoryStore({ payloads, aboveBytes: defaults.snapshotOffloadBytes });
  const deadLetters = new MemoryDeadLetterQueue();
  const wakeQueue = new MemoryWakeQueue();
  const findings = checkRegistry(registry);
  let now = options.start === undefined ? Date.parse('2026-01-01T00:00:00Z') : new Date(options.start).getTime();
  let sequence = 0;
  let lastProblem: string | undefined;
  const core: WorkerCore = {
    registry,
    store,
    payloads,
    deadLetters,
    now: () => now,
    maxReceiveCount: 5,
    wakeShards: 1,
    historyLimit: options.historyLimit,
    eventTimeoutMs: options.eventTimeoutMs ?? 2000,
    logger: {
      info: () => undefined,
      warn: (_, details) => {
        lastProblem = describeError((details as { error?: unknown } | undefined)?.error).message;
      },
      error: () => undefined,
    },
  };

  const deliver = async (instanceKey: string, body: unknown): Promise<EventResult> => {
    const before = deadLetters.letters.length;
    sequence += 1;
    lastProblem = undefined;
    const json = JSON.stringify(body);
    const type = (body as { type?: unknown } | null)?.type;
    const sent =
      Buffer.byteLength(json) > defaults.eventOffloadBytes
        ? await offloadEvent(payloads, instanceKey, json, typeof type === 'string' ? type : undefined)
        : json;
    const record = sqsRecord(instanceKey, sequence, sent);
    const { batchItemFailures } = await processBatch([record], core, () => core.eventTimeoutMs ?? 2000);
    if (batchItemFailures.length > 0) {
      const found = findings.filter((f) => f.severity === 'error' && f.machine === instanceKey.split('/')[0]);
      const problem = lastProblem ?? `The event to ${instanceKey} was not handled; the worker would retry it.`;
      throw new NotSettledError([problem, ...found.map((f) => `settle check: ${f.message} Fix: ${f.fix}`)].join('\n'));
    }
    const item = await store.read(instanceKey);
    const letter = deadLetters.letters.slice(before).find((candidate) => candidate.messageId === record.messageId);
    const entry = item?.history.at(-1);
    return {
      outcome: letter ? 'dead-lettered' : (entry?.outcome ?? 'ignored'),
      value: item?.value,
      states: item?.states ?? [],
      context: (item?.snapshot as { context?: unknown } | undefined)?.context,
      ...(letter ? { deadLetter: { code: letter.error.code, reason: letter.error.message } } : {}),
    };
  };

  return {
    get now() {
      return now;
    },
    store,
    get deadLetters() {
      return deadLetters.letters;
    },
    findings,
    send: (instanceKey, event) => deliver(instanceKey, event),
    advance: async (by) => {
      const target = now + milliseconds(by);
      for (;;) {
        const due = (await store.findDue('0', target, 1))[0];
        if (!due) break;
        now = Math.max(now, due.wakeAt);
        await sweep({ store, wakeQueue, now: () => now, wakeShards: 1 });
        for (const wake of wakeQueue.drain()) await deliver(wake.pk, wakeEvent(wake.wakeAt));
      }
      now = target;
    },
    follow: async (link, data = {}) => {
      const token = link.startsWith(`${testCallbacks.apiUrl}/callbacks/`) ? link.slice(testCallbacks.apiUrl.length + 11) : '';
      const claims = verifyCallback(testCallbacks.key, token, Math.floor(Date.now() / 1000));
      const added = Object.fromEntries(Object.entries(data).filter(([name]) => claims.data.includes(name)));
      return deliver(claims.instance, { ...claims.event, ...added });
    },
    instance: async (instanceKey) => {
      const item = await store.read(instanceKey);
      if (!item)
        throw new Error(`Instance ${instanceKey} was never saved: no event reached it, or its first one failed before it settled.`);
      return item;
    },
  };
}

function milliseconds(by: Duration): number {
  if (typeof by === 'number') return by;
  return (((by.days ?? 0) * 24 + (by.hours ?? 0)) * 60 + (by.minutes ?? 0)) * 60_000 + (by.seconds ?? 0) * 1000 + (by.ms ?? 0);
}

let messages = 0;

/**
 * A record shaped like the ones Lambda's SQS FIFO event source delivers, for feeding {@link processBatch}
 * directly: the group is the instance key, `sequenceNumber` orders it within the group.
 */
export function sqsRecord(
  instanceKey: string,
  sequenceNumber: number | bigint | string,
  body: unknown,
  options: { readonly receiveCount?: number; readonly messageId?: string } = {},
): SQSRecord {
  messages += 1;
  const now = String(Date.now());
  return {
    messageId: options.messageId ?? `test-message-${messages}`,
    receiptHandle: `test-receipt-${messages}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: now,
      SenderId: 'settle-testing',
      ApproximateFirstReceiveTimestamp: now,
      SequenceNumber: String(sequenceNumber),
      MessageGroupId: instanceKey,
      MessageDeduplicationId: `test-dedup-${messages}`,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:settle-events.fifo',
    awsRegion: 'us-east-1',
  };
}
