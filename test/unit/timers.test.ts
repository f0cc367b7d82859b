import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, sendTo, setup, type AnyActor, type AnyActorRef } from 'xstate';
import { PermanentError } from '../../runtime/core/errors.ts';
import { SettleClock, TimerBook, wakeShardOf, type StoredTimer } from '../../runtime/core/timers.ts';

const day = 24 * 3600 * 1000;
const now = Date.parse('2026-11-23T10:00:00Z');
const cause = { instanceKey: 'waiter/w1', eventType: 'START' };

const listener = setup({}).createMachine({
  id: 'listener',
  initial: 'listening',
  states: { listening: { after: { 500: 'dozing' } }, dozing: {} },
});

/** Waits a day and forty days in `waiting` (the forty-day delay is scheduled first), and pings its child after a second. */
const waiter = setup({ actors: { listener }, delays: { fortyDays: 40 * day, oneDay: day } }).createMachine({
  id: 'waiter',
  initial: 'idle',
  invoke: { id: 'kid', src: 'listener' },
  states: {
    idle: { on: { START: 'waiting', PING_LATER: { actions: sendTo('kid', { type: 'PING' }, { delay: 1000, id: 'ping' }) } } },
    waiting: { after: { fortyDays: 'idle', oneDay: 'idle' }, on: { STOP: 'idle' } },
  },
});

function started(clock = new SettleClock()): AnyActor {
  return createActor(waiter, { clock }).start();
}

describe('SettleClock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms a real timer for a delay that ends inside the open window, and runs it when due', () => {
    const clock = new SettleClock();
    const fired: string[] = [];
    clock.open(performance.now() + 1000);

    clock.setTimeout(() => fired.push('short'), 999);
    clock.setTimeout(() => fired.push('edge'), 1000);
    vi.advanceTimersByTime(1000);

    expect(fired).toEqual(['short', 'edge']);
  });

  it('arms nothing beyond the window: a 40-day delay never becomes a JS timer (which would fire at once)', () => {
    const clock = new SettleClock();
    const fired: string[] = [];
    clock.open(performance.now() + 10_000);

    clock.setTimeout(() => fired.push('late'), 10_001);
    clock.setTimeout(() => fired.push('forty days'), 40 * day);

    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(41 * day);
    expect(fired).toEqual([]);
  });

  it('arms nothing while no window is open', () => {
    const clock = new SettleClock();

    clock.setTimeout(() => undefined, 0);

    expect(vi.getTimerCount()).toBe(0);
  });

  it('disarms every timer on close, and a timer armed in one window does not fire in the next', () => {
    const clock = new SettleClock();
    const fired: string[] = [];
    clock.open(performance.now() + 5000);
    clock.setTimeout(() => fired.push('a'), 3000);
    clock.setTimeout(() => fired.push('b'), 4000);

    clock.close();
    clock.open(performance.now() + 5000);
    vi.advanceTimersByTime(5000);

    expect(vi.getTimerCount()).toBe(0);
    expect(fired).toEqual([]);
  });

  it('clears one armed timer by its handle and leaves the others', () => {
    const clock = new SettleClock();
    const fired: string[] = [];
    clock.open(performance.now() + 5000);
    const first = clock.setTimeout(() => fired.push('first'), 100);
    const second = clock.setTimeout(() => fired.push('second'), 100);

    clock.clearTimeout(first);
    clock.clearTimeout(12345);
    vi.advanceTimersByTime(100);

    expect(second).not.toBe(first);
    expect(fired).toEqual(['second']);
  });
});

