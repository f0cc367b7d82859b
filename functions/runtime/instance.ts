import { createActor, type AnyActor, type AnyMachineSnapshot, type EventObject, type Snapshot, type StateValue } from 'xstate';
import { PermanentError, SettleTimeoutError, describeError } from './errors.ts';
import type { SettleEventMeta } from './event.ts';
import type { InstanceKey } from './instance-key.ts';
import type { InstanceInput, MachineDefinition, PersistedSnapshot } from './registry.ts';
import { isSettled, settledOutcome, type Outcome } from './settled.ts';
import { SettleClock, TimerBook, type StoredTimer } from './timers.ts';

/** The machine part of a stored instance: what a session restores from and hands back. */
export interface MachineState {
  readonly machineVersion: number;
  readonly snapshot: PersistedSnapshot;
  readonly status: string;
  readonly value: StateValue;
  readonly tags: readonly string[];
  readonly timers: readonly StoredTimer[];
}

export interface Applied {
  /** The event type, or for a wake-up the types of the timers it delivered. */
  readonly eventType: string;
  readonly outcome: Outcome;
  readonly from: StateValue;
  readonly to: StateValue;
}

export interface SessionOptions {
  readonly definition: MachineDefinition;
  readonly key: InstanceKey;
  /** The stored state, or `undefined` for an instance created by this event. */
  readonly stored: MachineState | undefined;
  /** Epoch milliseconds; timers' `fireAt` are computed from it. */
  readonly now: () => number;
}

/**
 * A wake-up may name a `wakeAt` a little ahead of this worker's clock (the sweeper's clock decided it was
 * due); timers due within this tolerance are delivered. A forged wake-up can therefore fire a timer at most
 * this early, and never one that is not pending.
 */
export const wakeToleranceMs = 60_000;

/**
 * One instance's live actor for the records of one group in one batch: restored (or created) once,
 * then fed event after event. A pure core: no SDK, no I/O, time injected.
 *
 * If an event fails (the machine throws, or it does not settle in time) the actor is discarded and
 * rebuilt from the state before that event, so a failed event is never half-applied.
 */
export class InstanceSession {
  private readonly definition: MachineDefinition;
  private readonly key: InstanceKey;
  private readonly now: () => number;
  private clock = new SettleClock();
  private book = new TimerBook();
  private actor!: AnyActor;
  private started = false;
  /** The last settled state; `undefined` until a new instance has handled its first event. */
  private committed: MachineState | undefined;

  private constructor(options: SessionOptions, committed: MachineState | undefined) {
    this.definition = options.definition;
    this.key = options.key;
    this.now = options.now;
    this.committed = committed;
    this.rebuild();
  }

  /** Restores or creates the actor. Throws a {@link PermanentError} when the stored state cannot be used. */
  static open(options: SessionOptions): InstanceSession {
    const { stored, definition, key } = options;
    if (!stored) return new InstanceSession(options, undefined);
    const snapshot = stored.machineVersion === definition.version ? stored.snapshot : migrate(stored, definition, key);
    return new InstanceSession(options, { ...stored, machineVersion: definition.version, snapshot });
  }

  /** The last settled state, to be saved. `undefined` if a new instance has not settled yet. */
  get state(): MachineState | undefined {
    return this.committed;
  }

  get timers(): readonly StoredTimer[] {
    return this.committed?.timers ?? [];
  }

  /** Sends one event and waits, at most `budgetMs`, until every active region rests. */
  async apply(event: EventObject, meta: SettleEventMeta, budgetMs: number): Promise<Applied> {
    return this.run(event.type, budgetMs, async (deadline) => {
      const before = this.actor.getSnapshot() as AnyMachineSnapshot;
      const delivered = { ...event, settle: meta };
      let accepted: boolean;
      try {
        // can() runs the guards: one that throws is the machine's error, not a retryable one.
        accepted = before.status === 'active' && before.can(delivered);
      } catch (error) {
        throw this.machineError(event.type, error);
      }
      if (!accepted) return 'ignored';
      this.actor.send(delivered);
      await this.settle(deadline, event.type);
      return 'applied';
    });
  }

  /**
   * Delivers every stored timer due by `wakeAt` (bounded by {@link wakeToleranceMs}) that is still
   * pending under its token, earliest first. A stale or early wake-up changes nothing.
   */
  async wake(wakeAt: number, budgetMs: number): Promise<Applied> {
    const now = this.now();
    const horizon = Math.max(now, Math.min(wakeAt, now + wakeToleranceMs));
    const due = this.timers.filter((timer) => timer.fireAt <= horizon);
    const label = due.length > 0 ? due.map((timer) => timer.event.type).join(',') : 'settle.wake';
    return this.run(label, budgetMs, async (deadline) => {
      let delivered = 0;
      for (const timer of due) {
        if (!this.book.take(this.actor, timer)) continue;
        this.actor.send(timer.event);
        delivered += 1;
        await this.settle(deadline, timer.event.type);
      }
      return delivered > 0 ? 'applied' : 'ignored';
    });
  }

  /** Stops the actor; its pending timers are kept in the state, not in memory. */
  stop(): void {
    this.clock.close();
    this.actor.stop();
  }

