/**
 * The reference the property tests compare the worker with: each instance's events folded, in the
 * order they were sent, through XState's pure `initialTransition()` / `transition()` — no actor, no
 * clock, no mailbox, none of Settle's runtime.
 *
 * Invoked promise actors. `transition()` never runs an invoked actor: it only records the spawn. Of
 * the two honest options (a machine variant without invokes, or a real actor per event) the first
 * would stop testing the example machines' real shape and the second would re-run the very runtime
 * under test. So the reference takes a third, explicit route: every example machine runs in the
 * property tests with its actors provided as *pure functions of their input* (`deterministicActors`
 * below, given to the machines with `.provide()`), and the reference resolves each child that
 * `transition()` spawned by calling that same function and feeding XState's own
 * `xstate.done.actor.<id>` / `xstate.error.actor.<id>` event back through `transition()`. What the
 * reference trusts is therefore only XState's pure step function and a three-line model of each actor;
 * everything Settle adds (restore, settle detection, retries, batching, storage) is what is checked.
 *
 * Durable timers are modelled from the `xstate.raise` (with a delay) and `xstate.cancel` actions that
 * `transition()` returns, and delivered by a `settle.wake` as docs/DESIGN.md ("Timers") describes: every pending timer
 * due by the worker's own clock (`fireAt <= now`; what the wake-up says is not trusted), earliest first.
 */
