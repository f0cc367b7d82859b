import {
  createActor,
  type AnyActor,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type EventObject,
  type InspectionEvent,
  type Snapshot,
  type StateValue,
} from 'xstate';
import { PermanentError, SettleTimeoutError, describeError } from './errors.ts';
import { shownType, type SettleEventMeta } from './event.ts';
import type { InstanceKey } from './instance-key.ts';
import { jsonBytesAtMost } from './item.ts';
import type { InstanceInput, MachineDefinition, PersistedSnapshot } from './registry.ts';
import { activeStatePaths, isSettled, settledOutcome, type Outcome } from './settled.ts';
import { SettleClock, TimerBook, type StoredTimer } from './timers.ts';

/** The machine part of a stored instance: what a session restores from and hands back. */
export interface MachineState {
  readonly machineVersion: number;
  readonly snapshot: PersistedSnapshot;
  readonly status: string;
  readonly value: StateValue;
  /** Every active state as a dot path, one per region (`value` is a map in parallel states). */
  readonly states: readonly string[];
  readonly tags: readonly string[];
  readonly timers: readonly StoredTimer[];
}

export interface Applied {
  /** The event type (cut to 128 characters), or for a wake-up the types of the timers it delivered. */
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
  /** Epoch milliseconds; timers' `fireAt` are computed from it, and it alone decides which timers are due. */
  readonly now: () => number;
  /**
   * Called with each new settled state before it is taken; throwing refuses it, and the event that led to it
   * fails alone (the worker checks the item's size here when it must find the one event that made it too large).
   */
  readonly acceptState?: (state: MachineState, eventType: string) => void;
}

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
  private readonly acceptState: SessionOptions['acceptState'];
  private clock = new SettleClock();
  private book = new TimerBook();
  private actor!: AnyActor;
  private started = false;
  /** Set by the inspector when the root actor takes a transition (eventless ones included). */
  private moved = false;
  /** The timer a failed wake-up was delivering, until the worker decides what to do with it. */
  private failingTimer: StoredTimer | undefined;
  /** The last settled state; `undefined` until a new instance has started and settled. */
  private committed: MachineState | undefined;

  private constructor(options: SessionOptions, committed: MachineState | undefined) {
    this.definition = options.definition;
    this.key = options.key;
    this.now = options.now;
    this.acceptState = options.acceptState;
    this.committed = committed;
    this.rebuild();
  }

  /** Restores or creates the actor. Throws a {@link PermanentError} when the stored state cannot be used. */
  static open(options: SessionOptions): InstanceSession {
    const { stored, definition, key } = options;
    if (!stored) return new InstanceSession(options, undefined);
    const snapshot = currentSnapshot(stored, definition, key);
    return new InstanceSession(options, { ...stored, machineVersion: definition.version, snapshot });
  }

  /** The last settled state, to be saved. `undefined` if a new instance has not started and settled yet. */
  get state(): MachineState | undefined {
    return this.committed;
  }

  get timers(): readonly StoredTimer[] {
    return this.committed?.timers ?? [];
  }

  /**
   * Sends one event and waits, at most `budgetMs`, until every active region rests. The event counts as
   * ignored when the root machine took no transition for it, eventless (`always`) ones included: what the
   * machine did decides, and its guards run once.
   */
  async apply(event: EventObject, meta: SettleEventMeta, budgetMs: number): Promise<Applied> {
    return this.run(shownType(event.type), budgetMs, async (deadline) => {
      if ((this.actor.getSnapshot() as AnyMachineSnapshot).status !== 'active') return 'ignored';
      this.moved = false;
      this.actor.send({ ...event, settle: meta } as EventObject);
      if (!this.moved) return 'ignored';
      await this.settle(deadline, event.type);
      return 'applied';
    });
  }

  /**
   * Delivers every stored timer due by this worker's clock that is still pending under its token, earliest
   * first. What a wake-up message says is not trusted: a stale, early or forged one delivers only what is
   * due. When a delivery fails, {@link discardFailedTimer} names the timer.
   */
  async wake(budgetMs: number): Promise<Applied> {
    const now = this.now();
    const due = this.timers.filter((timer) => timer.fireAt <= now);
    const label = due.length > 0 ? shownType(due.map((timer) => timer.event.type).join(',')) : 'settle.wake';
    this.failingTimer = undefined;
    return this.run(label, budgetMs, async (deadline) => {
      let delivered = 0;
      for (const timer of due) {
        const target = this.book.take(this.actor, timer);
        if (!target) continue;
        this.failingTimer = timer;
        target.send(timer.event);
        delivered += 1;
        await this.settle(deadline, timer.event.type);
        if ((this.actor.getSnapshot() as AnyMachineSnapshot).status === 'error') return 'applied'; // run() reports it
      }
      this.failingTimer = undefined;
      return delivered > 0 ? 'applied' : 'ignored';
    });
  }

  /**
   * After a wake-up failed for good: drops the timer it was delivering from the settled state, so that it is
   * dead-lettered once and never woken again. The other due timers stay pending. Returns the dropped timer.
   */
  discardFailedTimer(): StoredTimer | undefined {
    const timer = this.failingTimer;
    this.failingTimer = undefined;
    const committed = this.committed;
    if (!timer || !committed) return undefined;
    this.committed = { ...committed, timers: committed.timers.filter((pending) => pending.token !== timer.token) };
    this.rebuild();
    return timer;
  }

  /**
   * Whether the live actor may go on in a later batch (see WarmSessions): started and settled, still active, with
   * no child (whose promise or callback would run between batches), and a snapshot whose JSON is at most
   * `maxSnapshotBytes` by an upper bound.
   */
  keepable(maxSnapshotBytes: number): boolean {
    const committed = this.committed;
    if (!this.started || !committed) return false;
    const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    if (snapshot.status !== 'active') return false;
    for (const _child in snapshot.children) return false;
    return jsonBytesAtMost(committed.snapshot) <= maxSnapshotBytes;
  }

  /** Stops the actor; its pending timers are kept in the state, not in memory. */
  stop(): void {
    this.clock.close();
    this.actor.stop();
  }

  private async run(eventType: string, budgetMs: number, step: (deadline: number) => Promise<'applied' | 'ignored'>): Promise<Applied> {
    const deadline = performance.now() + budgetMs;
    this.clock.open(deadline);
    try {
      if (!this.started) await this.startNew(deadline, eventType);
      const before = this.committed;
      try {
        const from = (before ?? (this.actor.getSnapshot() as AnyMachineSnapshot)).value;
        const result = await step(deadline);
        const snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
        if (snapshot.status === 'error') throw this.machineError(eventType, snapshot.error);
        if (result === 'applied') this.take(snapshot, eventType); // an ignored event changed nothing
        return { eventType, outcome: result === 'ignored' ? 'ignored' : settledOutcome(snapshot), from, to: snapshot.value };
      } catch (error) {
        this.committed = before;
        throw error;
      }
    } catch (error) {
      this.rebuild();
      throw error;
    } finally {
      this.clock.close();
    }
  }

  /**
   * A new instance: its initial state is settled and taken before its first event, so that a failing first
   * event leaves the instance in it (and the failure can be saved with it).
   */
  private async startNew(deadline: number, eventType: string): Promise<void> {
    this.actor.start();
    this.started = true;
    await this.settle(deadline, eventType);
    this.take(this.actor.getSnapshot() as AnyMachineSnapshot, eventType);
  }

  /** Takes a settled snapshot as the state to save, once it passes every check. */
  private take(snapshot: AnyMachineSnapshot, eventType: string): void {
    if (snapshot.status === 'error') throw this.machineError(eventType, snapshot.error);
    const machine = this.definition.machine;
    let persisted: PersistedSnapshot | undefined;
    let tags: string[] | undefined;
    // Only the last settled state of a group is written (or, after a failure, restored): persist lazily,
    // unless children are alive, whose state a later (failing) event could change before we read it.
    if (Object.keys(snapshot.children).length > 0) persisted = this.persistWithChildren(snapshot, eventType);
    const state: MachineState = {
      machineVersion: this.definition.version,
      get snapshot() {
        persisted ??= machine.getPersistedSnapshot(snapshot) as unknown as PersistedSnapshot;
        return persisted;
      },
      status: snapshot.status,
      value: snapshot.value,
      get states() {
        return activeStatePaths(snapshot);
      },
      get tags() {
        tags ??= [...snapshot.tags].sort();
        return tags;
      },
      timers: this.book.collect(this.actor, this.now(), { instanceKey: this.key.key, eventType }),
    };
    this.acceptState?.(state, eventType);
    this.committed = state;
  }

  /** Persists a snapshot with live children, refusing children that could not be restored. */
  private persistWithChildren(snapshot: AnyMachineSnapshot, eventType: string): PersistedSnapshot {
    const inline = inlineChildren(snapshot.children);
    if (inline.length > 0) {
      throw new PermanentError(
        'inline-actor',
        `While handling '${eventType}', machine '${this.key.machine}' of instance ${this.key.key} started child ` +
          `${inline.map((path) => `'${path}'`).join(', ')} from inline logic (e.g. spawnChild(fromPromise(…))), which cannot be ` +
          'saved and restored. The event was not applied. Register the logic by name in setup({ actors: { … } }) and ' +
          'spawn or invoke it by that name, then redrive the event from the DLQ.',
        { instanceKey: this.key.key },
      );
    }
    return this.definition.machine.getPersistedSnapshot(snapshot) as unknown as PersistedSnapshot;
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
        reject(new SettleTimeoutError(this.key.key, shownType(eventType), budget, (actor.getSnapshot() as AnyMachineSnapshot).value));
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
    this.started = false;
    if (!committed) {
      this.actor = this.createObservedActor({ input, clock: this.clock });
      return;
    }
    restoreActor(
      this.definition,
      this.key,
      committed.snapshot,
      (snapshot) => {
        this.actor = this.createObservedActor({ input, clock: this.clock, snapshot });
        return this.actor;
      },
      (actor) => {
        actor.start();
        this.started = true;
        this.book.restore(actor, committed.timers);
      },
    );
  }

  private createObservedActor(options: Parameters<typeof createActor>[1]): AnyActor {
    const actor = createActor(this.definition.machine, options);
    watchTransitions(actor, () => {
      this.moved = true;
    });
    // Without an error observer XState rethrows a machine's error through setTimeout: it would crash the process.
    actor.subscribe({ error: () => undefined });
    return actor;
  }

  private machineError(eventType: string, error: unknown): PermanentError {
    const { name, message } = describeError(error);
    return new PermanentError(
      'machine-error',
      `Machine '${this.key.machine}' threw ${name}: ${message} while handling '${shownType(eventType)}' on instance ${this.key.key}. ` +
        'The event was not applied and the instance kept its state; fix the machine (or give the invoke an onError), then redrive the event from the DLQ.',
      { instanceKey: this.key.key, cause: error },
    );
  }
}

