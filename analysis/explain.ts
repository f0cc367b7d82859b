/**
 * `settle explain`: what the worker would do with one event, told from the stored snapshot without doing it.
 * A dry run on a copy: nothing is saved, no invoked actor is started, no custom action is executed.
 *
 * How each answer is derived (docs/DESIGN.md, "The worker", is what it mirrors):
 * - The checks are the worker's own functions, in the worker's order: the stored snapshot (present, readable,
 *   its version, `migrate()` when the registry's version differs, XState's restore), then `parseMessage`, then
 *   `checkEventSchema` (the machine's `validateEvent`).
 * - The snapshot is restored as the worker restores it (`createActor(machine, { snapshot })`), but the actor is
 *   never started: nothing runs, and an in-flight invoked actor is not restarted.
 * - The event is fed to the machine's own pure step, `machine.transition(snapshot, event, scope)`, with an actor
 *   scope built as XState's `transition()` builds it (an unstarted actor, a fresh actor system, an executor that
 *   only collects actions). So guards, `assign`s and invoke inputs are evaluated (they must be pure, as XState
 *   requires), while custom actions, spawns, delayed events and emitted events are returned, never executed.
 * - "Ignored" is decided as the worker decides it: XState's `@xstate.microstep` inspection events of that step
 *   (their `_transitions`), eventless (`always`) steps included. Which guard refused is found by walking the
 *   active states as XState's `getTransitionData` walks them (leaf first, then ancestors; every region of a
 *   parallel state), asking each state node for its transition (`next`) and naming the candidates before the
 *   one taken.
 * - Where it settles is `isSettled`/`settledOutcome` of `runtime/core/settled.ts` on the snapshot after the step.
 *   When it does not settle yet, an invoked actor the worker would run is named ("waits"), unless the caller gave
 *   a pure model of that actor (`ExplainOptions.actors`, for tests), whose answer is then fed back as XState's
 *   `xstate.done.actor.<id>` / `xstate.error.actor.<id>` event. A delayed event armed during the step that fits
 *   the event's budget is delivered as the worker's clock would. With nothing left to wait for it never settles:
 *   the worker times out, SQS redelivers, and the last receive dead-letters it.
 */
import {
  createActor,
  fromTransition,
  getStateNodes,
  type AnyActorRef,
  type AnyActorScope,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type EventObject,
  type InspectionEvent,
  type StateValue,
} from 'xstate';
import { defaults } from '../runtime/core/config.ts';
import { PermanentError, describeError } from '../runtime/core/errors.ts';
import { maxEventBytes, parseMessage, shownType, type SettleEventMeta } from '../runtime/core/event.ts';
import { currentSnapshot, restoreActor } from '../runtime/core/instance.ts';
import { parseInstanceKey, type InstanceKey } from '../runtime/core/instance-key.ts';
import { acceptedEventTypes, acceptsEventType } from '../runtime/core/machine-events.ts';
import {
  checkEventSchema,
  definitionOf,
  type InstanceInput,
  type MachineDefinition,
  type MachineRegistry,
  type PersistedSnapshot,
} from '../runtime/core/registry.ts';
import { activeStatePaths, isSettled, rejectTag, resolveTag, settledOutcome, type Outcome } from '../runtime/core/settled.ts';
import type { InstanceRecord } from '../runtime/core/store.ts';

/**
 * What the worker would do with the event:
 * - `applied`: the machine takes a transition for it (its outcome is known once it settles, see `settle`);
 * - `ignored`: no transition (eventless ones included), or the instance is done; the history records `ignored`;
 * - `refused`: the worker would not apply it and dead-letters it (the boundary checks, a snapshot it cannot use,
 *   the machine throwing, a machine that would never settle);
 * - `undecided`: a new instance whose initial state first waits for an invoked actor: the event's fate depends
 *   on that actor's answer.
 */
export type Verdict = 'applied' | 'ignored' | 'refused' | 'undecided';

/** What the instance's history would record for the event (`error` for a machine that throws, as the worker records it). */
export type HistoryOutcome = Outcome | 'dead-lettered';

/** A pure model of an invoked actor: its answer for an input, without doing its work (tests; see reference.ts). */
export type ActorModel = (input: unknown) => { readonly output: unknown } | { readonly error: unknown };

export interface ExplainOptions {
  /** Epoch milliseconds the worker would handle the event at: timers' `fireAt`. @default Date.now() */
  readonly now?: number;
  /**
   * Models of invoked actors by their registered name (`src`). Without one, explain stops where the worker would
   * run that actor and says so; with one, it continues with the model's answer.
   */
  readonly actors?: Readonly<Record<string, ActorModel>>;
  /** The largest event body the worker takes: SQS's 256 KiB, or an offloaded event's 10 MiB. @default maxEventBytes */
  readonly maxEventBytes?: number;
  /** The SequenceNumber the event's `settle` metadata carries in the dry run. @default '0' */
  readonly sequenceNumber?: string;
  /** The worker's per-event budget: delayed events armed while settling fire in-process if they fit. @default defaults.eventTimeoutMs */
  readonly eventTimeoutMs?: number;
}