import {
  fromPromise,
  initialTransition,
  transition,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from 'xstate';
import { defineRegistry } from '../../runtime/core/registry.ts';
import type { SettleEventMeta } from '../../runtime/core/event.ts';
import { registry as exampleRegistry } from '../../machines/index.ts';
import type { Role, SignOffLinks } from '../../machines/approval.ts';
import type { VerificationEmail } from '../../machines/signup.ts';

type ActorResult = { readonly output: unknown } | { readonly error: Error };

/** The example machines' invoked actors as pure functions of their input (the "deterministic e-mail actor" and friends). */
export const deterministicActors = {
  /** counter: each step adds one. */
  step: (input: { count: number }): ActorResult => ({ output: input.count + 1 }),
  /** approval: every document is within budget. */
  checkBudget: (): ActorResult => ({ output: { withinBudget: true } }),
  /** approval: the stack has no HTTP API here, so the sign-offs get no links (the actor's answer then). */
  makeSignOffLinks: (): ActorResult => ({ output: undefined }),
  /** signup: an address without '@' or on the reserved `.invalid` domain bounces; otherwise the provider answers with the key. */
  sendVerificationEmail: (input: { email: string; idempotencyKey: string }): ActorResult =>
    !input.email.includes('@') || input.email.endsWith('.invalid')
      ? { error: new Error(`'${input.email}' bounced`) }
      : { output: { messageId: input.idempotencyKey } },
} as const;

type ActorName = keyof typeof deterministicActors;

/**
 * Makes invoked actors hang, for the "machine does not settle in time" fault: while `hangAfter` is set,
 * that many more calls complete and every later one never does.
 */
export interface StallSwitch {
  hangAfter: number | undefined;
}

function asPromiseActor<O, I>(name: ActorName, runs: Map<string, number>, stall: StallSwitch) {
  return fromPromise<O, I>(async ({ input }) => {
    if (stall.hangAfter !== undefined && stall.hangAfter-- <= 0) return new Promise<never>(() => undefined);
    const key = actorCallKey(name, input);
    runs.set(key, (runs.get(key) ?? 0) + 1);
    const result = (deterministicActors[name] as (input: I) => ActorResult)(input);
    if ('error' in result) throw result.error;
    return result.output as O;
  });
}

/** Names one call of an actor: by its idempotency key where it has one (I5), else by its input. */
export function actorCallKey(name: string, input: unknown): string {
  return `${name}:${(input as { idempotencyKey?: string } | undefined)?.idempotencyKey ?? JSON.stringify(input)}`;
}

/**
 * The example registry (same versions and validateEvent) with the deterministic actors provided.
 * `runs` counts how often the worker ran each actor call to completion, by {@link actorCallKey}.
 */
export function createPropertyRegistry(runs: Map<string, number>, stall: StallSwitch = { hangAfter: undefined }) {
  return defineRegistry({
    counter: {
      ...exampleRegistry.counter,
      machine: exampleRegistry.counter.machine.provide({
        actors: { step: asPromiseActor<number, { count: number }>('step', runs, stall) },
      }),
    },
    approval: {
      ...exampleRegistry.approval,
      machine: exampleRegistry.approval.machine.provide({
        actors: {
          checkBudget: asPromiseActor<{ withinBudget: boolean }, { document: string }>('checkBudget', runs, stall),
          makeSignOffLinks: asPromiseActor<SignOffLinks | undefined, { instanceKey: string; role: Role }>('makeSignOffLinks', runs, stall),
        },
      }),
    },
    signup: {
      ...exampleRegistry.signup,
      machine: exampleRegistry.signup.machine.provide({
        actors: { sendVerificationEmail: asPromiseActor<{ messageId: string }, VerificationEmail>('sendVerificationEmail', runs, stall) },
      }),
    },
    payment: exampleRegistry.payment,
  });
}

export type MachineName = keyof ReturnType<typeof createPropertyRegistry>;

interface PendingTimer {
  readonly id: string;
  readonly event: EventObject;
  readonly delay: number;
  readonly fireAt: number;
}

/** One instance folded through `transition()`. `snapshot` stays undefined until an event reaches the machine. */
export class ReferenceInstance {
  snapshot: AnyMachineSnapshot | undefined;
  readonly timers = new Map<string, PendingTimer>();
  /** Every actor call the fold answered, by {@link actorCallKey}: the worker must have run each at least once. */
  readonly actorCalls: string[] = [];
  private readonly resolved = new WeakSet<AnyActorRef>();

  constructor(
    readonly machine: AnyStateMachine,
    readonly instanceKey: string,
    /** The worker's clock when the next event is folded: the test sets it to the time the worker handled it. */
    private now: number,
  ) {}

  /** Sets the clock for the events folded next (time only moves forward). */
  at(now: number): void {
    this.now = Math.max(this.now, now);
  }

  /** The persisted initial state, without folding anything: what the worker saves when a first event fails. */
  initialPersisted(): unknown {
    const input = { instanceId: this.instanceKey.slice(this.instanceKey.indexOf('/') + 1), instanceKey: this.instanceKey };
    return json(this.machine.getPersistedSnapshot(initialTransition(this.machine, input)[0]));
  }

  /** An event from the queue that passed the boundary checks. A finished instance ignores it. */
  send(event: EventObject, meta: SettleEventMeta): void {
    const snapshot = this.started();
    if (snapshot.status !== 'active') return;
    this.step({ ...event, settle: meta } as EventObject);
  }

  /**
   * A `settle.wake`: delivers the timers due by the clock, earliest first, unless an earlier one cancelled
   * them. Returns how many it delivered: a wake-up that delivers none is recorded nowhere.
   */
  wake(): number {
    if (!this.snapshot) return 0; // an instance that never received an event has no timers
    const due = [...this.timers.values()].filter((timer) => timer.fireAt <= this.now).sort((a, b) => a.fireAt - b.fireAt);
    let delivered = 0;
    for (const timer of due) {
      if (this.timers.get(timer.id) !== timer) continue;
      this.timers.delete(timer.id);
      delivered += 1;
      if (this.snapshot?.status === 'active') this.step(timer.event);
    }
    return delivered;
  }

  /** The persisted snapshot, as plain JSON (what the worker stores after a round trip). */
  persisted(): unknown {
    return this.snapshot ? json(this.machine.getPersistedSnapshot(this.snapshot)) : undefined;
  }

  /** The pending timers as the worker stores them (without their tokens), earliest first. */
  pendingTimers(): { id: string; event: EventObject; delay: number; fireAt: number }[] {
    return [...this.timers.values()].sort((a, b) => a.fireAt - b.fireAt || a.id.localeCompare(b.id)).map((t) => ({ ...t }));
  }

  private started(): AnyMachineSnapshot {
    if (!this.snapshot) {
      const input = { instanceId: this.instanceKey.slice(this.instanceKey.indexOf('/') + 1), instanceKey: this.instanceKey };
      const [snapshot, actions] = initialTransition(this.machine, input);
      this.snapshot = snapshot;
      this.record(actions);
      this.resolveChildren();
    }
    return this.snapshot as AnyMachineSnapshot;
  }

  private step(event: EventObject): void {
    const [next, actions] = transition(this.machine, this.snapshot as AnyMachineSnapshot, event);
    this.snapshot = next;
    this.record(actions);
    this.resolveChildren();
  }

  private record(actions: readonly { type: string; params?: unknown }[]): void {
    for (const action of actions) {
      const params = (action.params ?? {}) as { id?: string; delay?: number; event?: EventObject; sendId?: string };
      if (action.type === 'xstate.raise' && typeof params.delay === 'number' && params.id && params.event) {
        this.timers.set(params.id, { id: params.id, event: params.event, delay: params.delay, fireAt: this.now + params.delay });
      } else if (action.type === 'xstate.cancel' && params.sendId) {
        this.timers.delete(params.sendId);
      }
    }
  }

  /** Settles the fold: answers every spawned child from its pure model until none is left waiting. */
  private resolveChildren(): void {
    for (let round = 0; round < 100; round += 1) {
      const snapshot = this.snapshot as AnyMachineSnapshot;
      if (snapshot.status !== 'active') return;
      const waiting = Object.entries(snapshot.children as Record<string, AnyActorRef>).find(([, child]) => !this.resolved.has(child));
      if (!waiting) return;
      const [id, child] = waiting;
      this.resolved.add(child);
      const model = deterministicActors[child.src as ActorName] as ((input: unknown) => ActorResult) | undefined;
      if (!model) throw new Error(`The reference has no model of actor '${String(child.src)}' (instance ${this.instanceKey}).`);
      const input = (child as unknown as { options: { input: unknown } }).options.input;
      this.actorCalls.push(actorCallKey(String(child.src), input));
      const result = model(input);
      this.step(
        'error' in result
          ? ({ type: `xstate.error.actor.${id}`, error: result.error, actorId: id } as EventObject)
          : ({ type: `xstate.done.actor.${id}`, output: result.output, actorId: id } as EventObject),
      );
    }
    throw new Error(`The reference did not settle instance ${this.instanceKey} within 100 actor answers.`);
  }
}

export function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