/**
 * Calls `moved` each time the root actor takes a transition, eventless ones included (its first microstep, the
 * actor's start, comes before it is watched). XState's public way to see that is an inspector, which is handed
 * every inspection event of the system (actors created, events, snapshots, actions, microsteps of every actor),
 * each one copied first to add its root id: per event, that costs more than the check. So the worker takes over
 * the system's own inspection hook when it is there (XState is pinned; the ignored-event tests fail if it moves)
 * and falls back to `system.inspect` when it is not.
 */
function watchTransitions(actor: AnyActor, moved: () => void): void {
  const onEvent = (event: InspectionEvent): void => {
    if (event.type === '@xstate.microstep' && event.actorRef === actor && event._transitions.length > 0) moved();
  };
  const system = actor.system as { _sendInspectionEvent?: unknown };
  if (typeof system._sendInspectionEvent === 'function') system._sendInspectionEvent = onEvent;
  else actor.system.inspect(onEvent);
}

/** Paths of live children (at any depth) whose logic was given inline rather than by a registered name. */
function inlineChildren(children: Record<string, AnyActorRef | undefined>, prefix = ''): string[] {
  const found: string[] = [];
  for (const [id, child] of Object.entries(children)) {
    if (!child) continue;
    const path = `${prefix}${id}`;
    if (typeof child.src !== 'string') found.push(path);
    const nested = (child.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> }).children;
    if (nested) found.push(...inlineChildren(nested, `${path}.`));
  }
  return found;
}