/** One check the worker makes before the machine sees the event. */
export interface Check {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** A settled (or resting) machine state, as the instance's item shows it. */
export interface StateView {
  readonly value: StateValue;
  /** Every active state as a dot path, one per region. */
  readonly states: readonly string[];
  readonly tags: readonly string[];
  readonly status: string;
  /** The context as the worker would store it (JSON). */
  readonly context: unknown;
}

/** One transition the machine would take. */
export interface TransitionStep {
  /**
   * What caused it: the event; an eventless (`always`) step or a raised event after it; an invoked actor's answer
   * (only with a model); a delayed event that fires within the event's budget.
   */
  readonly trigger: 'event' | 'eventless' | 'raised' | 'actor' | 'timer';
  /** The event type that selected it (for an eventless step, the event being handled). */
  readonly event: string;
  /** The state node that holds the transition, as a dot path (`(root)` for the machine). */
  readonly source: string;
  /** Its target state nodes (none: a targetless transition, which only runs actions). */
  readonly targets: readonly string[];
  /** The region of a parallel state it happens in, if any. */
  readonly region?: string;
  /** The guard it passed, if it has one. */
  readonly guard?: string;
}

/** A candidate transition for the event whose guard said no. */
export interface GuardRefusal {
  /** The state node holding the candidate. */
  readonly state: string;
  /** The event descriptor it listens to (`*` and `x.*` wildcards included). */
  readonly descriptor: string;
  readonly guard: string;
  readonly targets: readonly string[];
}

export interface TimerView {
  readonly id: string;
  readonly eventType: string;
  readonly delay: number;
  /** Epoch milliseconds. */
  readonly fireAt: number;
  /** For a delayed `sendTo` a child: the child's id. */
  readonly target?: string;
}

export interface WaitingActor {
  /** The child's id among the machine's children. */
  readonly id: string;
  /** The registered actor name (`src`). */
  readonly src: string;
  /** The state that invokes it; absent for a spawned child. */
  readonly state?: string;
}

export interface SettleFacts {
  /**
   * - `settled`: every region rests in a `resolve`/`reject`-tagged or final state, or the machine is done;
   * - `waits`: it would wait for invoked actors the worker would run (see `waitingFor`); what follows depends on them;
   * - `never`: no tag and nothing to wait for: the worker would time out, retry, and dead-letter the event;
   * - `not-run`: the event never reaches the machine (refused or ignored before it).
   */
  readonly kind: 'settled' | 'waits' | 'never' | 'not-run';
  readonly detail: string;
  readonly waitingFor: readonly WaitingActor[];
  /** Actors whose answer came from a model (`ExplainOptions.actors`), in the order they were answered. */
  readonly modelled: readonly { readonly id: string; readonly src: string; readonly answer: 'done' | 'error' }[];
}

export interface ContextChange {
  readonly key: string;
  /** JSON of the value before and after (`undefined`: the key is absent). */
  readonly before: unknown;
  readonly after: unknown;
}

export interface Explanation {
  readonly instanceKey: string;
  /** The event type, cut to 128 characters (`(none)` when the event has no string type). */
  readonly eventType: string;
  readonly verdict: Verdict;
  /** What the history would record; `undefined` when it depends on an invoked actor. */
  readonly outcome: HistoryOutcome | undefined;
  /** One line. */
  readonly summary: string;
  /** Why the worker would refuse it: the `settle-error` code its dead letter would carry, and the reason. */
  readonly refusal?: { readonly code: string; readonly message: string };
  readonly checks: readonly Check[];
  readonly instance: {
    readonly exists: boolean;
    /** The machine version of the stored snapshot (the registry's for a new instance). */
    readonly machineVersion: number;
    /** The registry's version, which the worker would save with. */
    readonly registryVersion: number;
    /** True when the stored snapshot went through `migrate()` in this dry run, as the worker would. */
    readonly migrated: boolean;
    /** The item's write counter; explain never changes it. */
    readonly itemVersion?: number;
    /** For a new instance: how it would start (steps the worker takes before the event, e.g. invoked actors answered). */
    readonly creation?: { readonly steps: readonly TransitionStep[] };
  };
  /** The state the event meets (for a new instance: the initial state, settled). */
  readonly before: StateView | undefined;
  /** The transitions the event would cause, in order; the event's own first. */
  readonly transitions: readonly TransitionStep[];
  /** Candidates for the event whose guard refused. */
  readonly refusedGuards: readonly GuardRefusal[];
  readonly settle: SettleFacts;
  /** Where the instance would rest after the event (for `waits`: where it would wait); for ignored, `before`. */
  readonly after: StateView | undefined;
  readonly contextChanges: readonly ContextChange[];
  readonly timers: {
    /** Armed by this event (an `after` re-armed on re-entry too). */
    readonly armed: readonly TimerView[];
    /** Ids cancelled (states with `after` left). */
    readonly cancelled: readonly string[];
    /** What the item would hold afterwards. */
    readonly pending: readonly TimerView[];
  };
  /** Side effects the worker would run for this event and explain did not: custom actions, spawns, sends. */
  readonly effects: readonly string[];
  readonly notes: readonly string[];
}

/**
 * Explains an event for an instance of the registry: the instance key and the machine are checked first, as the
 * worker checks the message group (an unknown machine is `refused`, code `unknown-machine`).
 */
export function explainInRegistry(
  registry: MachineRegistry,
  instanceKey: string,
  stored: InstanceRecord | undefined,
  event: unknown,
  options: ExplainOptions = {},
): Explanation {
  let key: InstanceKey;
  let definition: MachineDefinition;
  try {
    key = parseInstanceKey(instanceKey);
    definition = definitionOf(registry, key);
  } catch (error) {
    if (!(error instanceof PermanentError)) throw error;
    const explanation = refusedAtTheDoor(instanceKey, event, error);
    return stored
      ? {
          ...explanation,
          notes: [
            ...explanation.notes,
            `The stack holds an item for ${instanceKey} (machine '${stored.machine}', version ${stored.machineVersion}): the registry ` +
              'explained against is not the one that worker runs.',
          ],
        }
      : explanation;
  }
  return explainEvent(definition, key, stored, event, options);
}

/**
 * What the worker would do with `event` for the instance `key` of `definition`, stored as `stored` (`undefined`:
 * no item yet, the event would create it). Pure: no I/O, nothing executed but the machine's own pure parts.
 */
export function explainEvent(
  definition: MachineDefinition,
  key: InstanceKey,
  stored: InstanceRecord | undefined,
  event: unknown,
  options: ExplainOptions = {},
): Explanation {
  return new DryRun(definition, key, stored, event, options).explain();
}

// ---------------------------------------------------------------------------------------------------------------

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Collected {
  readonly type: string;
  readonly params: unknown;
}

interface Microstep {
  readonly event: EventObject;
  readonly transitions: readonly AnyTransitionDefinition[];
}

interface PendingTimer extends TimerView {
  /** Armed during this run, to the machine itself: the worker's clock may fire it while the event settles. */
  readonly armedNow: boolean;
}

/** A machine error while stepping: the worker's actor catches it and the event is dead-lettered (`machine-error`). */
class MachineThrew extends Error {}

class DryRun {
  private readonly machine: AnyStateMachine;
  private readonly input: InstanceInput;
  private readonly now: number;
  private readonly checks: Check[] = [];
  private readonly notes: string[] = [];
  private readonly effects: string[] = [];
  private readonly result: Mutable<Explanation>;
  private readonly timers = new Map<string, PendingTimer>();
  private readonly armed: TimerView[] = [];
  private readonly cancelled: string[] = [];
  private readonly answered = new WeakSet<AnyActorRef>();
  private readonly modelled: { id: string; src: string; answer: 'done' | 'error' }[] = [];
  private scope: AnyActorScope | undefined;
  /** Timers, armed, cancelled and effects when the state the event meets was known: what an ignored or refused event leaves. */
  private checkpoint: { timers: Map<string, PendingTimer>; armed: number; cancelled: number; effects: number } | undefined;
  private microsteps: Microstep[] = [];
  private actions: Collected[] = [];

