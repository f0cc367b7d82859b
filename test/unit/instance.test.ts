import { afterEach, describe, expect, it, vi } from 'vitest';
import { assign, fromPromise, sendTo, setup, spawnChild, type AnyActorRef } from 'xstate';
import { PermanentError, SettleTimeoutError } from '../../runtime/core/errors.ts';
import type { SettleEventMeta } from '../../runtime/core/event.ts';
import { InstanceSession, type MachineState } from '../../runtime/core/instance.ts';
import { parseInstanceKey } from '../../runtime/core/instance-key.ts';
import type { InstanceInput, MachineDefinition, PersistedSnapshot } from '../../runtime/core/registry.ts';
import { never } from '../support/faulty.ts';
import { thrownBy } from '../support/thrown.ts';

const day = 24 * 3600 * 1000;
const start = Date.parse('2026-11-23T10:00:00Z');

/** Greets; `LEAVE` ends it; `FAIL` throws in an action; `WAIT` rests with a one-day and a two-day timer. */
const greeter = setup({
  types: { input: {} as InstanceInput, context: {} as InstanceInput & { hellos: number } },
  actions: {
    explode: () => {
      throw new TypeError('the greeter lost its voice');
    },
  },
  actors: { hang: fromPromise(never) },
  delays: { oneDay: day, twoDays: 2 * day, briefly: 3000 },
}).createMachine({
  id: 'greeter',
  context: ({ input }) => ({ ...input, hellos: 0 }),
  initial: 'idle',
  states: {
    idle: {
      tags: ['resolve'],
      on: {
        HELLO: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) },
        LEAVE: 'gone',
        FAIL: { actions: 'explode' },
        WAIT: 'waiting',
        HANG: 'hanging',
        BLINK: 'blinking',
      },
    },
    waiting: {
      tags: ['resolve'],
      after: {
        twoDays: { target: 'idle', actions: assign({ hellos: ({ context }) => context.hellos + 100 }) },
        oneDay: { actions: assign({ hellos: ({ context }) => context.hellos + 10 }) },
      },
      on: { HELLO: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) }, FAIL: { actions: 'explode' } },
    },
    blinking: {
      tags: ['resolve'],
      after: { briefly: 'idle' },
      on: { HELLO: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) } },
    },
    hanging: { invoke: { src: 'hang' } },
    gone: { type: 'final' },
  },
});

const greeterV1: MachineDefinition = { machine: greeter, version: 1 };
const key = parseInstanceKey('greeter/g1');
const meta = (sequenceNumber: string): SettleEventMeta => ({
  instanceKey: key.key,
  sequenceNumber,
  idempotencyKey: `${key.key}#${sequenceNumber}`,
});

function open(definition: MachineDefinition = greeterV1, stored?: MachineState, now = () => start) {
  return InstanceSession.open({ definition, key, stored, now });
}

/** Runs `fn` on a fresh session and returns the state it settled, for use as a stored one. */
async function storedAfter(types: readonly string[], definition: MachineDefinition = greeterV1): Promise<MachineState> {
  const session = open(definition);
  for (const [i, type] of types.entries()) await session.apply({ type }, meta(String(i + 1)), 1000);
  const state = session.state as MachineState;
  session.stop();
  // As a store hands it back: plain JSON.
  return JSON.parse(JSON.stringify({ ...state, snapshot: state.snapshot, states: state.states, tags: state.tags })) as MachineState;
}