describe('TimerBook', () => {
  it('collects the root pending delays earliest first, with fresh tokens and fireAt from the given time', () => {
    // Pins: the earliest is first even when it was scheduled after a later one (wakeAt is the first entry).
    const actor = started();
    actor.send({ type: 'START' });

    const timers = new TimerBook().collect(actor, now, cause);
    actor.stop();

    expect(timers.map(({ event, delay, fireAt }) => ({ type: event.type, delay, fireAt }))).toEqual([
      { type: 'xstate.after.oneDay.waiter.waiting', delay: day, fireAt: now + day },
      { type: 'xstate.after.fortyDays.waiter.waiting', delay: 40 * day, fireAt: now + 40 * day },
    ]);
    expect(timers.map((timer) => timer.id)).toEqual(timers.map((timer) => timer.event.type));
    expect(timers.every((timer) => !('target' in timer))).toBe(true);
    expect(new Set(timers.map((timer) => timer.token)).size).toBe(2);
    for (const timer of timers) expect(timer.token).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps the token and fireAt of an entry it has seen, and gives a re-scheduled one new ones', () => {
    // Prepare
    const actor = started();
    const book = new TimerBook();
    actor.send({ type: 'START' });
    const first = book.collect(actor, now, cause);

    // Act
    const again = book.collect(actor, now + 5000, cause);
    actor.send({ type: 'STOP' });
    actor.send({ type: 'START' });
    const rescheduled = book.collect(actor, now + 9000, cause);
    actor.stop();

    // Assess
    expect(again).toEqual(first);
    expect(rescheduled.map((timer) => timer.fireAt)).toEqual([now + 9000 + day, now + 9000 + 40 * day]);
    expect(rescheduled.map((timer) => timer.token)).not.toContain(first[0]?.token);
  });

  it('collects a delayed sendTo to a child with the child id as target, and leaves out the child own delays', () => {
    const actor = started();
    actor.send({ type: 'PING_LATER' });

    const timers = new TimerBook().collect(actor, now, cause);
    actor.stop();

    expect(timers).toEqual([
      { token: expect.any(String), id: 'ping', event: { type: 'PING' }, target: 'kid', delay: 1000, fireAt: now + 1000 },
    ]);
  });

  it('refuses a delayed event the root sends to an actor that is not its child, naming it', () => {
    const grandchild = setup({}).createMachine({ id: 'grandchild' });
    const middle = setup({ actors: { grandchild } }).createMachine({
      id: 'middle',
      invoke: { id: 'leaf', src: 'grandchild', systemId: 'leaf' },
    });
    const root = setup({ actors: { middle } }).createMachine({
      id: 'root',
      invoke: { id: 'mid', src: 'middle' },
      on: { GO: { actions: sendTo(({ system }) => system.get('leaf') as AnyActorRef, { type: 'HELLO' }, { delay: 2000, id: 'hello' }) } },
    });
    const actor = createActor(root, { clock: new SettleClock() }).start();
    actor.send({ type: 'GO' });

    const collect = () => new TimerBook().collect(actor, now, { instanceKey: 'root/r1', eventType: 'GO' });

    const refused = (() => {
      try {
        collect();
      } catch (error) {
        return error;
      } finally {
        actor.stop();
      }
      throw new Error('the timer to a grandchild was collected');
    })();

    expect(refused).toBeInstanceOf(PermanentError);
    expect(refused).toMatchObject({ code: 'undurable-timer', instanceKey: 'root/r1' });
    expect((refused as PermanentError).message).toBe(
      "While handling 'GO', instance root/r1 scheduled 'HELLO' (id 'hello', 2000 ms) for actor 'leaf', which is not a child of the root machine, " +
        'so it could not be stored and delivered later. The event was not applied. Send delayed events to the machine ' +
        "itself (after, raise with a delay) or to a child it invokes or spawns (sendTo('<child id>', …, { delay })).",
    );
  });

  it('re-registers stored timers on a restored actor, keeping their tokens and fireAt', () => {
    // Prepare
    const live = started();
    live.send({ type: 'START' });
    const stored = new TimerBook().collect(live, now, cause);
    const persisted = live.getPersistedSnapshot();
    live.stop();

    // Act
    const restored = createActor(waiter, { clock: new SettleClock(), snapshot: persisted }).start();
    const book = new TimerBook();
    book.restore(restored, stored);
    const collected = book.collect(restored, now + day, cause);
    restored.stop();

    // Assess
    expect(collected).toEqual(stored);
  });

  it('does not register a stored timer whose child the snapshot no longer holds', () => {
    const actor = started();
    const book = new TimerBook();
    const orphan: StoredTimer = { token: 't-1', id: 'ping', event: { type: 'PING' }, target: 'gone', delay: 1000, fireAt: now };
    const toKid: StoredTimer = { ...orphan, token: 't-2', id: 'ping2', target: 'kid' };

    book.restore(actor, [orphan, toKid]);
    const collected = book.collect(actor, now, cause);
    actor.stop();

    expect(collected).toEqual([toKid]);
  });

  it('takes a pending timer out of the scheduler once, under its own token only, and names its target', () => {
    // Prepare
    const actor = started();
    const book = new TimerBook();
    const toSelf: StoredTimer = { token: 't-self', id: 'tick', event: { type: 'TICK' }, delay: day, fireAt: now };
    const toKid: StoredTimer = { token: 't-kid', id: 'ping', event: { type: 'PING' }, target: 'kid', delay: day, fireAt: now };
    book.restore(actor, [toSelf, toKid]);

    // Act
    const stale = book.take(actor, { ...toSelf, token: 't-old' });
    const unknown = book.take(actor, { ...toSelf, id: 'nothing' });
    const self = book.take(actor, toSelf);
    const selfAgain = book.take(actor, toSelf);
    const kid = book.take(actor, toKid);
    const left = book.collect(actor, now, cause);
    const kidRef = (actor.getSnapshot() as { children: Record<string, AnyActorRef> }).children.kid;
    actor.stop();

    // Assess
    expect(stale).toBeUndefined();
    expect(unknown).toBeUndefined();
    expect(self).toBe(actor);
    expect(selfAgain).toBeUndefined();
    expect(kid).toBe(kidRef);
    expect(left).toEqual([]);
  });
});

describe('wakeShardOf', () => {
  it('is FNV-1a (32 bit) of the key, so that stored shards stay valid across deployments', () => {
    // Published FNV-1a test vectors; modulo 2^32 the shard is the hash itself.
    expect(wakeShardOf('', 2 ** 32)).toBe(String(0x811c9dc5));
    expect(wakeShardOf('a', 2 ** 32)).toBe(String(0xe40c292c));
    expect(wakeShardOf('foobar', 2 ** 32)).toBe(String(0xbf9cf968));
  });

  it('spreads keys over every shard and no other', () => {
    const shards = Array.from({ length: 800 }, (_, i) => wakeShardOf(`payment/order-${i}`, 8));

    expect([...new Set(shards)].sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    for (const shard of ['0', '1', '2', '3', '4', '5', '6', '7']) expect(shards.filter((s) => s === shard).length).toBeGreaterThan(60);
  });
});