  constructor(
    private readonly definition: MachineDefinition,
    private readonly key: InstanceKey,
    private readonly stored: InstanceRecord | undefined,
    private readonly event: unknown,
    private readonly options: ExplainOptions,
  ) {
    this.machine = definition.machine;
    this.input = { instanceId: key.instanceId, instanceKey: key.key };
    this.now = options.now ?? Date.now();
    const type = (event as { type?: unknown } | null)?.type;
    this.result = {
      instanceKey: key.key,
      eventType: typeof type === 'string' ? shownType(type) : '(none)',
      verdict: 'refused',
      outcome: undefined,
      summary: '',
      checks: this.checks,
      instance: {
        exists: stored !== undefined,
        machineVersion: stored?.machineVersion ?? definition.version,
        registryVersion: definition.version,
        migrated: false,
        ...(stored ? { itemVersion: stored.version } : {}),
      },
      before: undefined,
      transitions: [],
      refusedGuards: [],
      settle: { kind: 'not-run', detail: 'The event does not reach the machine.', waitingFor: [], modelled: this.modelled },
      after: undefined,
      contextChanges: [],
      timers: { armed: this.armed, cancelled: this.cancelled, pending: [] },
      effects: this.effects,
      notes: this.notes,
    };
    if (stored) for (const [id, timer] of storedTimers(stored)) this.timers.set(id, timer);
  }

  explain(): Explanation {
    try {
      return this.run();
    } catch (error) {
      if (error instanceof PermanentError) return this.refuse(error.code, error.message);
      if (error instanceof MachineThrew) return this.refuse('machine-error', error.message);
      throw error;
    }
  }