async function rejection(promise: Promise<unknown>): Promise<PermanentError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof PermanentError)) throw new Error(`expected a PermanentError, got ${String(error)}`);
  return error;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('InstanceSession', () => {
  it('creates a new instance with { instanceId, instanceKey } as its input, on its first event', async () => {
    const session = open();

    const before = session.state;
    await session.apply({ type: 'HELLO' }, meta('1'), 1000);
    const state = session.state;
    session.stop();

    expect(before).toBeUndefined();
    expect(state?.snapshot.context).toEqual({ instanceId: 'g1', instanceKey: 'greeter/g1', hellos: 1 });
    expect(state).toMatchObject({ machineVersion: 1, status: 'active', value: 'idle', states: ['idle'], tags: ['resolve'], timers: [] });
  });

  it('has no timers before a new instance has started, and ignores a wake-up for it', async () => {
    const session = open();

    const before = session.timers;
    const woken = await session.wake(1000);
    session.stop();

    expect(before).toEqual([]);
    expect(woken).toEqual({ eventType: 'settle.wake', outcome: 'ignored', from: 'idle', to: 'idle' });
  });

  it('starts a new instance once: its second event is checked once, like the first', async () => {
    const seen: string[] = [];
    const session = InstanceSession.open({
      definition: greeterV1,
      key,
      stored: undefined,
      now: () => start,
      acceptState: (state, eventType) => void seen.push(`${eventType}:${(state.snapshot.context as { hellos: number }).hellos}`),
    });

    await session.apply({ type: 'HELLO' }, meta('1'), 1000);
    await session.apply({ type: 'HELLO' }, meta('2'), 1000);
    session.stop();

    expect(seen).toEqual(['HELLO:0', 'HELLO:1', 'HELLO:2']);
  });

  it('refuses an event that schedules a delayed event for an actor that is not its child, naming the event', async () => {
    const grandchild = setup({}).createMachine({ id: 'grandchild' });
    const middle = setup({ actors: { grandchild } }).createMachine({
      id: 'middle',
      invoke: { id: 'leaf', src: 'grandchild', systemId: 'leaf' },
    });
    const root = setup({ actors: { middle } }).createMachine({
      id: 'root',
      invoke: { id: 'mid', src: 'middle' },
      initial: 'idle',
      states: {
        idle: {
          tags: ['resolve'],
          on: {
            GO: { actions: sendTo(({ system }) => system.get('leaf') as AnyActorRef, { type: 'HELLO' }, { delay: 2000, id: 'hello' }) },
          },
        },
      },
    });
    const session = open({ machine: root, version: 1 });

    const error = await rejection(session.apply({ type: 'GO' }, meta('1'), 1000));
    session.stop();

    expect(error).toMatchObject({ code: 'undurable-timer', instanceKey: 'greeter/g1' });
    expect(error.message).toMatch(/^While handling 'GO', instance greeter\/g1 scheduled 'HELLO'/);
  });

  it('reports the event type, the outcome and the states it went from and to', async () => {
    const session = open(greeterV1, await storedAfter(['HELLO']));

    const waited = await session.apply({ type: 'WAIT' }, meta('2'), 1000);
    const ignored = await session.apply({ type: 'NOPE' }, meta('3'), 1000);
    const helloed = await session.apply({ type: 'HELLO' }, meta('4'), 1000);
    session.stop();

    expect(waited).toEqual({ eventType: 'WAIT', outcome: 'resolve', from: 'idle', to: 'waiting' });
    expect(ignored).toEqual({ eventType: 'NOPE', outcome: 'ignored', from: 'waiting', to: 'waiting' });
    expect(helloed).toEqual({ eventType: 'HELLO', outcome: 'resolve', from: 'waiting', to: 'waiting' });
  });

  it('ignores every event once the instance is done, and keeps its state', async () => {
    const session = open(greeterV1, await storedAfter(['LEAVE']));
    const done = session.state;

    const result = await session.apply({ type: 'HELLO' }, meta('2'), 1000);

    expect(result).toEqual({ eventType: 'HELLO', outcome: 'ignored', from: 'gone', to: 'gone' });
    expect(session.state).toBe(done);
    expect(done?.status).toBe('done');
    session.stop();
  });

  it('hands the machine the event with its settle metadata', async () => {
    const seen: unknown[] = [];
    const spy = setup({}).createMachine({
      initial: 'a',
      states: { a: { tags: ['resolve'], on: { GO: { actions: ({ event }) => seen.push(event) } } } },
    });
    const session = open({ machine: spy, version: 1 });

    await session.apply({ type: 'GO', x: 1 } as { type: string }, meta('7'), 1000);
    session.stop();

    expect(seen).toEqual([
      { type: 'GO', x: 1, settle: { instanceKey: 'greeter/g1', sequenceNumber: '7', idempotencyKey: 'greeter/g1#7' } },
    ]);
  });

  it('takes the initial state of a new instance before its first event, so a failing first event leaves it there', async () => {
    const session = open();

    const error = await rejection(session.apply({ type: 'FAIL' }, meta('1'), 1000));
    const state = session.state;
    session.stop();

    expect(error.code).toBe('machine-error');
    expect(state?.value).toBe('idle');
    expect(state?.snapshot.context).toEqual({ instanceId: 'g1', instanceKey: 'greeter/g1', hellos: 0 });
  });

  it('dead-letters a machine throw with its name, message, event and instance, and keeps the state before it', async () => {
    const session = open(greeterV1, await storedAfter(['HELLO', 'HELLO']));

    const error = await rejection(session.apply({ type: 'FAIL' }, meta('3'), 1000));
    const after = await session.apply({ type: 'HELLO' }, meta('4'), 1000);
    const state = session.state;
    session.stop();

    expect(error).toMatchObject({ code: 'machine-error', instanceKey: 'greeter/g1' });
    expect(error.message).toBe(
      "Machine 'greeter' threw TypeError: the greeter lost its voice while handling 'FAIL' on instance greeter/g1. " +
        'The event was not applied and the instance kept its state; fix the machine (or give the invoke an onError), then redrive the event from the DLQ.',
    );
    expect(after.from).toBe('idle');
    expect(state?.snapshot.context).toMatchObject({ hellos: 3 });
  });

  it('fails an event that does not settle within its budget, and keeps the state before it', async () => {
    const session = open(greeterV1, await storedAfter(['HELLO']));

    const failure = await session.apply({ type: 'HANG' }, meta('2'), 30).then(
      () => undefined,
      (error: unknown) => error,
    );
    const after = await session.apply({ type: 'HELLO' }, meta('3'), 1000);
    session.stop();

    expect(failure).toBeInstanceOf(SettleTimeoutError);
    const message = (failure as SettleTimeoutError).message;
    expect(message).toMatch(
      /^Instance greeter\/g1 did not settle within \d+ ms after event 'HANG' \(it rests in "hanging"\)\. Tag every state/,
    );
    expect(Number(/within (\d+) ms/.exec(message)?.[1])).toBeLessThanOrEqual(30);
    expect(after).toEqual({ eventType: 'HELLO', outcome: 'resolve', from: 'idle', to: 'idle' });
    expect(session.state?.snapshot.context).toMatchObject({ hellos: 2 });
  });

  it('refuses a settled state that acceptState throws on: the event fails alone and the state before it stays', async () => {
    // Prepare
    const seen: string[] = [];
    const session = InstanceSession.open({
      definition: greeterV1,
      key,
      stored: await storedAfter(['HELLO']),
      now: () => start,
      acceptState: (state, eventType) => {
        seen.push(`${eventType}:${(state.snapshot.context as { hellos: number }).hellos}`);
        if (eventType === 'WAIT') throw new PermanentError('snapshot-too-large', 'too large');
      },
    });

    // Act
    const error = await rejection(session.apply({ type: 'WAIT' }, meta('2'), 1000));
    const hello = await session.apply({ type: 'HELLO' }, meta('3'), 1000);
    await session.apply({ type: 'NOPE' }, meta('4'), 1000);
    session.stop();

    // Assess
    expect(error.code).toBe('snapshot-too-large');
    expect(hello.from).toBe('idle');
    expect(seen).toEqual(['WAIT:1', 'HELLO:2']); // an ignored event changes nothing, so there is nothing to check
    expect(session.state?.value).toBe('idle');
  });

  it('dead-letters an invoked actor that rejects without onError as machine-error, without waiting for the budget', async () => {
    const failing = setup({
      actors: {
        charge: fromPromise<never>(async () => {
          throw new Error('card declined');
        }),
      },
    }).createMachine({
      id: 'pay',
      initial: 'idle',
      states: { idle: { tags: ['resolve'], on: { PAY: 'charging' } }, charging: { invoke: { src: 'charge' } } },
    });
    const session = open({ machine: failing, version: 1 });
    const started = performance.now();

    const error = await rejection(session.apply({ type: 'PAY' }, meta('1'), 5000));
    session.stop();

    expect(error.code).toBe('machine-error');
    expect(error.message).toContain("threw Error: card declined while handling 'PAY'");
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('fails the first event of a new instance whose initial state throws, and has no state to save', async () => {
    const broken = setup({
      actions: {
        explode: () => {
          throw new RangeError('no start');
        },
      },
    }).createMachine({ id: 'broken', initial: 'idle', states: { idle: { tags: ['resolve'], entry: 'explode' } } });
    const session = open({ machine: broken, version: 1 });

    const error = await rejection(session.apply({ type: 'GO' }, meta('1'), 1000));
    const state = session.state;
    session.stop();

    expect(error.code).toBe('machine-error');
    expect(error.message).toContain("threw RangeError: no start while handling 'GO'");
    expect(state).toBeUndefined();
  });

  it('stores the tags of the active states sorted', async () => {
    const tagged = setup({}).createMachine({ initial: 'a', states: { a: { tags: ['resolve', 'beta', 'alpha'] } } });
    const session = open({ machine: tagged, version: 1 });

    await session.apply({ type: 'ANY' }, meta('1'), 1000);
    const tags = session.state?.tags;
    session.stop();

    expect(tags).toEqual(['alpha', 'beta', 'resolve']);
  });

  it('outcome is reject when one region rests in reject while another rests in resolve', async () => {
    const split = setup({}).createMachine({
      id: 'split',
      type: 'parallel',
      states: {
        legal: { initial: 'pending', states: { pending: { tags: ['resolve'], on: { VETO: 'vetoed' } }, vetoed: { tags: ['reject'] } } },
        finance: { initial: 'pending', states: { pending: { tags: ['resolve'] } } },
      },
    });
    const session = open({ machine: split, version: 1 });

    const result = await session.apply({ type: 'VETO' }, meta('1'), 1000);
    const states = session.state?.states;
    session.stop();

    expect(result.outcome).toBe('reject');
    expect(states).toEqual(['legal.vetoed', 'finance.pending']);
  });
});

describe('InstanceSession: changing a machine', () => {
  it('continues from the migrated snapshot of an older version, and saves it with the new machineVersion', async () => {
    // Prepare: v2 renamed `waiting` to `resting` and counts greetings in `count`.
    const v1 = await storedAfter(['HELLO', 'WAIT']);
    const calls: [unknown, number][] = [];
    const v2machine = setup({ types: { context: {} as { count: number } } }).createMachine({
      id: 'greeter',
      context: { count: 0 },
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'] },
        resting: { tags: ['resolve'], on: { HELLO: { actions: assign({ count: ({ context }) => context.count + 1 }) } } },
      },
    });
    const v2: MachineDefinition = {
      machine: v2machine,
      version: 2,
      migrate: (snapshot, fromVersion) => {
        calls.push([snapshot.value, fromVersion]);
        const hellos = (snapshot.context as { hellos: number }).hellos;
        return v2machine.getPersistedSnapshot(
          v2machine.resolveState({ value: 'resting', context: { count: hellos } }),
        ) as unknown as PersistedSnapshot;
      },
    };

    // Act
    const session = open(v2, v1);
    const opened = session.state;
    const result = await session.apply({ type: 'HELLO' }, meta('3'), 1000);
    const state = session.state;
    session.stop();

    // Assess
    expect(calls).toEqual([['waiting', 1]]);
    expect(opened?.machineVersion).toBe(2);
    expect(result).toMatchObject({ outcome: 'resolve', from: 'waiting', to: 'resting' });
    expect(state).toMatchObject({ machineVersion: 2, value: 'resting' });
    expect(state?.snapshot.context).toEqual({ count: 2 });
  });

  it.each([
    ['null', null],
    ['a string', '{"status":"active"}'],
  ])('refuses, with snapshot-mismatch naming the instance, a stored state whose snapshot is %s', async (_, snapshot) => {
    const stored = await storedAfter(['HELLO']);
    let refusal: unknown;

    try {
      open(greeterV1, { ...stored, snapshot: snapshot as unknown as PersistedSnapshot }).stop();
    } catch (error) {
      refusal = error;
    }

    expect(refusal).toBeInstanceOf(PermanentError);
    expect(refusal).toMatchObject({ code: 'snapshot-mismatch', instanceKey: 'greeter/g1' });
    expect((refusal as Error).message).toMatch(/The stored item of greeter\/g1 holds no snapshot/);
  });

  it('does not call migrate for a snapshot of the current version', async () => {
    const stored = await storedAfter(['HELLO']);
    let calls = 0;

    const session = open(
      {
        ...greeterV1,
        migrate: () => {
          calls += 1;
          return undefined;
        },
      },
      stored,
    );
    session.stop();

    expect(calls).toBe(0);
  });

  it('refuses, with unknown-machine-version, a snapshot of a version migrate declines', async () => {
    const stored = await storedAfter(['HELLO']);

    const refused = thrownBy(() => open({ machine: greeter, version: 3, migrate: () => undefined }, stored));

    expect(refused).toMatchObject({ code: 'unknown-machine-version', instanceKey: 'greeter/g1' });
    expect(refused.message).toBe(
      "Instance greeter/g1 was saved by version 1 of machine 'greeter', but the registry has version 3 and its migrate() declined that version. " +
        'Add a migrate() that handles version 1, or deploy a registry that still has that version.',
    );
  });

  it('refuses, with unknown-machine-version, a snapshot of another version when there is no migrate', async () => {
    const stored = await storedAfter(['HELLO']);

    const refused = thrownBy(() => open({ machine: greeter, version: 2 }, stored));

    expect(refused).toMatchObject({ code: 'unknown-machine-version', instanceKey: 'greeter/g1' });
    expect(refused.message).toContain('but the registry has version 2 and no migrate(). Add a migrate() that handles version 1');
  });

  it('refuses, with unknown-machine-version and the cause, a snapshot whose migrate throws', async () => {
    const stored = await storedAfter(['HELLO']);
    const cause = new RangeError('v1 is too old');

    const refused = thrownBy(() =>
      open(
        {
          machine: greeter,
          version: 2,
          migrate: () => {
            throw cause;
          },
        },
        stored,
      ),
    );

    expect(refused).toMatchObject({ code: 'unknown-machine-version', instanceKey: 'greeter/g1', cause });
    expect(refused.message).toBe(
      "migrate() of machine 'greeter' threw RangeError: v1 is too old on instance greeter/g1, saved by version 1. " +
        'Fix migrate() for that version, then redrive the events from the DLQ.',
    );
  });

  it('refuses with snapshot-mismatch a snapshot whose state the machine no longer has', async () => {
    const stored = await storedAfter(['WAIT']);
    const v1WithoutWaiting = setup({}).createMachine({ id: 'greeter', initial: 'idle', states: { idle: { tags: ['resolve'] } } });

    const refused = thrownBy(() => open({ machine: v1WithoutWaiting, version: 1 }, stored));

    expect(refused).toMatchObject({ code: 'snapshot-mismatch', instanceKey: 'greeter/g1' });
    expect(refused.message).toBe(
      "The stored snapshot of greeter/g1 does not fit machine 'greeter' version 1: State 'waiting' does not exist on 'greeter'. " +
        'A state or child was renamed or removed without a version bump: bump the version in the registry and give a migrate() for the old one.',
    );
  });
});

describe('InstanceSession: live children', () => {
  it('restores a live child as it was when a later event that changed it fails', async () => {
    // Pins: the snapshot of a state with live children is taken at once, not lazily after the next event.
    const tally = setup({ types: { context: {} as { n: number } } }).createMachine({
      id: 'tally',
      context: { n: 0 },
      on: { BUMP: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    });
    const parent = setup({
      actors: { tally },
      actions: {
        explode: () => {
          throw new Error('after the child moved');
        },
      },
    }).createMachine({
      id: 'parent',
      invoke: { id: 'kid', src: 'tally' },
      initial: 'idle',
      states: {
        idle: {
          tags: ['resolve'],
          on: {
            BUMP: { actions: sendTo('kid', { type: 'BUMP' }) },
            BUMP_THEN_FAIL: { actions: [sendTo('kid', { type: 'BUMP' }), 'explode'] },
          },
        },
      },
    });
    const session = open({ machine: parent, version: 1 });
    const kidCount = () =>
      (session.state?.snapshot.children as Record<string, { snapshot: { context: { n: number } } }> | undefined)?.kid?.snapshot.context.n;

    await session.apply({ type: 'BUMP' }, meta('1'), 1000);
    const error = await rejection(session.apply({ type: 'BUMP_THEN_FAIL' }, meta('2'), 1000));
    const afterFailure = kidCount();
    await session.apply({ type: 'BUMP' }, meta('3'), 1000);
    const afterNext = kidCount();
    session.stop();

    expect(error.code).toBe('machine-error');
    expect(afterFailure).toBe(1);
    expect(afterNext).toBe(2);
  });

  /** Spawns `mid` (registered by name) on GO; `mid` itself spawns `kid` from inline logic. */
  const nesting = setup({
    actors: {
      middle: setup({}).createMachine({
        id: 'middle',
        // The options are cast: setup() types only the ids of registered children, which is the point here.
        entry: spawnChild(fromPromise(never), { id: 'kid' } as unknown as { id?: undefined }),
      }),
    },
  }).createMachine({
    id: 'nesting',
    initial: 'idle',
    states: { idle: { tags: ['resolve'], on: { GO: { actions: spawnChild('middle', { id: 'mid' }) }, HELLO: {} } } },
  });

  it('refuses an event that leaves a grandchild from inline logic, naming it by its path', async () => {
    const session = open({ machine: nesting, version: 1 });

    const error = await rejection(session.apply({ type: 'GO' }, meta('1'), 1000));
    const state = session.state;
    session.stop();

    expect(error).toMatchObject({ code: 'inline-actor', instanceKey: 'greeter/g1' });
    expect(error.message).toBe(
      "While handling 'GO', machine 'greeter' of instance greeter/g1 started child 'mid.kid' from inline logic (e.g. spawnChild(fromPromise(…))), " +
        'which cannot be saved and restored. The event was not applied. Register the logic by name in setup({ actors: { … } }) and ' +
        'spawn or invoke it by that name, then redrive the event from the DLQ.',
    );
    expect(state?.snapshot.children).toEqual({});
  });

  it('names every child an event started from inline logic', async () => {
    const twins = setup({}).createMachine({
      id: 'twins',
      initial: 'idle',
      states: {
        idle: {
          tags: ['resolve'],
          on: {
            // The options are cast: setup() types only the ids of registered children, which is the point here.
            GO: {
              actions: [
                spawnChild(fromPromise(never), { id: 'first' } as unknown as { id?: undefined }),
                spawnChild(fromPromise(never), { id: 'second' } as unknown as { id?: undefined }),
              ],
            },
          },
        },
      },
    });
    const session = open({ machine: twins, version: 1 });

    const error = await rejection(session.apply({ type: 'GO' }, meta('1'), 1000));
    session.stop();

    expect(error.message).toContain("started child 'first', 'second' from inline logic");
  });

  it('refuses to restore a stored grandchild from inline logic, naming it by its path', async () => {
    const stored = await storedAfter(['HELLO'], { machine: nesting, version: 1 });
    const snapshot = {
      ...stored.snapshot,
      children: {
        mid: {
          src: 'middle',
          syncSnapshot: false,
          snapshot: {
            status: 'active',
            value: {},
            context: {},
            children: { kid: { src: {}, syncSnapshot: false, snapshot: { status: 'active' } } },
          },
        },
      },
    } as PersistedSnapshot;

    const refused = thrownBy(() => open({ machine: nesting, version: 1 }, { ...stored, snapshot }));

    expect(refused).toMatchObject({ code: 'snapshot-mismatch', instanceKey: 'greeter/g1' });
    expect(refused.message).toBe(
      "The stored snapshot of greeter/g1 does not fit machine 'greeter' version 1: it holds child 'mid.kid' started from inline logic, which XState cannot restore. " +
        'Register the logic by name in setup({ actors: { … } }), bump the version and give a migrate() that drops or replaces that child.',
    );
  });

  it('names every stored child from inline logic', async () => {
    const stored = await storedAfter(['HELLO'], { machine: nesting, version: 1 });
    const inline = { src: {}, syncSnapshot: false, snapshot: { status: 'active' } };
    const snapshot = { ...stored.snapshot, children: { first: inline, second: inline } } as PersistedSnapshot;

    const refused = thrownBy(() => open({ machine: nesting, version: 1 }, { ...stored, snapshot }));

    expect(refused.message).toContain("it holds child 'first', 'second' started from inline logic");
  });

  it('reads stored children that have no snapshot or no children of their own without tripping over them', async () => {
    // Prepare
    const stored = await storedAfter(['HELLO'], { machine: nesting, version: 1 });
    const named = (snapshot: unknown) => ({
      ...stored,
      snapshot: {
        ...stored.snapshot,
        children: { mid: { src: 'middle', syncSnapshot: false, ...(snapshot === undefined ? {} : { snapshot }) } },
      } as PersistedSnapshot,
    });
    const withoutSnapshot = named(undefined);
    const withNullChildren = named({ status: 'active', value: {}, context: {}, children: null });
    const withNullChild = { ...stored, snapshot: { ...stored.snapshot, children: { ghost: null } } as unknown as PersistedSnapshot };

    // Act
    const opened = [withoutSnapshot, withNullChildren].map((state) => {
      const session = open({ machine: nesting, version: 1 }, state);
      session.stop();
      return session.state?.value;
    });
    const refused = thrownBy(() => open({ machine: nesting, version: 1 }, withNullChild));

    // Assess
    expect(opened).toEqual(['idle', 'idle']);
    expect(refused.code).toBe('snapshot-mismatch');
  });
});

describe('InstanceSession: timers', () => {
  it('stores the earliest timer first, whatever order they were scheduled in, with fireAt from the worker clock', async () => {
    const session = open();

    await session.apply({ type: 'WAIT' }, meta('1'), 1000);
    const timers = session.timers;
    session.stop();

    expect(timers.map((timer) => [timer.delay, timer.fireAt])).toEqual([
      [day, start + day],
      [2 * day, start + 2 * day],
    ]);
  });

  it('delivers on wake only the timers due by its own clock, earliest first, naming them', async () => {
    // Prepare
    let now = start;
    const stored = await storedAfter(['WAIT']);
    const wakeAt = (at: number) => {
      now = at;
      return open(greeterV1, stored, () => now);
    };

    // Act
    const early = wakeAt(start + day - 1);
    const nothing = await early.wake(1000);
    early.stop();
    const first = wakeAt(start + day);
    const one = await first.wake(1000);
    const afterOne = first.state;
    const noneFailed = first.discardFailedTimer();
    first.stop();
    const both = wakeAt(start + 3 * day);
    const two = await both.wake(1000);
    const afterBoth = both.state;
    both.stop();

    // Assess
    expect(nothing).toEqual({ eventType: 'settle.wake', outcome: 'ignored', from: 'waiting', to: 'waiting' });
    expect(one).toEqual({ eventType: 'xstate.after.oneDay.greeter.waiting', outcome: 'resolve', from: 'waiting', to: 'waiting' });
    expect(afterOne?.snapshot.context).toMatchObject({ hellos: 10 });
    expect(afterOne?.timers.map((timer) => timer.delay)).toEqual([2 * day]);
    expect(noneFailed).toBeUndefined();
    expect(two).toEqual({
      eventType: 'xstate.after.oneDay.greeter.waiting,xstate.after.twoDays.greeter.waiting',
      outcome: 'resolve',
      from: 'waiting',
      to: 'idle',
    });
    expect(afterBoth?.snapshot.context).toMatchObject({ hellos: 110 });
    expect(afterBoth?.timers).toEqual([]);
  });

  it('names and drops the timer whose delivery failed, keeping the other pending timers', async () => {
    // Prepare: the one-day timer's action throws.
    const failing = setup({
      actions: {
        explode: () => {
          throw new Error('the bell is broken');
        },
      },
      delays: { oneDay: day, twoDays: 2 * day },
    }).createMachine({
      id: 'alarm',
      initial: 'armed',
      states: { armed: { tags: ['resolve'], after: { oneDay: { actions: 'explode' }, twoDays: 'rang' } }, rang: { tags: ['resolve'] } },
    });
    const definition: MachineDefinition = { machine: failing, version: 1 };
    const first = open(definition);
    await first.apply({ type: 'ANY' }, meta('1'), 1000);
    const armed = JSON.parse(JSON.stringify({ ...first.state, snapshot: first.state?.snapshot })) as MachineState;
    first.stop();
    const session = open(definition, armed, () => start + 3 * day);

    // Act
    const error = await rejection(session.wake(1000));
    const dropped = session.discardFailedTimer();
    const again = session.discardFailedTimer();
    const left = session.timers;
    const next = await session.wake(1000);
    session.stop();

    // Assess
    expect(error.code).toBe('machine-error');
    expect(error.message).toContain("while handling 'xstate.after.oneDay.alarm.armed");
    expect(dropped?.delay).toBe(day);
    expect(again).toBeUndefined();
    expect(left.map((timer) => timer.delay)).toEqual([2 * day]);
    expect(next).toMatchObject({ eventType: 'xstate.after.twoDays.alarm.armed', outcome: 'resolve', to: 'rang' });
  });

  it('drops nothing when no wake-up failed', async () => {
    const session = open(greeterV1, await storedAfter(['WAIT']));

    expect(session.discardFailedTimer()).toBeUndefined();
    expect(session.timers).toHaveLength(2);
    session.stop();
  });

  it('does not let a delay armed during one event fire between or during the next events', async () => {
    // Prepare: `briefly` (3 s) fits the first event's budget, so it is armed for real while that event settles.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const session = open(greeterV1, await storedAfter(['HELLO']));
    await session.apply({ type: 'BLINK' }, meta('2'), 5000);

    // Act
    vi.advanceTimersByTime(5000);
    const next = await session.apply({ type: 'HELLO' }, meta('3'), 5000);
    vi.advanceTimersByTime(5000);
    const state = session.state;
    session.stop();

    // Assess
    expect(next).toMatchObject({ from: 'blinking', to: 'blinking' });
    expect(state?.value).toBe('blinking');
    expect(state?.timers.map((timer) => timer.delay)).toEqual([3000]);
  });
});

describe('InstanceSession: stopping', () => {
  /** Rests in `working` while an invoked step (100 ms) runs; its onDone records 'finished'. SLOW waits in `busy` for it. */
  function worker(finished: string[]): MachineDefinition {
    const machine = setup({
      actors: { step: fromPromise(() => new Promise<void>((resolve) => setTimeout(resolve, 100))) },
    }).createMachine({
      id: 'worker',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { WORK: 'working', SLOW: 'busy' } },
        working: { tags: ['resolve'], invoke: { src: 'step', onDone: { target: 'idle', actions: () => void finished.push('working') } } },
        busy: { invoke: { src: 'step', onDone: { target: 'idle', actions: () => void finished.push('busy') } } },
      },
    });
    return { machine, version: 1 };
  }

  it('stops the actor: work it invoked does not act once the session is stopped', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const finished: string[] = [];
    const session = open(worker(finished));
    await session.apply({ type: 'WORK' }, meta('1'), 1000);

    session.stop();
    await vi.advanceTimersByTimeAsync(200);

    expect(finished).toEqual([]);
  });

  it('stops the actor of a failed event: work it invoked does not act after the failure', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const finished: string[] = [];
    const session = open(worker(finished));

    // Act
    const failing = session.apply({ type: 'SLOW' }, meta('1'), 10).then(
      () => undefined,
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(10);
    const failure = await failing;
    await vi.advanceTimersByTimeAsync(200);
    session.stop();

    // Assess
    expect(failure).toBeInstanceOf(SettleTimeoutError);
    expect(finished).toEqual([]);
  });
});