/** The same check on a stored snapshot: XState's production build writes an inline child's `src` as `{}`. */
function inlinePersistedChildren(snapshot: unknown, prefix = ''): string[] {
  const children = (snapshot as { children?: Record<string, { src?: unknown; snapshot?: unknown } | undefined> } | null)?.children;
  if (!children || typeof children !== 'object') return [];
  const found: string[] = [];
  for (const [id, child] of Object.entries(children)) {
    if (!child) continue;
    const path = `${prefix}${id}`;
    if (typeof child.src !== 'string') found.push(path);
    found.push(...inlinePersistedChildren(child.snapshot, `${path}.`));
  }
  return found;
}

/**
 * The snapshot an instance restores from: the stored one, or the registry's `migrate()` of it when it was saved by
 * another version. Throws the {@link PermanentError} the worker dead-letters the instance's events with: no
 * snapshot (`snapshot-mismatch`), a migration that throws or declines, or none (`unknown-machine-version`).
 * `settle migrate --dry-run` (analysis/migrate-dry-run.ts) applies the same rule to every stored instance.
 */
export function currentSnapshot(
  stored: Pick<MachineState, 'machineVersion' | 'snapshot'>,
  definition: MachineDefinition,
  key: InstanceKey,
): PersistedSnapshot {
  if (typeof stored.snapshot !== 'object' || stored.snapshot === null) {
    // Only a hand-edited or damaged item has none: restoring would silently start the machine afresh.
    throw new PermanentError(
      'snapshot-mismatch',
      `The stored item of ${key.key} holds no snapshot, so the instance cannot be restored. Restore the item from a ` +
        'backup (point-in-time recovery), or delete it to start the instance afresh, then redrive the events from the DLQ.',
      { instanceKey: key.key },
    );
  }
  return stored.machineVersion === definition.version ? stored.snapshot : migrate(stored, definition, key);
}