  private run(): Explanation {
    const { key, stored, definition } = this;

    // 1. The stored state, as InstanceSession.open and its restore check it (before any record is looked at).
    let current: AnyMachineSnapshot | undefined;
    if (stored) {
      current = this.restore(stored);
      this.meet(current);
    }

    // 2. The message and its schema, as applyRecord checks them.
    const body = JSON.stringify(this.event) ?? '';
    const message = parseMessage(body, key.key, this.options.maxEventBytes ?? maxEventBytes);
    if (message.kind === 'wake') {
      throw new PermanentError(
        'reserved-type',
        "'settle.wake' is the sweeper's wake-up, not an event: it delivers the instance's due timers, and only the sweeper sends it. " +
          'explain does not dry-run wake-ups.',
        { instanceKey: key.key },
      );
    }
    this.check('message', true, 'a JSON object with a string "type", not reserved, within the size limit');
    checkEventSchema(definition, key, message.event);
    this.check('schema', true, definition.validateEvent ? 'validateEvent accepts it' : 'the machine has no validateEvent');
    if (!acceptsEventType(acceptedEventTypes(this.machine), message.event.type)) {
      this.notes.push(
        `No state of machine '${key.machine}' takes '${this.result.eventType}': \`settle send\` and SettleClient refuse to send it ` +
          '(unknown-event); sent another way, the worker records it as ignored.',
      );
    }
    const meta: SettleEventMeta = {
      instanceKey: key.key,
      sequenceNumber: this.options.sequenceNumber ?? '0',
      idempotencyKey: `${key.key}#${this.options.sequenceNumber ?? '0'}`,
    };
    const delivered = { ...message.event, settle: meta } as EventObject;

    // 3. A new instance: created from its initial state, settled before the event, as InstanceSession.startNew does.
    if (!current) {
      this.notes.push(
        `No item for ${key.key}: the worker would create the instance from the initial state of '${key.machine}' version ` +
          `${definition.version} (input ${JSON.stringify(this.input)}), settle it, then apply the event.`,
      );
      const initial = this.step(() => this.machine.getInitialSnapshot(this.actorScope(), this.input), '(initial)');
      const settled = this.settle(initial.snapshot, 'the initial state');
      this.result.instance = { ...this.result.instance, creation: { steps: settled.steps } };
      if (settled.kind === 'waits') {
        this.result.before = viewOf(settled.snapshot);
        this.result.after = this.result.before;
        this.result.settle = this.settleFacts(
          settled,
          `The initial state waits for ${names(settled.waitingFor)} before the event is applied.`,
        );
        return this.finish('undecided', undefined);
      }
      if (settled.kind === 'never') return this.neverSettles(settled.snapshot, 'its initial state');
      current = settled.snapshot;
      this.meet(current);
    }
    const before = this.result.before as StateView;

    // 4. The event (InstanceSession.apply): a finished instance ignores it.
    if (current.status !== 'active') {
      this.result.after = before;
      this.result.settle = this.settleFacts(
        { kind: 'settled', snapshot: current, steps: [], waitingFor: [] },
        `The instance is ${current.status}.`,
      );
      return this.finish('ignored', 'ignored');
    }
    this.result.refusedGuards = this.refusedGuards(current, delivered);
    const taken = this.step(() => this.machine.transition(current, delivered, this.actorScope()), this.result.eventType);
    if (!taken.microsteps.some((microstep) => microstep.transitions.length > 0)) {
      // Nothing happened: the worker keeps the state (and its timers) as it was.
      this.rollBack();
      this.result.after = before;
      this.result.settle = this.settleFacts(
        { kind: 'settled', snapshot: current, steps: [], waitingFor: [] },
        'Nothing changes: the instance keeps its state.',
      );
      return this.finish('ignored', 'ignored');
    }
    const transitions = describeMicrosteps(taken.microsteps, 'event');
    if (taken.snapshot.status === 'error') throw this.machineError(taken.snapshot.error);
    const settled = this.settle(taken.snapshot, `'${this.result.eventType}'`);
    this.result.transitions = [...transitions, ...settled.steps];
    if (settled.kind === 'never') return this.neverSettles(settled.snapshot, `'${this.result.eventType}'`);
    const after = viewOf(settled.snapshot);
    this.result.after = after;
    this.result.contextChanges = contextChanges(before.context, after.context);
    if (settled.kind === 'waits') {
      this.result.settle = this.settleFacts(
        settled,
        `It would wait in ${after.states.join(', ')} for invoked ${names(settled.waitingFor)}; the worker would run ` +
          `${settled.waitingFor.length === 1 ? 'it' : 'them'}, and where it settles depends on the answer.`,
      );
      return this.finish('applied', undefined);
    }
    this.checkTake(settled.snapshot);
    const outcome = settledOutcome(settled.snapshot);
    this.result.settle = this.settleFacts(
      settled,
      outcome === 'done'
        ? 'The machine reaches its final state: done.'
        : `Every region rests in a ${outcome}-tagged or final state: ${after.states.join(', ')}.`,
    );
    return this.finish('applied', outcome);
  }

  /**
   * InstanceSession.open and rebuild, by the worker's own rules (`currentSnapshot`, `restoreActor`): the snapshot
   * must be there, of this version (or migrated, on a copy), and restore — into an actor never started, so nothing
   * runs and in-flight invoked actors are not restarted.
   */
  private restore(stored: InstanceRecord): AnyMachineSnapshot {
    const { key, definition } = this;
    if (stored.unreadableSnapshot) throw stored.unreadableSnapshot;
    const snapshot = currentSnapshot(
      { machineVersion: stored.machineVersion, snapshot: structuredClone(stored.snapshot) as PersistedSnapshot },
      definition,
      key,
    );
    if (stored.machineVersion === definition.version) {
      this.check('machine version', true, `saved by version ${stored.machineVersion}, the registry's`);
    } else {
      this.result.instance = { ...this.result.instance, migrated: true };
      this.check(
        'machine version',
        true,
        `saved by version ${stored.machineVersion}; migrate() takes it to version ${definition.version} (applied in this dry run, as the worker would)`,
      );
    }
    const restored = restoreActor(definition, key, snapshot, (persisted) =>
      createActor(this.machine, { input: this.input, snapshot: persisted }),
    ).getSnapshot() as AnyMachineSnapshot;
    this.check('snapshot', true, `restores into machine '${key.machine}' version ${definition.version}`);
    const running = Object.entries(restored.children as Record<string, AnyActorRef | undefined>).filter(
      ([, child]) => child && (child.getSnapshot() as { status?: string }).status === 'active',
    );
    if (running.length > 0) {
      this.notes.push(
        `On restore the worker starts the invoked ${running.map(([id, child]) => `'${String(child?.src ?? id)}'`).join(', ')} again ` +
          '(in flight when the snapshot was saved; at-least-once): explain does not.',
      );
    }
    return restored;
  }

  /** The actor scope of XState's pure `transition()`, with the microsteps inspected. */
  private actorScope(): AnyActorScope {
    if (this.scope) return this.scope;
    const probe = createActor(
      fromTransition((state: undefined) => state, undefined),
      {
        inspect: (event: InspectionEvent) => {
          if (event.type === '@xstate.microstep') this.microsteps.push({ event: event.event, transitions: event._transitions });
        },
      },
    );
    // As xstate's createInertActorScope: an unstarted actor of the machine over a fresh system (here one inspected).
    const self = createActor(this.machine, { input: this.input });
    (self as { system: unknown }).system = probe.system;
    this.scope = {
      self,
      id: '',
      sessionId: '',
      logger: () => undefined,
      defer: () => undefined,
      emit: () => undefined,
      stopChild: () => undefined,
      system: probe.system,
      actionExecutor: (action) => {
        this.actions.push({ type: action.type, params: action.params });
      },
    };
    return this.scope;
  }

