/**
 * The two yardsticks of the runtime CPU section.
 *
 * - {@link LiveActors}, the ceiling: one actor per instance that lives for the whole run; each event is
 *   sent and awaited until settled (Settle's own per-region rule), nothing is ever restored or saved.
 * - {@link NaiveRuntime}, the baseline: what a first attempt at durability looks like. Per event it reads
 *   the item, restores, starts, sends, `waitFor`s a tag, persists, JSON-stringifies and writes.
 */
import {
  createActor,
  SimulatedClock,
  waitFor,
  type ActorOptions,
  type AnyActor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
  type Snapshot,
} from 'xstate';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { isSettled } from '../runtime/core/settled.ts';
import type { InstanceRecord, InstanceStore } from '../runtime/core/store.ts';
import type { Instance, Planned, PlannedBatch } from './workloads.ts';

/** The state of an instance at the end of a run, for checking that contenders agree. */
export interface FinalState {
  readonly value: unknown;
  readonly context: unknown;
}

/** Runs the groups of a batch concurrently and the records of each group in order, as the worker does. */
export async function runBatches(batches: readonly PlannedBatch[], apply: (planned: Planned) => Promise<void>): Promise<void> {
  for (const batch of batches) {
    await Promise.all(
      batch.map(async (group) => {
        for (const planned of group) await apply(planned);
      }),
    );
  }
}

function machineOf(registry: MachineRegistry, inst: Instance): AnyStateMachine {
  const definition = registry[inst.machine];
  if (!definition) throw new Error(`No machine '${inst.machine}' in the benchmark registry.`);
  return definition.machine;
}

/** Resolves once every region rests (or the actor stopped or failed); `undefined` if it already does. */
function settled(actor: AnyActor): Promise<void> | undefined {
  if (isSettled(actor.getSnapshot() as AnyMachineSnapshot)) return undefined;
  return new Promise((resolve) => {
    const subscription = actor.subscribe({
      next: (snapshot) => {
        if (isSettled(snapshot as AnyMachineSnapshot)) {
          subscription.unsubscribe();
          resolve();
        }
      },
      error: () => resolve(),
    });
  });
}

export class LiveActors {
  private readonly actors = new Map<string, { actor: AnyActor; clock: SimulatedClock }>();

  /** @param create builds each instance's actor (to add inspection, say). @default createActor */
  constructor(
    private readonly registry: MachineRegistry,
    private readonly create: (machine: AnyStateMachine, options: ActorOptions<AnyStateMachine>) => AnyActor = createActor,
  ) {}

  async apply(planned: Planned): Promise<void> {
    const { instance: inst, step } = planned;
    let live = this.actors.get(inst.key);
    if (!live) {
      // A simulated clock: a live actor's timers only fire when the stream says they are due.
      const clock = new SimulatedClock();
      const actor = this.create(machineOf(this.registry, inst), { clock, input: { instanceId: inst.instanceId, instanceKey: inst.key } });
      actor.subscribe({ error: () => undefined });
      actor.start();
      live = { actor, clock };
      this.actors.set(inst.key, live);
      await settled(actor);
    }
    if (step.kind === 'event') live.actor.send(delivered(planned));
    else live.clock.increment(step.delayMs + 1);
    await settled(live.actor);
  }

  finalStates(): Map<string, FinalState> {
    return new Map(
      [...this.actors].map(([key, { actor }]) => {
        const snapshot = actor.getSnapshot() as AnyMachineSnapshot;
        return [key, { value: snapshot.value, context: snapshot.context }];
      }),
    );
  }

  stop(): void {
    for (const { actor } of this.actors.values()) actor.stop();
    this.actors.clear();
  }
}

/** The event as the worker delivers it: with Settle's metadata (machines read the idempotency key from it). */
function delivered({ instance: inst, seq, step }: Planned): EventObject & Record<string, unknown> {
  if (step.kind !== 'event') throw new Error('a timer step has no outside event');
  const sequenceNumber = String(seq);
  return { ...step.event, settle: { instanceKey: inst.key, sequenceNumber, idempotencyKey: `${inst.key}#${sequenceNumber}` } };
}

const restingTags = (s: AnyMachineSnapshot) => s.hasTag('resolve') || s.hasTag('reject') || s.status === 'done';

export class NaiveRuntime {
  constructor(
    private readonly registry: MachineRegistry,
    private readonly store: InstanceStore,
  ) {}

  async apply(planned: Planned): Promise<void> {
    const { instance: inst, step } = planned;
    const item = await this.store.read(inst.key);
    const input = { instanceId: inst.instanceId, instanceKey: inst.key };
    const snapshot = item ? (JSON.parse(item.snapshot.json as string) as Snapshot<unknown>) : undefined;
    const actor = createActor(machineOf(this.registry, inst), snapshot ? { input, snapshot } : { input });
    actor.start();
    // It does not persist XState's delayed events, so it delivers a due timer as XState's own event.
    actor.send(step.kind === 'event' ? delivered(planned) : ({ type: step.eventType } as EventObject));
    await waitFor(actor, restingTags);
    const json = JSON.stringify(actor.getPersistedSnapshot());
    actor.stop();
    await this.store.write(naiveItem(inst, json, (item?.version ?? 0) + 1), item?.version);
  }

  async finalStates(keys: readonly string[]): Promise<Map<string, FinalState>> {
    const states = new Map<string, FinalState>();
    for (const key of keys) {
      const item = await this.store.read(key);
      if (!item) continue;
      const snapshot = JSON.parse(item.snapshot.json as string) as { value: unknown; context: unknown };
      states.set(key, { value: snapshot.value, context: snapshot.context });
    }
    return states;
  }
}

/**
 * The naive item: the key, a version for the conditional write, and the snapshot as a JSON string (as a
 * DynamoDB adapter would store it). The store's other fields are required by its type and left empty.
 */
function naiveItem(inst: Instance, json: string, version: number): InstanceRecord {
  return {
    pk: inst.key,
    machine: inst.machine,
    machineVersion: 1,
    snapshot: { status: 'active', json },
    status: '',
    value: '',
    states: [],
    tags: [],
    timers: [],
    version,
    lastSeq: '0',
    outcome: undefined,
    wakeAt: undefined,
    wakeShard: undefined,
    history: [],
    letters: [],
    createdAt: '',
    updatedAt: '',
  };
}