/**
 * Restores `snapshot` into the actor `create` makes from it, and checks that it fits the machine: no child from
 * inline logic, and XState restored it without an error. `resume` (the worker's: start the actor and re-arm its
 * timers) runs under the same check; without it the actor is never started, so no invoked actor runs again
 * (`settle migrate --dry-run`). Throws `snapshot-mismatch` for a snapshot that does not fit.
 */
export function restoreActor(
  definition: MachineDefinition,
  key: InstanceKey,
  snapshot: PersistedSnapshot,
  create: (snapshot: Snapshot<unknown>) => AnyActor,
  resume: (actor: AnyActor) => void = () => undefined,
): AnyActor {
  const inline = inlinePersistedChildren(snapshot);
  if (inline.length > 0) {
    throw unrestorable(
      definition,
      key,
      `it holds child ${inline.map((path) => `'${path}'`).join(', ')} started from inline logic, which XState cannot restore`,
      'Register the logic by name in setup({ actors: { … } }), bump the version and give a migrate() that drops or replaces that child.',
    );
  }
  try {
    const actor = create(snapshot as Snapshot<unknown>);
    const restored = actor.getSnapshot() as AnyMachineSnapshot;
    if (restored.status === 'error') {
      throw unrestorable(
        definition,
        key,
        describeError(restored.error).message,
        'A state or child was renamed or removed without a version bump: bump the version in the registry and give a migrate() for the old one.',
      );
    }
    resume(actor);
    return actor;
  } catch (error) {
    if (error instanceof PermanentError) throw error;
    // XState throws raw TypeErrors for snapshots it cannot restore (an unknown actor source, say).
    const { name, message } = describeError(error);
    throw unrestorable(
      definition,
      key,
      `restoring it threw ${name}: ${message}`,
      'Bump the version in the registry and give a migrate() for the stored one.',
      error,
    );
  }
}

function unrestorable(definition: MachineDefinition, key: InstanceKey, why: string, fix: string, cause?: unknown): PermanentError {
  return new PermanentError(
    'snapshot-mismatch',
    `The stored snapshot of ${key.key} does not fit machine '${key.machine}' version ${definition.version}: ${why}. ${fix}`,
    { instanceKey: key.key, cause },
  );
}

function migrate(
  stored: Pick<MachineState, 'machineVersion' | 'snapshot'>,
  definition: MachineDefinition,
  key: InstanceKey,
): PersistedSnapshot {
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