  /** One pure macrostep: its microsteps, and the actions it returned (recorded as timers and effects). */
  private step(run: () => AnyMachineSnapshot, eventType: string): { snapshot: AnyMachineSnapshot; microsteps: Microstep[] } {
    this.microsteps = [];
    this.actions = [];
    let snapshot: AnyMachineSnapshot;
    try {
      snapshot = run();
    } catch (error) {
      throw this.machineError(error, eventType);
    }
    for (const action of this.actions) this.record(action, snapshot);
    return { snapshot, microsteps: this.microsteps };
  }

  private record(action: Collected, snapshot: AnyMachineSnapshot): void {
    const params = (action.params ?? {}) as { id?: unknown; delay?: unknown; event?: EventObject; sendId?: unknown; to?: unknown };
    if (action.type === 'xstate.cancel' && typeof params.sendId === 'string') {
      if (this.timers.delete(params.sendId)) this.cancelled.push(params.sendId);
      return;
    }
    if ((action.type === 'xstate.raise' || action.type === 'xstate.sendTo') && typeof params.delay === 'number' && params.event) {
      const id = typeof params.id === 'string' ? params.id : `(unnamed ${params.event.type})`;
      let target: string | undefined;
      if (action.type === 'xstate.sendTo' && params.to !== this.scope?.self) {
        const children = snapshot.children as Record<string, AnyActorRef | undefined>;
        target =
          typeof params.to === 'string' && Object.hasOwn(children, params.to)
            ? params.to
            : Object.keys(children).find((childId) => children[childId] === params.to);
        if (target === undefined) {
          throw new PermanentError(
            'undurable-timer',
            `While handling '${this.result.eventType}', instance ${this.key.key} would schedule '${params.event.type}' (id '${id}', ` +
              `${params.delay} ms) for an actor that is not a child of the root machine, so the worker could not store it. Send delayed ` +
              'events to the machine itself (after, raise with a delay) or to a child it invokes or spawns.',
            { instanceKey: this.key.key },
          );
        }
      }
      const timer: PendingTimer = {
        id,
        eventType: params.event.type,
        delay: params.delay,
        fireAt: this.now + params.delay,
        ...(target === undefined ? {} : { target }),
        armedNow: target === undefined,
      };
      this.timers.set(id, timer);
      this.armed.push(timerView(timer));
      return;
    }
    if (action.type === 'xstate.raise') return; // a raise without delay is handled inside the macrostep
    if (action.type === 'xstate.spawnChild') {
      const ref = (params as { actorRef?: AnyActorRef }).actorRef;
      this.effects.push(`start ${typeof ref?.src === 'string' ? `'${ref.src}'` : 'an inline actor'}${ref ? ` (child '${ref.id}')` : ''}`);
      return;
    }
    if (action.type === 'xstate.stopChild') {
      const ref = action.params as AnyActorRef | undefined;
      if (ref) this.effects.push(`stop child '${ref.id}'`);
      return;
    }
    if (action.type === 'xstate.sendTo') {
      this.effects.push(`send '${params.event?.type ?? '?'}' to another actor`);
      return;
    }
    if (action.type === 'xstate.emit') {
      this.effects.push(`emit '${(params as { event?: EventObject }).event?.type ?? '?'}'`);
      return;
    }
    this.effects.push(action.type.startsWith('xstate.') ? action.type : `action '${action.type}'`);
  }

  /**
   * The worker's settle (InstanceSession.settle): until every region rests. Invoked actors it cannot model make it
   * wait; delayed events armed now that fit the event's budget fire as the worker's clock would fire them.
   */
  private settle(snapshot: AnyMachineSnapshot, what: string): Settled {
    const steps: TransitionStep[] = [];
    const budget = this.options.eventTimeoutMs ?? defaults.eventTimeoutMs;
    for (let round = 0; round < 200; round += 1) {
      if (snapshot.status === 'error') throw this.machineError(snapshot.error, what);
      if (isSettled(snapshot)) return { kind: 'settled', snapshot, steps, waitingFor: [] };
      const children = Object.entries(snapshot.children as Record<string, AnyActorRef | undefined>).filter(
        (entry): entry is [string, AnyActorRef] =>
          entry[1] !== undefined && !this.answered.has(entry[1]) && (entry[1].getSnapshot() as { status?: string }).status === 'active',
      );
      const modelOf = (child: AnyActorRef): ActorModel | undefined => {
        const actors = this.options.actors;
        return actors && typeof child.src === 'string' && Object.hasOwn(actors, child.src) ? actors[child.src] : undefined;
      };
      const modelled = children.find(([, child]) => modelOf(child) !== undefined);
      if (modelled) {
        const [id, child] = modelled;
        this.answered.add(child);
        const model = modelOf(child) as ActorModel;
        const answer = model((child.getSnapshot() as { input?: unknown }).input);
        this.modelled.push({ id, src: child.src as string, answer: 'error' in answer ? 'error' : 'done' });
        const event = ('error' in answer
          ? { type: `xstate.error.actor.${id}`, error: answer.error, actorId: id }
          : { type: `xstate.done.actor.${id}`, output: answer.output, actorId: id }) as unknown as EventObject;
        const next = this.step(() => this.machine.transition(snapshot, event, this.actorScope()), event.type);
        steps.push(...describeMicrosteps(next.microsteps, 'actor'));
        snapshot = next.snapshot;
        continue;
      }
      if (children.length > 0) {
        return { kind: 'waits', snapshot, steps, waitingFor: children.map(([id, child]) => waitingActor(snapshot, id, child)) };
      }
      const due = [...this.timers.values()].filter((timer) => timer.armedNow && timer.delay <= budget).sort((a, b) => a.delay - b.delay)[0];
      if (due) {
        this.timers.delete(due.id);
        const event = { type: due.eventType } as EventObject;
        const next = this.step(() => this.machine.transition(snapshot, event, this.actorScope()), due.eventType);
        steps.push(...describeMicrosteps(next.microsteps, 'timer'));
        snapshot = next.snapshot;
        continue;
      }
      return { kind: 'never', snapshot, steps, waitingFor: [] };
    }
    return { kind: 'never', snapshot, steps, waitingFor: [] };
  }