  private async run(
    eventType: string,
    budgetMs: number,
    step: (deadline: number) => Promise<'applied' | 'ignored'>,
  ): Promise<Applied> {
    const deadline = performance.now() + budgetMs;
    this.clock.open(deadline);
    try {
      if (!this.started) {
        this.actor.start();
        this.started = true;
        await this.settle(deadline, eventType);
      }
      const from = this.committed?.value ?? (this.actor.getSnapshot() as AnyMachineSnapshot).value;
      const result = await step(deadline);
      const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
      if (snapshot.status === 'error') throw this.machineError(eventType, snapshot.error);
      if (result === 'applied' || !this.committed) this.commit(snapshot); // an ignored event changed nothing
      return { eventType, outcome: result === 'ignored' ? 'ignored' : settledOutcome(snapshot), from, to: snapshot.value };
    } catch (error) {
      this.rebuild();
      throw error;
    } finally {
      this.clock.close();
    }
  }

  private commit(snapshot: AnyMachineSnapshot): void {
    const machine = this.definition.machine;
    let persisted: PersistedSnapshot | undefined;
    let tags: string[] | undefined;
    // Only the last settled state of a group is written (or, after a failure, restored): persist lazily,
    // unless children are alive, whose state a later (failing) event could change before we read it.
    if (Object.keys(snapshot.children).length > 0) persisted = machine.getPersistedSnapshot(snapshot) as unknown as PersistedSnapshot;
    this.committed = {
      machineVersion: this.definition.version,
      get snapshot() {
        return (persisted ??= machine.getPersistedSnapshot(snapshot) as unknown as PersistedSnapshot);
      },
      status: snapshot.status,
      value: snapshot.value,
      get tags() {
        return (tags ??= [...snapshot.tags].sort());
      },
      timers: this.book.collect(this.actor, this.now()),
    };
  }

  /** Waits until settled or the deadline; an error status counts as settled (the caller reports it). */
  private settle(deadline: number, eventType: string): Promise<void> {
    const actor = this.actor;
    if (isSettled(actor.getSnapshot() as AnyMachineSnapshot)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timeout);
        subscription.unsubscribe();
        resolve();
      };
      const subscription = actor.subscribe({
        next: (snapshot) => {
          if (isSettled(snapshot as AnyMachineSnapshot)) finish();
        },
        error: finish,
      });
      const budget = Math.max(0, Math.floor(deadline - performance.now()));
      const timeout = setTimeout(() => {
        subscription.unsubscribe();
        reject(new SettleTimeoutError(this.key.key, eventType, budget, (actor.getSnapshot() as AnyMachineSnapshot).value));
      }, budget);
    });
  }

  /** A fresh actor from the last settled state (or a new, unstarted one), its timers re-registered. */
  private rebuild(): void {
    if (this.actor) this.stop();
    this.clock = new SettleClock();
    this.book = new TimerBook();
    const input: InstanceInput = { instanceId: this.key.instanceId, instanceKey: this.key.key };
    const committed = this.committed;
    this.actor = createActor(this.definition.machine, {
      input,
      clock: this.clock,
      ...(committed ? { snapshot: committed.snapshot as Snapshot<unknown> } : {}),
    });
    // Without an error observer XState rethrows a machine's error through setTimeout: it would crash the process.
    this.actor.subscribe({ error: () => undefined });
    this.started = false;
    if (!committed) return;
    const restored = this.actor.getSnapshot() as AnyMachineSnapshot;
    if (restored.status === 'error') {
      throw new PermanentError(
        'snapshot-mismatch',
        `The stored snapshot of ${this.key.key} does not fit machine '${this.key.machine}' version ${this.definition.version}: ` +
          `${describeError(restored.error).message}. A state or child was renamed or removed without a version bump: ` +
          'bump the version in the registry and give a migrate() for the old one.',
        { instanceKey: this.key.key },
      );
    }
    this.actor.start();
    this.started = true;
    this.book.restore(this.actor, committed.timers);
  }

  private machineError(eventType: string, error: unknown): PermanentError {
    const { name, message } = describeError(error);
    return new PermanentError(
      'machine-error',
      `Machine '${this.key.machine}' threw ${name}: ${message} while handling '${eventType}' on instance ${this.key.key}. ` +
        'The event was not applied and the instance kept its state; fix the machine (or give the invoke an onError), then redrive the event from the DLQ.',
      { instanceKey: this.key.key, cause: error },
    );
  }
}

function migrate(stored: MachineState, definition: MachineDefinition, key: InstanceKey): PersistedSnapshot {
  let migrated: PersistedSnapshot | undefined;
  try {
    migrated = definition.migrate?.(stored.snapshot, stored.machineVersion);
  } catch (error) {
    const { name, message } = describeError(error);
    throw new PermanentError(
      'unknown-machine-version',
      `migrate() of machine '${key.machine}' threw ${name}: ${message} on instance ${key.key}, saved by version ${stored.machineVersion}. ` +
        'Fix migrate() for that version, then redrive the events from the DLQ.',
      { instanceKey: key.key, cause: error },
    );
  }
  if (migrated) return migrated;
  throw new PermanentError(
    'unknown-machine-version',
    `Instance ${key.key} was saved by version ${stored.machineVersion} of machine '${key.machine}', but the registry has version ` +
      `${definition.version}${definition.migrate ? ' and its migrate() declined that version' : ' and no migrate()'}. ` +
      `Add a migrate() that handles version ${stored.machineVersion}, or deploy a registry that still has that version.`,
    { instanceKey: key.key },
  );
}
