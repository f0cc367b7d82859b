import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RetryableError } from './errors.ts';
import { wakeEventType } from './resources.ts';
import type { DueInstance, InstanceStore } from './store.ts';

/** Where wake-ups go: the events queue, in each instance's own message group. */
export interface WakeQueue {
  send(due: readonly DueInstance[]): Promise<void>;
}

export interface SweepCore {
  readonly store: InstanceStore;
  readonly wakeQueue: WakeQueue;
  readonly now: () => number;
  readonly wakeShards: number;
  /** Most instances woken per shard per sweep; the rest are found by the next sweep. @default 5000 */
  readonly perShardLimit?: number;
}

/** The body of a wake-up: the worker delivers every timer due by `wakeAt` that is still pending. */
export function wakeEvent(wakeAt: number): { type: typeof wakeEventType; wakeAt: number } {
  return { type: wakeEventType, wakeAt };
}

/**
 * One sweep (DESIGN §5): find instances whose earliest timer is due through the sparse due index,
 * and send each a `settle.wake`. Idempotent: a repeat within SQS's 5-minute window is dropped by its
 * deduplication id, and a wake-up that finds nothing due changes nothing.
 */
export async function sweep(core: SweepCore): Promise<{ woken: number }> {
  const now = core.now();
  const shards = Array.from({ length: core.wakeShards }, (_, shard) => String(shard));
  const found = await Promise.all(shards.map((shard) => core.store.findDue(shard, now, core.perShardLimit ?? 5000)));
  const due = found.flat();
  for (let start = 0; start < due.length; start += 10) {
    await core.wakeQueue.send(due.slice(start, start + 10));
  }
  return { woken: due.length };
}

/** Sends wake-ups with SendMessageBatch, ten at a time. */
export class SqsWakeQueue implements WakeQueue {
  constructor(
    private readonly queueUrl: string,
    private readonly client: SQSClient = new SQSClient({}),
  ) {}

  async send(due: readonly DueInstance[]): Promise<void> {
    if (due.length === 0) return;
    const { Failed = [] } = await this.client.send(
      new SendMessageBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: due.map((instance, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify(wakeEvent(instance.wakeAt)),
          MessageGroupId: instance.pk,
          MessageDeduplicationId: wakeDeduplicationId(instance),
        })),
      }),
    );
    if (Failed.length > 0) {
      throw new RetryableError(
        'queue-unavailable',
        `Could not send ${Failed.length} wake-up(s): ${Failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')}. The next sweep tries again.`,
      );
    }
  }
}

/** The same instance and `wakeAt` give the same id, so SQS drops repeats of a wake-up for 5 minutes. */
export function wakeDeduplicationId(instance: DueInstance): string {
  return createHash('sha256').update(`${instance.pk}\n${instance.wakeAt}`).digest('hex');
}

/** Keeps wake-ups in memory, for tests and benchmarks. */
export class MemoryWakeQueue implements WakeQueue {
  readonly sent: DueInstance[] = [];

  async send(due: readonly DueInstance[]): Promise<void> {
    this.sent.push(...due);
  }

  /** Takes every wake-up sent so far. */
  drain(): DueInstance[] {
    return this.sent.splice(0, this.sent.length);
  }
}