  /** What InstanceSession.take refuses on a settled state: live children started from inline logic. */
  private checkTake(snapshot: AnyMachineSnapshot): void {
    const inline = Object.entries(snapshot.children as Record<string, AnyActorRef | undefined>)
      .filter(([, child]) => child && typeof child.src !== 'string')
      .map(([id]) => `'${id}'`);
    if (inline.length > 0) {
      throw new PermanentError(
        'inline-actor',
        `While handling '${this.result.eventType}', machine '${this.key.machine}' of instance ${this.key.key} would start child ` +
          `${inline.join(', ')} from inline logic (e.g. spawnChild(fromPromise(…))), which cannot be saved and restored: the worker ` +
          'would not apply the event. Register the logic by name in setup({ actors: { … } }) and spawn or invoke it by that name.',
        { instanceKey: this.key.key },
      );
    }
  }

  /** Walks the active states as XState's getTransitionData does, naming each candidate whose guard refused. */
  private refusedGuards(snapshot: AnyMachineSnapshot, event: EventObject): GuardRefusal[] {
    const refused: GuardRefusal[] = [];
    const consult = (node: AnyStateNode): AnyTransitionDefinition[] | undefined => {
      const candidates = candidatesOf(node, event.type);
      if (candidates.length === 0) return undefined;
      let selected: AnyTransitionDefinition[] | undefined;
      try {
        selected = (node as unknown as { next(s: AnyMachineSnapshot, e: EventObject): AnyTransitionDefinition[] | undefined }).next(
          snapshot,
          event,
        );
      } catch (error) {
        throw this.machineError(error);
      }
      const chosen = selected?.[0];
      for (const candidate of candidates) {
        if (candidate === chosen) break;
        if (candidate.guard === undefined) continue;
        refused.push({
          state: pathOf(node),
          descriptor: candidate.eventType,
          guard: describeGuard(candidate.guard),
          targets: (candidate.target ?? []).map(pathOf),
        });
      }
      return selected;
    };
    const walk = (node: AnyStateNode, value: StateValue): AnyTransitionDefinition[] | undefined => {
      let inner: AnyTransitionDefinition[] | undefined;
      if (typeof value === 'string') {
        const child = node.states[value];
        inner = child ? consult(child) : undefined;
      } else {
        const keys = Object.keys(value);
        if (keys.length === 1) {
          const child = node.states[keys[0] as string];
          const childValue = value[keys[0] as string];
          inner = child && childValue !== undefined ? walk(child, childValue as StateValue) : undefined;
        } else {
          const all: AnyTransitionDefinition[] = [];
          for (const key of keys) {
            const child = node.states[key];
            const childValue = value[key];
            if (!child || !childValue) continue;
            all.push(...(walk(child, childValue as StateValue) ?? []));
          }
          inner = all;
        }
      }
      return inner && inner.length > 0 ? inner : consult(node);
    };
    walk(this.machine.root, snapshot.value);
    return refused;
  }

  private neverSettles(snapshot: AnyMachineSnapshot, what: string): Explanation {
    const restless = restlessLeaves(snapshot);
    const detail =
      `After ${what} the instance would stop in ${activeStatePaths(snapshot).join(', ')}, where ${restless.map((path) => `'${path}'`).join(', ')} ` +
      `${restless.length === 1 ? 'has' : 'have'} no ${resolveTag} or ${rejectTag} tag, is not final, and waits for no invoked actor ` +
      "or timer within the event's budget. The worker would wait out its budget (settle-timeout), roll the event back and leave it to " +
      'SQS to redeliver; on the last receive it dead-letters it (retries-exhausted). Tag the state where the machine waits with resolve or reject.';
    this.result.settle = { kind: 'never', detail, waitingFor: [], modelled: this.modelled };
    return this.refuse('retries-exhausted', detail);
  }

  /** The state the event meets is known: remember what an ignored or refused event leaves behind. */
  private meet(snapshot: AnyMachineSnapshot): void {
    this.result.before = viewOf(snapshot);
    this.checkpoint = {
      timers: new Map(this.timers),
      armed: this.armed.length,
      cancelled: this.cancelled.length,
      effects: this.effects.length,
    };
  }

  private rollBack(): void {
    const checkpoint = this.checkpoint;
    this.timers.clear();
    if (checkpoint) for (const [id, timer] of checkpoint.timers) this.timers.set(id, timer);
    else if (this.stored) for (const [id, timer] of storedTimers(this.stored)) this.timers.set(id, timer);
    this.armed.length = checkpoint?.armed ?? 0;
    this.cancelled.length = checkpoint?.cancelled ?? 0;
    this.effects.length = checkpoint?.effects ?? 0;
  }

