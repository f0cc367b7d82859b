import { createHash, randomUUID } from 'node:crypto';
import type { AnyActorRef, AnyMachineSnapshot, EventObject } from 'xstate';
import { PermanentError } from './errors.ts';
import { shardOf } from './instance-key.ts';

/**
 * Durable timers (docs/DESIGN.md, "Timers"). XState keeps delayed events only in memory and never re-arms them on
 * restore (statelyai/xstate#5331), and a JS timer over 2^31−1 ms fires at once. Settle lets XState
 * schedule as usual but through {@link SettleClock}, which arms a real timer only while an event is
 * being settled and only if it falls within that budget; whatever is still pending once the machine
 * settles is stored on the instance and delivered later by a `settle.wake`.
 */

/** A pending delayed event scheduled by the root actor, as stored on the instance item. */
export interface StoredTimer {
  /** Fresh per scheduling: re-entering a state reuses XState's id but gets a new token. */
  readonly token: string;
  /** XState's scheduled-event id (for `after`: the event type). */
  readonly id: string;
  readonly event: EventObject;
  /**
   * For a delayed `sendTo` a child of the root: the child's id among the root's children. Absent when the
   * root sends to itself (`after`, delayed `raise`).
   */
  readonly target?: string;
  readonly delay: number;
  /** Epoch milliseconds at which it is due. */
  readonly fireAt: number;
}

type TimerHandle = number;

/** XState's `Clock`, arming real timers only inside an open settle window. */
export class SettleClock {
  private nextHandle = 0;
  private readonly armed = new Map<TimerHandle, ReturnType<typeof setTimeout>>();
  private windowEndsAt: number | undefined;

  /** Lets delays that end by `deadline` (a `performance.now()` time) run in-process while an event settles. */
  open(deadline: number): void {
    this.windowEndsAt = deadline;
  }

  /** Disarms every real timer; the delayed events stay pending in XState's scheduler. */
  close(): void {
    this.windowEndsAt = undefined;
    for (const timer of this.armed.values()) clearTimeout(timer);
    this.armed.clear();
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): TimerHandle {
    const handle = ++this.nextHandle;
    if (this.windowEndsAt !== undefined && performance.now() + timeout <= this.windowEndsAt) {
      this.armed.set(
        handle,
        setTimeout(() => {
          this.armed.delete(handle);
          fn();
        }, timeout),
      );
    }
    return handle;
  }

  clearTimeout(handle: unknown): void {
    const timer = this.armed.get(handle as TimerHandle);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.armed.delete(handle as TimerHandle);
    }
  }
}

interface ScheduledEvent {
  readonly source: AnyActorRef;
  readonly target: AnyActorRef;
  readonly event: EventObject;
  readonly delay: number;
  readonly id: string;
}

type ScheduledEvents = Record<string, ScheduledEvent>;

/**
 * XState's pending delayed events. `system.getSnapshot()` copies the map on every call; the worker reads it
 * after every event, so it reads the system's own map when it is there (XState is pinned, and the timer
 * tests fail if this internal moves).
 */
function scheduledEvents(actor: AnyActorRef): ScheduledEvents {
  const system = actor.system as { _snapshot?: { _scheduledEvents?: ScheduledEvents }; getSnapshot(): unknown };
  return system._snapshot?._scheduledEvents ?? (system.getSnapshot() as { _scheduledEvents: ScheduledEvents })._scheduledEvents;
}

/**
 * Keeps the link between XState's scheduled entries and stored timers across the events of one run:
 * an entry seen before keeps its token and `fireAt`; a new entry (even with a reused id) gets new ones.
 */
export class TimerBook {
  private known = new WeakMap<ScheduledEvent, StoredTimer>();

  /**
   * Re-registers stored timers on a restored actor without arming them. A timer for a child that the
   * snapshot no longer holds is not registered: XState drops an event sent to a stopped actor too.
   */
  restore(actor: AnyActorRef, timers: readonly StoredTimer[]): void {
    this.known = new WeakMap();
    for (const timer of timers) {
      const target = targetOf(actor, timer);
      if (!target) continue;
      actor.system.scheduler.schedule(actor, target, timer.event, timer.delay, timer.id);
      const entry = scheduledEvents(actor)[`${actor.sessionId}.${timer.id}`];
      if (entry) this.known.set(entry, timer);
    }
  }

