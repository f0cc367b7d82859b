import { wakeEventType } from './resources.ts';
import type { DueInstance, InstanceStore } from './store.ts';
import { wakeDeduplicationId } from './timers.ts';

/** A wake-up to send: the instance, its earliest `wakeAt`, and the id that makes repeats within one sweep interval one. */
export interface WakeUp extends DueInstance {
  readonly deduplicationId: string;
}

/** Where wake-ups go: the events queue, in each instance's own message group. */
export interface WakeQueue {
  send(wakeUps: readonly WakeUp[]): Promise<void>;
}

export interface SweepCore {
  readonly store: InstanceStore;
  readonly wakeQueue: WakeQueue;
  readonly now: () => number;
  readonly wakeShards: number;
  /** Most instances woken per shard per sweep; the rest are found by the next sweep. @default 5000 */
  readonly perShardLimit?: number;
  /**
   * How often sweeps run (a minute on AWS, a second locally). An instance is woken at most once per such
   * interval for the same `wakeAt`. @default 60000
   */
  readonly intervalMs?: number;
}

export const defaultSweepIntervalMs = 60_000;

/**
 * The body of a wake-up. `wakeAt` says what the sweeper found due; the worker delivers every timer due by
 * its own clock that is still pending, whatever the wake-up says.
 */
export function wakeEvent(wakeAt: number): { type: typeof wakeEventType; wakeAt: number } {
  return { type: wakeEventType, wakeAt };
}

/**
 * One sweep (docs/DESIGN.md, "Timers"): find instances whose earliest timer is due through the sparse due
 * index, and send each a `settle.wake`. Idempotent: sweeps that overlap within one interval send the same
 * deduplication id, which SQS drops, and a wake-up that finds nothing due changes nothing. An instance
 * still due at the next interval (its wake-up came before the timer was due by the worker's clock, or it
 * is still queued behind the instance's other events) is woken again.
 */
export async function sweep(core: SweepCore): Promise<{ woken: number }> {
  const now = core.now();
  const interval = Math.floor(now / (core.intervalMs ?? defaultSweepIntervalMs));
  const shards = Array.from({ length: core.wakeShards }, (_, shard) => String(shard));
  const found = await Promise.all(shards.map((shard) => core.store.findDue(shard, now, core.perShardLimit ?? 5000)));
  const due = found.flat();
  for (let start = 0; start < due.length; start += 10) {
    await core.wakeQueue.send(
      due.slice(start, start + 10).map((instance) => ({ ...instance, deduplicationId: wakeDeduplicationId(instance, interval) })),
    );
  }
  return { woken: due.length };
}