  private settleFacts(settled: Settled, detail: string): SettleFacts {
    return { kind: settled.kind, detail, waitingFor: settled.waitingFor, modelled: this.modelled };
  }

  private check(name: string, passed: boolean, detail: string): void {
    this.checks.push({ name, passed, detail });
  }

  private refuse(code: string, message: string): Explanation {
    if (!this.checks.some((check) => !check.passed)) this.check(stageOf(code), false, message);
    this.result.refusal = { code, message };
    // A refused event changes nothing: the instance keeps the state it met the event in (a new instance, its initial
    // state once started: the worker saves it with the dead-lettered event), or stays absent.
    this.rollBack();
    this.result.after = this.result.before;
    this.result.contextChanges = [];
    return this.finish('refused', code === 'machine-error' ? 'error' : 'dead-lettered');
  }

  private finish(verdict: Verdict, outcome: HistoryOutcome | undefined): Explanation {
    this.result.verdict = verdict;
    this.result.outcome = outcome;
    const done = this.result.after?.status === 'done' && verdict !== 'refused';
    const pending = done ? [] : [...this.timers.values()].map(timerView).sort((a, b) => a.fireAt - b.fireAt || a.id.localeCompare(b.id));
    this.result.timers = { armed: this.armed, cancelled: this.cancelled, pending };
    this.result.summary = summaryOf(this.result);
    return this.result;
  }

  private machineError(error: unknown, eventType: string = this.result.eventType): MachineThrew {
    if (error instanceof PermanentError || error instanceof MachineThrew) return error as MachineThrew;
    const { name, message } = describeError(error);
    return new MachineThrew(
      `Machine '${this.key.machine}' would throw ${name}: ${message} while handling '${eventType}' on instance ${this.key.key}. ` +
        'The worker would not apply the event (the instance keeps its state) and dead-letters it (machine-error).',
    );
  }
}

interface Settled {
  readonly kind: 'settled' | 'waits' | 'never';
  readonly snapshot: AnyMachineSnapshot;
  readonly steps: readonly TransitionStep[];
  readonly waitingFor: readonly WaitingActor[];
}

/** An instance key or machine the worker refuses before it reads anything. */
function refusedAtTheDoor(instanceKey: string, event: unknown, error: PermanentError): Explanation {
  const type = (event as { type?: unknown } | null)?.type;
  const explanation: Mutable<Explanation> = {
    instanceKey,
    eventType: typeof type === 'string' ? shownType(type) : '(none)',
    verdict: 'refused',
    outcome: 'dead-lettered',
    summary: '',
    refusal: { code: error.code, message: error.message },
    checks: [{ name: stageOf(error.code), passed: false, detail: error.message }],
    instance: { exists: false, machineVersion: 0, registryVersion: 0, migrated: false },
    before: undefined,
    transitions: [],
    refusedGuards: [],
    settle: { kind: 'not-run', detail: 'The event does not reach a machine.', waitingFor: [], modelled: [] },
    after: undefined,
    contextChanges: [],
    timers: { armed: [], cancelled: [], pending: [] },
    effects: [],
    notes: [],
  };
  explanation.summary = summaryOf(explanation);
  return explanation;
}

/** Which check a refusal code belongs to. */
function stageOf(code: string): string {
  switch (code) {
    case 'invalid-instance-key':
      return 'instance key';
    case 'unknown-machine':
      return 'machine';
    case 'unknown-machine-version':
      return 'machine version';
    case 'snapshot-mismatch':
    case 'payload-missing':
    case 'payload-corrupt':
      return 'snapshot';
    case 'invalid-json':
    case 'invalid-event':
    case 'reserved-type':
    case 'event-too-large':
      return 'message';
    case 'schema-violation':
      return 'schema';
    case 'retries-exhausted':
      return 'settle';
    default:
      return 'machine';
  }
}

function summaryOf(explanation: Explanation): string {
  const { verdict, refusal, transitions, after, before, refusedGuards, settle, eventType } = explanation;
  switch (verdict) {
    case 'refused':
      return `'${eventType}' would be refused (${refusal?.code}): the worker dead-letters it and the instance keeps its state.`;
    case 'ignored': {
      if (before && before.status !== 'active') return `'${eventType}' would be ignored: the instance is ${before.status}.`;
      const guards = refusedGuards.length > 0 ? `; refused by guard ${refusedGuards.map((refusal) => refusal.guard).join(', ')}` : '';
      return `'${eventType}' would be ignored: no transition for it in ${before?.states.join(', ') ?? 'the initial state'}${guards}.`;
    }
    case 'undecided':
      return `'${eventType}' is undecided: the new instance's initial state first waits for invoked ${names(settle.waitingFor)}.`;
    case 'applied': {
      const first = transitions.filter((step) => step.trigger === 'event').map(arrow);
      const taken = first.length > 0 ? first.join('; ') : 'a transition';
      if (settle.kind === 'waits') {
        const them = settle.waitingFor.length === 1 ? 'it' : 'them';
        return `'${eventType}' would be applied (${taken}), then wait for invoked ${names(settle.waitingFor)}: the worker would run ${them}.`;
      }
      return `'${eventType}' would be applied (${taken}) and settle in ${after?.states.join(', ')}: ${explanation.outcome}.`;
    }
  }
}

/** `review.legal.pending → review.legal.signed` (a targetless transition: `review.legal.pending (actions only)`). */
export function arrow(step: TransitionStep): string {
  return step.targets.length > 0 ? `${step.source} → ${step.targets.join(', ')}` : `${step.source} (no target: actions only)`;
}

function names(actors: readonly WaitingActor[]): string {
  return actors.map((actor) => `'${actor.src}'${actor.state ? ` (in ${actor.state})` : ''}`).join(', ');
}

function describeMicrosteps(microsteps: readonly Microstep[], first: TransitionStep['trigger']): TransitionStep[] {
  const steps: TransitionStep[] = [];
  for (const [index, microstep] of microsteps.entries()) {
    for (const transition of microstep.transitions) {
      const trigger: TransitionStep['trigger'] = index === 0 ? first : transition.eventType === '' ? 'eventless' : 'raised';
      const region = regionOf(transition.source);
      steps.push({
        trigger,
        event: shownType(trigger === 'eventless' ? '(always)' : microstep.event.type),
        source: pathOf(transition.source),
        targets: (transition.target ?? []).map(pathOf),
        ...(region === undefined ? {} : { region }),
        ...(transition.guard === undefined ? {} : { guard: describeGuard(transition.guard) }),
      });
    }
  }
  return steps;
}

function pathOf(node: AnyStateNode): string {
  return node.path.length === 0 ? '(root)' : node.path.join('.');
}

/** The region (child of a parallel state) a node is in, as a path. */
function regionOf(node: AnyStateNode): string | undefined {
  for (let current: AnyStateNode | undefined = node; current?.parent; current = current.parent) {
    if (current.parent.type === 'parallel') return pathOf(current);
  }
  return undefined;
}

/** A state node's transitions for an event type, in XState's order (getCandidates): the exact type, then wildcards, longest first. */
function candidatesOf(node: AnyStateNode, type: string): AnyTransitionDefinition[] {
  const exact = node.transitions.get(type) ?? [];
  const wildcards = [...node.transitions.keys()]
    .filter((descriptor) => descriptor !== type && matchesDescriptor(type, descriptor))
    .sort((a, b) => b.length - a.length)
    .flatMap((descriptor) => node.transitions.get(descriptor) ?? []);
  return [...exact, ...wildcards];
}

function matchesDescriptor(type: string, descriptor: string): boolean {
  if (descriptor === type || descriptor === '*') return true;
  if (!descriptor.endsWith('.*')) return false;
  const tokens = descriptor.split('.');
  const typeTokens = type.split('.');
  for (const [index, token] of tokens.entries()) {
    if (token === '*') return index === tokens.length - 1;
    if (token !== typeTokens[index]) return false;
  }
  return true;
}

/** A guard as people read it: its name (and params), a built-in combination, or an inline guard's source. */
export function describeGuard(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const builtin = guard as { name: string; guards?: unknown[]; stateValue?: unknown; check?: unknown };
    if (builtin.check && Array.isArray(builtin.guards)) return `${builtin.name}(${builtin.guards.map(describeGuard).join(', ')})`;
    if (builtin.check && builtin.stateValue !== undefined) return `stateIn(${JSON.stringify(builtin.stateValue)})`;
    const source = Function.prototype.toString.call(guard).replace(/\s+/g, ' ');
    return `inline guard ${source.length > 100 ? `${source.slice(0, 99)}…` : source}`;
  }
  if (typeof guard === 'object' && guard !== null && 'type' in guard) {
    const { type, params } = guard as { type: unknown; params?: unknown };
    const shown = typeof params === 'function' ? '(params from context/event)' : params === undefined ? '' : `(${JSON.stringify(params)})`;
    return `${String(type)}${shown}`;
  }
  return String(guard);
}