  /**
   * The root actor's pending delayed events as stored timers, earliest first: those it sends to itself and
   * those it sends to one of its children. A delayed event the root sends anywhere else cannot be restored,
   * so it is refused here, at the event that scheduled it, rather than dropped at the save.
   */
  collect(actor: AnyActorRef, now: number, during: TimerCause): StoredTimer[] {
    const timers: StoredTimer[] = [];
    for (const entry of Object.values(scheduledEvents(actor))) {
      // Delays that children schedule run in-process only (documented): their snapshots restart them.
      if (entry.source !== actor) continue;
      let timer = this.known.get(entry);
      if (!timer) {
        const target = entry.target === actor ? undefined : childIdOf(actor, entry, during);
        timer = {
          token: randomUUID(),
          id: entry.id,
          event: entry.event,
          ...(target === undefined ? {} : { target }),
          delay: entry.delay,
          fireAt: now + entry.delay,
        };
        this.known.set(entry, timer);
      }
      timers.push(timer);
    }
    return timers.sort((a, b) => a.fireAt - b.fireAt);
  }

  /**
   * Takes a pending timer out of XState's scheduler so that it can be delivered now; returns the actor to
   * deliver it to, or `undefined` when the timer is no longer pending under its token.
   */
  take(actor: AnyActorRef, timer: StoredTimer): AnyActorRef | undefined {
    const entry = scheduledEvents(actor)[`${actor.sessionId}.${timer.id}`];
    if (!entry || this.known.get(entry)?.token !== timer.token) return undefined;
    actor.system.scheduler.cancel(actor, timer.id);
    return entry.target;
  }
}

function targetOf(actor: AnyActorRef, timer: StoredTimer): AnyActorRef | undefined {
  if (timer.target === undefined) return actor;
  const children = (actor.getSnapshot() as AnyMachineSnapshot).children as Record<string, AnyActorRef | undefined>;
  return Object.hasOwn(children, timer.target) ? children[timer.target] : undefined;
}

/** The instance and the event being handled when timers are collected, for the error that refuses one. */
export interface TimerCause {
  readonly instanceKey: string;
  readonly eventType: string;
}

function childIdOf(actor: AnyActorRef, entry: ScheduledEvent, during: TimerCause): string {
  const children = (actor.getSnapshot() as AnyMachineSnapshot).children as Record<string, AnyActorRef | undefined>;
  const id = Object.keys(children).find((key) => children[key] === entry.target);
  if (id !== undefined) return id;
  throw new PermanentError(
    'undurable-timer',
    `While handling '${during.eventType}', instance ${during.instanceKey} scheduled '${entry.event.type}' ` +
      `(id '${entry.id}', ${entry.delay} ms) for actor '${entry.target.id}', which is not a child of the root machine, ` +
      'so it could not be stored and delivered later. The event was not applied. Send delayed events to the machine ' +
      "itself (after, raise with a delay) or to a child it invokes or spawns (sendTo('<child id>', …, { delay })).",
    { instanceKey: during.instanceKey },
  );
}

/**
 * The due-index fields of an instance: `wakeAt`, its earliest timer (timers are kept earliest first), and
 * its shard. Both absent when no timer is pending, so the sparse index holds only instances that wait.
 */
export function dueIndexFields(
  pk: string,
  timers: readonly StoredTimer[],
  shards: number,
): { wakeAt: number | undefined; wakeShard: string | undefined } {
  const earliest = timers[0];
  return earliest ? { wakeAt: earliest.fireAt, wakeShard: wakeShardOf(pk, shards) } : { wakeAt: undefined, wakeShard: undefined };
}

/** The due-index shard of an instance: stable, spread evenly by a hash of its key. */
export function wakeShardOf(pk: string, shards: number): string {
  return String(shardOf(pk, shards));
}

/** The same instance, `wakeAt` and sweep interval give the same id, so SQS drops the repeats of overlapping sweeps. */
export function wakeDeduplicationId(instance: { readonly pk: string; readonly wakeAt: number }, interval: number): string {
  return createHash('sha256').update(`${instance.pk}\n${instance.wakeAt}\n${interval}`).digest('hex');
}
