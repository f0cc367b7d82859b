import type { SQSBatchResponse } from 'aws-lambda';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { processBatch, type AppliedEvent } from '../../runtime/core/process-batch.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { sweep, wakeEvent } from '../../runtime/core/sweep.ts';
import { MemoryWakeQueue } from '../../runtime/memory/memory-queues.ts';
import { fifoRecord, sequence } from './records.ts';

/**
 * The worker and the sweeper over in-memory ports, with a clock the test moves: durable timers can be
 * tested over days and months without waiting for them.
 */
export class World {
  readonly store = new MemoryStore();
  readonly deadLetters = new MemoryDeadLetterQueue();
  readonly wakeQueue = new MemoryWakeQueue();
  readonly applied: AppliedEvent[] = [];
  now: number;
  private seq = 0;

  constructor(
    readonly registry: MachineRegistry,
    start = Date.parse('2026-01-01T00:00:00Z'),
    readonly budgetMs = 2_000,
  ) {
    this.now = start;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  /** Sends events to one instance as one batch, each with the next sequence number. */
  send(pk: string, ...events: unknown[]): Promise<SQSBatchResponse> {
    return this.deliver(events.map((event) => fifoRecord(pk, sequence(++this.seq), event)));
  }

  deliver(records: Parameters<typeof processBatch>[0]): Promise<SQSBatchResponse> {
    return processBatch(
      records,
      {
        registry: this.registry,
        store: this.store,
        deadLetters: this.deadLetters,
        now: () => this.now,
        maxReceiveCount: 5,
        wakeShards: 8,
        onApplied: (event) => this.applied.push(event),
      },
      () => this.budgetMs,
    );
  }

  /** Runs one sweep and returns the wake-ups it sent, as they would reach the queue. */
  async sweep(): Promise<{ pk: string; body: ReturnType<typeof wakeEvent> }[]> {
    await sweep({ store: this.store, wakeQueue: this.wakeQueue, now: () => this.now, wakeShards: 8 });
    return this.wakeQueue.drain().map((due) => ({ pk: due.pk, body: wakeEvent(due.wakeAt) }));
  }

  /** One sweep, and every wake-up it sent delivered to the worker. Returns how many were sent. */
  async sweepAndDeliver(): Promise<number> {
    const wakes = await this.sweep();
    for (const wake of wakes) await this.send(wake.pk, wake.body);
    return wakes.length;
  }

  async item(pk: string): Promise<InstanceRecord> {
    const record = await this.store.read(pk);
    if (!record) throw new Error(`instance ${pk} was never saved`);
    return record;
  }
}
