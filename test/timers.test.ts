import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { defineRegistry } from '../runtime/core/registry.ts';
import { registry } from '../machines/index.ts';
import { World } from './support/world.ts';

const minute = 60_000;
const day = 24 * 60 * minute;

const timed = defineRegistry({
  ...registry,
  // Two durable delays in one resting state; 40 days is beyond a JS timer's 2^31−1 ms.
  longwait: {
    version: 1,
    machine: setup({
      types: { context: {} as { week: number; forty: number; pings: number }, events: {} as { type: 'START' } | { type: 'PING' } },
      delays: { week: 7 * day, fortyDays: 40 * day },
    }).createMachine({
      id: 'longwait',
      context: { week: 0, forty: 0, pings: 0 },
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { START: 'waiting' } },
        waiting: {
          tags: ['resolve'],
          after: {
            week: { actions: assign({ week: ({ context }) => context.week + 1 }) },
            fortyDays: { target: 'finished', actions: assign({ forty: ({ context }) => context.forty + 1 }) },
          },
          on: { PING: { actions: assign({ pings: ({ context }) => context.pings + 1 }) } },
        },
        finished: { tags: ['resolve'], on: { PING: { actions: assign({ pings: ({ context }) => context.pings + 1 }) } } },
      },
    }),
  },
  // A short delay inside an unsettled state: it runs in-process within the settle budget.
  blink: {
    version: 1,
    machine: setup({ delays: { brief: 20 } }).createMachine({
      id: 'blink',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { GO: 'flashing' } },
        flashing: { after: { brief: 'idle' } },
      },
    }),
  },
  // Leaving and re-entering a state reuses XState's timer id: the durable timer must not.
  door: {
    version: 1,
    machine: setup({ delays: { autoClose: day } }).createMachine({
      id: 'door',
      context: { closedByTimer: 0 },
      initial: 'closed',
      states: {
        closed: { tags: ['resolve'], on: { OPEN: 'open' } },
        open: {
          tags: ['resolve'],
          after: { autoClose: { target: 'closed', actions: assign({ closedByTimer: ({ context }) => context.closedByTimer + 1 }) } },
          on: { CLOSE: 'closed' },
        },
      },
    }),
  },
  // The first delay re-enters the state that owns the second: the second's stored token goes stale.
  relay: {
    version: 1,
    machine: setup({
      types: { context: {} as { first: number; second: number } },
      delays: { oneHour: 60 * minute, twoHours: 120 * minute },
    }).createMachine({
      id: 'relay',
      context: { first: 0, second: 0 },
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { START: 'ticking' } },
        ticking: {
          tags: ['resolve'],
          after: {
            oneHour: { target: 'ticking', reenter: true, actions: assign({ first: ({ context }) => context.first + 1 }) },
            twoHours: { actions: assign({ second: ({ context }) => context.second + 1 }) },
          },
        },
      },
    }),
  },
});