function viewOf(snapshot: AnyMachineSnapshot): StateView {
  const persisted = snapshot.machine.getPersistedSnapshot(snapshot) as { context?: unknown };
  return {
    value: snapshot.value,
    states: activeStatePaths(snapshot),
    tags: [...snapshot.tags].sort(),
    status: snapshot.status,
    context: json(persisted.context),
  };
}

function storedTimers(stored: InstanceRecord): Map<string, PendingTimer> {
  return new Map(
    (stored.timers ?? []).map((timer) => [
      timer.id,
      {
        id: timer.id,
        eventType: timer.event.type,
        delay: timer.delay,
        fireAt: timer.fireAt,
        ...(timer.target === undefined ? {} : { target: timer.target }),
        armedNow: false,
      },
    ]),
  );
}

function timerView(timer: PendingTimer): TimerView {
  return {
    id: timer.id,
    eventType: timer.eventType,
    delay: timer.delay,
    fireAt: timer.fireAt,
    ...(timer.target === undefined ? {} : { target: timer.target }),
  };
}

function waitingActor(snapshot: AnyMachineSnapshot, id: string, child: AnyActorRef): WaitingActor {
  const invoker = (snapshot as unknown as { _nodes: AnyStateNode[] })._nodes.find((node) => node.invoke.some((invoke) => invoke.id === id));
  return { id, src: typeof child.src === 'string' ? child.src : '(inline logic)', ...(invoker ? { state: pathOf(invoker) } : {}) };
}

/** Active leaves that keep the machine from settling: not final, no resolve/reject tag on them or an ancestor. */
function restlessLeaves(snapshot: AnyMachineSnapshot): string[] {
  const tagged = (node: AnyStateNode): boolean => {
    for (let current: AnyStateNode | undefined = node; current; current = current.parent) {
      if (current.tags.includes(resolveTag) || current.tags.includes(rejectTag)) return true;
    }
    return false;
  };
  return getStateNodes(snapshot.machine.root, snapshot.value)
    .filter((node) => node.type === 'atomic')
    .filter((node) => !tagged(node))
    .map(pathOf);
}

function contextChanges(before: unknown, after: unknown): ContextChange[] {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isRecord(before) || !isRecord(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ key: '(context)', before, after }];
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) => ({ key, before: before[key], after: after[key] }));
}

function json<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