describe('durable timers', () => {
  it('fires a 7-day and a 40-day after once each, at the right time, across many saves and restores', async () => {
    const world = new World(timed);
    const start = world.now;
    await world.send('longwait/l1', { type: 'START' });
    expect((await world.item('longwait/l1')).timers.map((t) => t.fireAt)).toEqual([start + 7 * day, start + 40 * day]);

    const seen: { day: number; week: number; forty: number }[] = [];
    for (let d = 1; d <= 45; d += 1) {
      world.now = start + d * day - 1;
      expect(await world.sweepAndDeliver()).toBe(0); // nothing is due a millisecond early
      world.now = start + d * day;
      await world.send('longwait/l1', { type: 'PING' }); // restored and saved again every day
      await world.sweepAndDeliver();
      const { week, forty } = (await world.item('longwait/l1')).snapshot.context as { week: number; forty: number };
      seen.push({ day: d, week, forty });
    }

    expect(seen.find((s) => s.week === 1)?.day).toBe(7);
    expect(seen.find((s) => s.forty === 1)?.day).toBe(40);
    expect(seen.at(-1)).toEqual({ day: 45, week: 1, forty: 1 });
    const item = await world.item('longwait/l1');
    expect(item.value).toBe('finished');
    expect(item.timers).toEqual([]);
    expect(item.wakeAt).toBeUndefined();
    expect(item.wakeShard).toBeUndefined();
  });

  it('cancels the payment expiry when PAID arrives first, and ignores the late wake-up', async () => {
    const world = new World(timed);
    await world.send('payment/p1', { type: 'CHECKOUT', amount: 42 });
    const armed = await world.item('payment/p1');
    expect(armed.wakeAt).toBe(world.now + 15 * minute);
    const wakeAt = armed.wakeAt ?? 0;

    world.advance(5 * minute);
    await world.send('payment/p1', { type: 'PAID', reference: 'tx-9' });
    world.advance(20 * minute);
    const paid = await world.item('payment/p1');
    await world.send('payment/p1', { type: 'settle.wake', wakeAt }); // a wake-up sent before PAID, arriving late

    const item = await world.item('payment/p1');
    expect(item.value).toBe('paid');
    expect(item.timers).toEqual([]);
    expect(item).toEqual(paid); // a wake-up that finds nothing due records nothing
    expect(await world.sweep()).toEqual([]);
  });

  it('expires the payment after 15 minutes when no PAID arrives', async () => {
    const world = new World(timed);
    await world.send('payment/p2', { type: 'CHECKOUT', amount: 42 });

    world.advance(15 * minute - 1);
    expect(await world.sweepAndDeliver()).toBe(0);
    world.advance(1);
    expect(await world.sweepAndDeliver()).toBe(1);

    const item = await world.item('payment/p2');
    expect(item.value).toBe('expired');
    expect(item.outcome).toBe('reject');
  });

  it('takes the payment window from the checkout when given (windowSeconds)', async () => {
    const world = new World(timed);
    await world.send('payment/p3', { type: 'CHECKOUT', amount: 42, windowSeconds: 5 });

    expect((await world.item('payment/p3')).wakeAt).toBe(world.now + 5_000);
    world.advance(5_000);
    await world.sweepAndDeliver();
    expect((await world.item('payment/p3')).value).toBe('expired');
  });

  it('issues a new token when a state is left and re-entered, and ignores the old wake-up', async () => {
    const world = new World(timed);
    await world.send('door/d1', { type: 'OPEN' });
    const first = (await world.item('door/d1')).timers[0];

    world.advance(12 * 60 * minute);
    await world.send('door/d1', { type: 'CLOSE' }, { type: 'OPEN' });
    const second = (await world.item('door/d1')).timers[0];
    expect(second?.id).toBe(first?.id); // XState reuses the id …
    expect(second?.token).not.toBe(first?.token); // … the durable timer does not
    expect(second?.fireAt).toBe(world.now + day);

    world.now = first?.fireAt ?? 0;
    await world.send('door/d1', { type: 'settle.wake', wakeAt: first?.fireAt });
    let item = await world.item('door/d1');
    expect(item.value).toBe('open');
    expect((item.snapshot.context as { closedByTimer: number }).closedByTimer).toBe(0);

    world.now = second?.fireAt ?? 0;
    await world.sweepAndDeliver();
    item = await world.item('door/d1');
    expect(item.value).toBe('closed');
    expect((item.snapshot.context as { closedByTimer: number }).closedByTimer).toBe(1);
  });

  it('skips a due timer whose state was re-entered by an earlier timer of the same wake-up', async () => {
    // Bug this pins: XState reuses the timer id on re-entry, so without the token check the stale
    // two-hour timer would fire the freshly armed one at once.
    const world = new World(timed);
    await world.send('relay/r1', { type: 'START' });

    world.advance(3 * 60 * minute); // the sweeper was late: both timers are due in one wake-up
    expect(await world.sweepAndDeliver()).toBe(1);

    const item = await world.item('relay/r1');
    expect(item.snapshot.context).toEqual({ first: 1, second: 0 });
    expect(item.timers.map((t) => t.fireAt)).toEqual([world.now + 60 * minute, world.now + 120 * minute]);
  });

  it('fires a timer once when its wake-up is delivered twice', async () => {
    const world = new World(timed);
    await world.send('door/d2', { type: 'OPEN' });
    world.advance(day);
    const wakes = await world.sweep();
    expect(wakes).toHaveLength(1);
    const wake = wakes[0]!;

    await world.send(wake.pk, wake.body);
    await world.send('door/d2', { type: 'OPEN' }); // re-arms a new timer with the same XState id
    await world.send(wake.pk, wake.body); // the same wake-up again, as a new message

    const item = await world.item('door/d2');
    expect((item.snapshot.context as { closedByTimer: number }).closedByTimer).toBe(1);
    expect(item.value).toBe('open');
    expect(item.history.map((h) => h.outcome)).toEqual(['resolve', 'resolve', 'resolve']); // the repeat recorded nothing
  });

  it('ignores an early wake-up: a timer never fires before its time (beyond the clock-skew tolerance)', async () => {
    const world = new World(timed);
    await world.send('door/d3', { type: 'OPEN' });
    const timer = (await world.item('door/d3')).timers[0];

    await world.send('door/d3', { type: 'settle.wake', wakeAt: timer?.fireAt });

    const item = await world.item('door/d3');
    expect(item.value).toBe('open');
    expect(item.timers).toEqual([timer]);
  });

  it('wakes 1,000 instances with due timers in one sweep', async () => {
    const world = new World(timed);
    for (let i = 0; i < 1000; i += 1) await world.send(`payment/bulk-${i}`, { type: 'CHECKOUT', amount: 1 });
    world.advance(15 * minute);

    const woken = await world.sweepAndDeliver();

    expect(woken).toBe(1000);
    const values = new Set(world.store.all().map((item) => item.value));
    expect(values).toEqual(new Set(['expired']));
    expect(await world.sweep()).toEqual([]);
  });

  it('runs a short delay inside an unsettled state in-process, within the settle budget', async () => {
    const world = new World(timed);

    const response = await world.send('blink/b1', { type: 'GO' });

    expect(response.batchItemFailures).toEqual([]);
    const item = await world.item('blink/b1');
    expect(item.value).toBe('idle');
    expect(item.timers).toEqual([]);
  });

  it('keeps the approval reminder (2 days) and expiry (7 days) durable', async () => {
    const world = new World(timed);
    await world.send('approval/doc-9', { type: 'SUBMIT', by: 'eve' });

    world.advance(2 * day);
    await world.sweepAndDeliver();
    let item = await world.item('approval/doc-9');
    expect((item.snapshot.context as { reminders: number }).reminders).toBe(1);

    world.advance(5 * day);
    await world.sweepAndDeliver();
    item = await world.item('approval/doc-9');
    expect(item.value).toBe('expired');
    expect(item.status).toBe('done');
  });
});
