import { type SettleRun, runSettle } from '../support/settle-cli.ts';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainExitCodes } from '../../analysis/explain-command.ts';
import { type ActorModel, type Explanation, type ExplainOptions, explainEvent, explainInRegistry } from '../../analysis/explain.ts';
import type { SettleClient } from '../../client/settle-client.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { registry as exampleRegistry } from '../../machines/index.ts';
import { PermanentError } from '../../runtime/core/errors.ts';
import { parseInstanceKey } from '../../runtime/core/instance-key.ts';
import { silentLogger } from '../../runtime/core/logger.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { createTestWorld, NotSettledError, type TestWorld } from '../../testing/index.ts';
import { seededRandom } from '../../testing/random.ts';
import { createPropertyRegistry, deterministicActors } from '../properties/reference.ts';
import { shellEnv } from '../support/settle-cli.ts';
import { registry as fixtures } from './fixtures/explain-machines.ts';

const models = deterministicActors as unknown as Readonly<Record<string, ActorModel>>;

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** The example machines' events, good and bad, as a sender might get them wrong. */
function randomEvent(machine: string, random: Random): unknown {
  const role = () => pick(random, ['legal', 'finance', 'legal', 'finance', 'ops']);
  const odd = [
    { type: '' },
    { type: 'xstate.stop' },
    { type: 'settle.wake' },
    { type: 'settle.other' },
    { type: 'COUNT', settle: { idempotencyKey: 'forged' } },
    'a string',
    42,
    [{ type: 'COUNT' }],
    { type: 'NOBODY_TAKES_THIS' },
  ];
  if (random() < 0.1) return pick(random, odd);
  switch (machine) {
    case 'counter':
      return pick(random, [{ type: 'COUNT' }, { type: 'COUNT' }, { type: 'COUNT' }, { type: 'RESET' }]);
    case 'approval':
      return pick(random, [
        { type: 'SUBMIT', by: 'eve' },
        { type: 'SUBMIT' },
        { type: 'APPROVE', role: role(), by: 'ana' },
        { type: 'APPROVE', role: role(), by: 'ana' },
        { type: 'APPROVE', role: role(), by: 'ana' },
        { type: 'REJECT', role: role(), by: 'bob', ...(random() < 0.5 ? { reason: 'too dear' } : {}) },
        { type: 'RESUBMIT', by: 'eve' },
      ]);
    case 'signup':
      return pick(random, [
        { type: 'REGISTER', email: 'eve@example.com' },
        { type: 'REGISTER', email: 'not-an-address' },
        { type: 'REGISTER', email: 'bounce@example.invalid' },
        { type: 'REGISTER', email: 7 },
        { type: 'VERIFY' },
        { type: 'RETRY' },
      ]);
    case 'payment':
      return pick(random, [
        { type: 'CHECKOUT', amount: 10 },
        { type: 'CHECKOUT', amount: 25, windowSeconds: 1 },
        { type: 'CHECKOUT', amount: 25, windowSeconds: 600 },
        { type: 'CHECKOUT', amount: -1 },
        { type: 'CHECKOUT', amount: 5, windowSeconds: 0.5 },
        { type: 'PAID', reference: 'r-1' },
      ]);
    default:
      return { type: 'ANYTHING' };
  }
}

interface WorkerAnswer {
  readonly outcome: string;
  readonly record: InstanceRecord | undefined;
}

/** Sends through the real worker core and reads back what it stored. */
async function workerDoes(world: TestWorld, key: string, event: unknown): Promise<WorkerAnswer> {
  let outcome: string;
  try {
    outcome = (await world.send(key, event as { type: string })).outcome;
  } catch (error) {
    if (!(error instanceof NotSettledError)) throw error;
    outcome = 'not-settled';
  }
  return { outcome, record: await world.store.read(key) };
}

/** Where explain and the worker differ, in words; empty when they agree. */
function differences(explanation: Explanation, stored: InstanceRecord | undefined, answer: WorkerAnswer): string[] {
  const found: string[] = [];
  const expected =
    explanation.verdict === 'refused'
      ? 'dead-lettered'
      : explanation.verdict === 'ignored'
        ? 'ignored'
        : explanation.verdict === 'applied' && explanation.outcome !== undefined
          ? explanation.outcome
          : `(${explanation.verdict}, ${explanation.settle.kind})`;
  if (expected !== answer.outcome) found.push(`outcome: explain ${expected}, worker ${answer.outcome}`);
  const { record } = answer;
  const after = explanation.after;
  if (!after) {
    if (record) found.push(`explain says no item, the worker stored ${JSON.stringify(record.states)}`);
    return found;
  }
  if (!record) return [...found, `explain says ${JSON.stringify(after.states)}, the worker stored no item`];
  const pairs: [string, unknown, unknown][] = [
    ['states', after.states, record.states],
    ['value', after.value, record.value],
    ['tags', after.tags, [...record.tags].sort()],
    ['status', after.status, record.status],
    ['context', after.context, (record.snapshot as { context?: unknown }).context],
    ['timers', explanation.timers.pending.map((timer) => [timer.id, timer.fireAt]), record.timers.map((timer) => [timer.id, timer.fireAt])],
    ['machineVersion', explanation.instance.registryVersion, record.machineVersion],
  ];
  for (const [name, predicted, actual] of pairs) {
    if (JSON.stringify(predicted) !== JSON.stringify(actual))
      found.push(`${name}: explain ${JSON.stringify(predicted)}, worker ${JSON.stringify(actual)}`);
  }
  // Every handled event is recorded (ignored and dead-lettered ones too: a dead letter adds the write that forgets it).
  if (stored && answer.outcome !== 'not-settled' && record.version <= stored.version) found.push('the worker wrote nothing');
  return found;
}

/**
 * Explain without actor models (as the CLI runs) against explain with them: where the plain one waits for an
 * actor, the verdict and the transitions so far must be the start of the modelled answer; elsewhere, the same answer.
 */
function plainDifferences(plain: Explanation, modelled: Explanation): string | undefined {
  if (plain.settle.kind === 'waits' || plain.verdict === 'undecided') {
    const prefix = modelled.transitions.slice(0, plain.transitions.length);
    if (JSON.stringify(prefix) !== JSON.stringify(plain.transitions))
      return `transitions ${JSON.stringify(plain.transitions)} are not the start of the modelled ones`;
    if (plain.verdict === 'applied' && modelled.verdict !== 'applied') return `applied, then waits; modelled ${modelled.verdict}`;
    return undefined;
  }
  const { settle: _plainSettle, ...rest } = plain;
  const { settle: _modelledSettle, ...restModelled } = modelled;
  return JSON.stringify(rest) === JSON.stringify(restModelled)
    ? undefined
    : `differs from the modelled answer: ${plain.summary} / ${modelled.summary}`;
}

/**
 * Explains `event` for `key` against what `world` has stored, then sends it through the worker and checks that the
 * worker did what explain said (the same comparison as the 1,000-pair property below). Returns the explanation.
 */
async function explainThenSend(
  world: TestWorld,
  registry: MachineRegistry,
  key: string,
  event: unknown,
  options: ExplainOptions = {},
): Promise<Explanation> {
  const stored = await world.store.read(key);
  const explanation = explainInRegistry(registry, key, stored, event, { now: world.now, eventTimeoutMs: 1000, ...options });
  const answer = await workerDoes(world, key, event);
  expect(differences(explanation, stored, answer), explanation.summary).toEqual([]);
  return explanation;
}

/** A world over `registry` in which each instance was first taken to its state by `events`. */
async function worldWith(registry: MachineRegistry, setUp: Record<string, readonly unknown[]> = {}): Promise<TestWorld> {
  const world = createTestWorld(registry, { eventTimeoutMs: 1000 });
  for (const [key, events] of Object.entries(setUp)) for (const event of events) await world.send(key, event as { type: string });
  return world;
}

describe('explainEvent', () => {
  const examples = createPropertyRegistry(new Map());

  it('an event that is accepted: the transition, where it settles, the context keys it changes and the timer it arms', async () => {
    const world = await worldWith(examples, { 'payment/p1': [{ type: 'PAID', reference: 'early' }] });
    const explanation = await explainThenSend(world, examples, 'payment/p1', { type: 'CHECKOUT', amount: 10 });
    expect(explanation).toMatchObject({
      verdict: 'applied',
      outcome: 'resolve',
      before: { states: ['cart'], tags: ['resolve'] },
      transitions: [{ trigger: 'event', event: 'CHECKOUT', source: 'cart', targets: ['awaitingPayment'] }],
      settle: { kind: 'settled' },
      after: { states: ['awaitingPayment'], tags: ['resolve'], status: 'active' },
      contextChanges: [{ key: 'amount', before: 0, after: 10 }],
      refusedGuards: [],
    });
    expect(explanation.instance).toMatchObject({ exists: true, machineVersion: 1, migrated: false, itemVersion: 1 });
    expect(explanation.timers.armed).toEqual([
      expect.objectContaining({ eventType: 'xstate.after.paymentWindow.payment.awaitingPayment', delay: 900_000 }),
    ]);
    expect(explanation.checks.map((check) => [check.name, check.passed])).toEqual([
      ['machine version', true],
      ['snapshot', true],
      ['message', true],
      ['schema', true],
    ]);
    expect(explanation.summary).toBe("'CHECKOUT' would be applied (cart → awaitingPayment) and settle in awaitingPayment: resolve.");
  });

  it('an event no active state takes is ignored, and the instance keeps its state and timers', async () => {
    const world = await worldWith(examples, { 'payment/p2': [{ type: 'CHECKOUT', amount: 10 }] });
    const explanation = await explainThenSend(world, examples, 'payment/p2', { type: 'CHECKOUT', amount: 20 });
    expect(explanation).toMatchObject({ verdict: 'ignored', outcome: 'ignored', transitions: [], refusedGuards: [] });
    expect(explanation.after).toEqual(explanation.before);
    expect(explanation.timers.armed).toEqual([]);
    expect(explanation.timers.pending.map((timer) => timer.id)).toEqual(['xstate.after.paymentWindow.payment.awaitingPayment']);
  });

  it('names the guard that refused: a named one, and an inline one by its source', async () => {
    const world = await worldWith(fixtures, { 'guarded/g1': [{ type: 'PAY', amount: -1 }] });
    const none = await explainThenSend(world, fixtures, 'guarded/g1', { type: 'PAY', amount: 0 });
    expect(none.verdict).toBe('ignored');
    expect(none.refusedGuards).toEqual([
      { state: 'idle', descriptor: 'PAY', guard: 'isLarge', targets: ['review'] },
      { state: 'idle', descriptor: 'PAY', guard: 'inline guard ({ event }) => event.amount > 0', targets: ['paid'] },
    ]);
    expect(none.summary).toMatch(/ignored: no transition for it in idle; refused by guard isLarge, inline guard/);

    const second = await explainThenSend(world, fixtures, 'guarded/g1', { type: 'PAY', amount: 50 });
    expect(second).toMatchObject({ verdict: 'applied', outcome: 'done', after: { status: 'done', states: ['paid'] } });
    expect(second.refusedGuards).toEqual([{ state: 'idle', descriptor: 'PAY', guard: 'isLarge', targets: ['review'] }]);
    expect(second.transitions).toEqual([
      { trigger: 'event', event: 'PAY', source: 'idle', targets: ['paid'], guard: 'inline guard ({ event }) => event.amount > 0' },
    ]);
  });

  it("an event the machine's validateEvent refuses is dead-lettered, with the worker's reason", async () => {
    const world = await worldWith(examples, { 'approval/a1': [{ type: 'SUBMIT', by: 'eve' }] });
    const explanation = await explainThenSend(world, examples, 'approval/a1', { type: 'APPROVE', role: 'ops', by: 'ana' });
    expect(explanation).toMatchObject({ verdict: 'refused', outcome: 'dead-lettered', refusal: { code: 'schema-violation' } });
    expect(explanation.refusal?.message).toMatch(/"role" must be "legal" or "finance", got "ops"/);
    expect(explanation.checks.at(-1)).toMatchObject({ name: 'schema', passed: false });
    expect(explanation.after).toEqual(explanation.before);
    expect(world.deadLetters.at(-1)?.error.code).toBe('schema-violation');
  });

  it('the message rules: reserved types, the settle field, a body that is no event, one over the size limit', () => {
    const key = parseInstanceKey('counter/m1');
    const definition = exampleRegistry.counter;
    const code = (event: unknown, options?: ExplainOptions) => explainEvent(definition, key, undefined, event, options).refusal?.code;
    expect(code({ type: 'xstate.done.actor.x' })).toBe('reserved-type');
    expect(code({ type: 'settle.wake', wakeAt: 1 })).toBe('reserved-type');
    expect(code({ type: 'settle.wake' })).toBe('invalid-event');
    expect(code({ type: 'COUNT', settle: {} })).toBe('invalid-event');
    expect(code({ kind: 'COUNT' })).toBe('invalid-event');
    expect(code([{ type: 'COUNT' }])).toBe('invalid-event');
    expect(code({ type: 'COUNT', padding: 'x'.repeat(100) }, { maxEventBytes: 64 })).toBe('event-too-large');
    expect(explainEvent(definition, key, undefined, { type: 'COUNT' }, { maxEventBytes: 64 }).verdict).toBe('applied');
  });

  it('an event type no state of the machine takes: ignored by the worker, and the note that the client refuses to send it', async () => {
    const world = await worldWith(examples, { 'counter/c1': [{ type: 'COUNT' }] });
    const explanation = await explainThenSend(world, examples, 'counter/c1', { type: 'RESET' }, { actors: models });
    expect(explanation.verdict).toBe('ignored');
    expect(explanation.notes.join(' ')).toMatch(/No state of machine 'counter' takes 'RESET'.*unknown-event.*records it as ignored/);
  });

  it("a new instance: explained from the machine's initial state, as the worker creates it", async () => {
    const world = await worldWith(examples);
    const withModels = await explainThenSend(world, examples, 'counter/new', { type: 'COUNT' }, { actors: models });
    expect(withModels.instance).toMatchObject({ exists: false, machineVersion: 1 });
    expect(withModels.instance.itemVersion).toBeUndefined();
    expect(withModels.before).toMatchObject({ states: ['even'], context: { count: 0 } });
    expect(withModels.notes[0]).toMatch(/No item for counter\/new: the worker would create the instance from the initial state/);
    expect(withModels).toMatchObject({ verdict: 'applied', outcome: 'resolve', after: { states: ['even'], context: { count: 2 } } });
    expect(withModels.transitions.map((step) => `${step.trigger} ${step.source} → ${step.targets.join(',')}`)).toEqual([
      'event even → counting',
      'actor counting → odd',
      'actor odd → even',
    ]);
    expect(withModels.settle.modelled.map((answer) => answer.src)).toEqual(['step', 'step']);

    // The first event of a new instance that is ignored still creates it, in its initial state.
    const ignored = await explainThenSend(world, examples, 'payment/new', { type: 'PAID', reference: 'r' });
    expect(ignored).toMatchObject({ verdict: 'ignored', after: { states: ['cart'] } });
    // One that is refused does not.
    const refused = await explainThenSend(world, examples, 'payment/never', { type: 'CHECKOUT', amount: 0 });
    expect(refused).toMatchObject({ verdict: 'refused', after: undefined });
  });

  it('parallel regions: the transition in each region, the guard that said no in the other, and done when both finish', async () => {
    const world = await worldWith(examples, { 'approval/p1': [{ type: 'SUBMIT', by: 'eve' }] });
    const legal = await explainThenSend(world, examples, 'approval/p1', { type: 'APPROVE', role: 'legal', by: 'ana' }, { actors: models });
    expect(legal.before?.states).toEqual(['review.legal.pending', 'review.finance.pending']);
    expect(legal.transitions).toEqual([
      {
        trigger: 'event',
        event: 'APPROVE',
        source: 'review.legal.pending',
        targets: ['review.legal.signed'],
        region: 'review.legal',
        guard: 'isLegal',
      },
    ]);
    expect(legal.refusedGuards).toEqual([
      { state: 'review.finance.pending', descriptor: 'APPROVE', guard: 'isFinance', targets: ['review.finance.signed'] },
    ]);
    expect(legal).toMatchObject({ outcome: 'resolve', after: { states: ['review.legal.signed', 'review.finance.pending'] } });
    expect(legal.contextChanges).toEqual([{ key: 'approvals', before: {}, after: { legal: 'ana' } }]);

    const finance = await explainThenSend(world, examples, 'approval/p1', { type: 'APPROVE', role: 'finance', by: 'bo' });
    expect(finance).toMatchObject({ verdict: 'applied', outcome: 'done', after: { states: ['approved'], status: 'done' } });
    // review's onDone (a done event raised inside the step) leaves for approved; its timers are cancelled.
    expect(finance.transitions.map((step) => `${step.trigger} ${step.source} → ${step.targets.join(',')}`)).toEqual([
      'event review.finance.pending → review.finance.signed',
      'raised review → approved',
    ]);
    expect([...finance.timers.cancelled].sort()).toEqual(['xstate.after.expiry.approval.review', 'xstate.after.reminder.approval.review']);
    expect(finance.timers.pending).toEqual([]);

    const both = await worldWith(fixtures, { 'regions/r1': [{ type: 'A' }] });
    const ended = await explainThenSend(both, fixtures, 'regions/r1', { type: 'BOTH' });
    expect(ended.before?.states).toEqual(['a.finished', 'b.waiting']);
    expect(ended.transitions).toEqual([{ trigger: 'event', event: 'BOTH', source: 'b.waiting', targets: ['b.finished'], region: 'b' }]);
    expect(ended.outcome).toBe('done');
    const fresh = await explainThenSend(both, fixtures, 'regions/r2', { type: 'BOTH' });
    expect(fresh.transitions.map((step) => step.region)).toEqual(['a', 'b']);
  });

  it('eventless chains: each always step after the event, to a resolve or a reject state', async () => {
    const world = await worldWith(fixtures);
    const high = await explainThenSend(world, fixtures, 'chain/c1', { type: 'GO', n: 5 });
    expect(high.transitions).toEqual([
      { trigger: 'event', event: 'GO', source: 'idle', targets: ['step'] },
      { trigger: 'eventless', event: '(always)', source: 'step', targets: ['decide'] },
      {
        trigger: 'eventless',
        event: '(always)',
        source: 'decide',
        targets: ['high'],
        guard: 'inline guard ({ context }) => context.n > 1',
      },
    ]);
    expect(high).toMatchObject({ verdict: 'applied', outcome: 'resolve', after: { states: ['high'] } });
    const low = await explainThenSend(world, fixtures, 'chain/c2', { type: 'GO', n: 0 });
    expect(low).toMatchObject({ verdict: 'applied', outcome: 'reject', after: { states: ['low'], tags: ['reject'] } });
    expect(low.summary).toBe("'GO' would be applied (idle → step) and settle in low: reject.");
  });

  it('a reject outcome after an invoked actor fails, with a model of that actor', async () => {
    const world = await worldWith(examples);
    const explanation = await explainThenSend(
      world,
      examples,
      'signup/s1',
      { type: 'REGISTER', email: 'bounce@example.invalid' },
      { actors: models },
    );
    expect(explanation).toMatchObject({ verdict: 'applied', outcome: 'reject', after: { states: ['failed'], tags: ['reject'] } });
    expect(explanation.settle.modelled).toEqual([expect.objectContaining({ src: 'sendVerificationEmail', answer: 'error' })]);
  });

  it('would wait for an invoked actor, which the worker would run and explain does not', async () => {
    const world = await worldWith(fixtures);
    const explanation = explainInRegistry(fixtures, 'waiter/w1', await world.store.read('waiter/w1'), { type: 'START' });
    expect(explanation).toMatchObject({
      verdict: 'applied',
      outcome: undefined,
      settle: { kind: 'waits', waitingFor: [{ src: 'work', state: 'working' }] },
      after: { states: ['working'], tags: [] },
    });
    expect(explanation.effects).toEqual([expect.stringMatching(/^start 'work'/)]);
    expect(explanation.summary).toMatch(
      /would be applied \(idle → working\), then wait for invoked 'work' \(in working\): the worker would run it/,
    );
    // The worker runs it and settles; with a model of it, explain says where.
    const modelled = await explainThenSend(
      world,
      fixtures,
      'waiter/w1',
      { type: 'START' },
      { actors: { work: () => ({ output: 'worked' }) } },
    );
    expect(modelled).toMatchObject({ outcome: 'resolve', after: { states: ['finished'], context: { result: 'worked' } } });
  });

  it("undecided: a new instance's initial state first waits for an invoked actor", async () => {
    const world = await worldWith(fixtures);
    const explanation = explainInRegistry(fixtures, 'boot/b1', undefined, { type: 'GO' });
    expect(explanation).toMatchObject({
      verdict: 'undecided',
      outcome: undefined,
      before: { states: ['booting'] },
      settle: { kind: 'waits', waitingFor: [{ src: 'boot', state: 'booting' }] },
      transitions: [],
    });
    expect(explanation.summary).toBe("'GO' is undecided: the new instance's initial state first waits for invoked 'boot' (in booting).");
    const modelled = await explainThenSend(world, fixtures, 'boot/b1', { type: 'GO' }, { actors: { boot: () => ({ output: 'booted' }) } });
    expect(modelled).toMatchObject({ verdict: 'applied', outcome: 'done', before: { states: ['ready'] } });
    expect(modelled.instance.creation?.steps).toEqual([
      { trigger: 'actor', event: expect.stringMatching(/^xstate\.done\.actor\./), source: 'booting', targets: ['ready'] },
    ]);
  });

  it('would not settle: no tag and nothing to wait for; the worker times out, retries and dead-letters it', async () => {
    const world = await worldWith(fixtures, { 'stuck/s1': [{ type: 'NOPE' }] });
    const stored = await world.store.read('stuck/s1');
    const explanation = explainInRegistry(fixtures, 'stuck/s1', stored, { type: 'JAM' });
    expect(explanation).toMatchObject({
      verdict: 'refused',
      outcome: 'dead-lettered',
      refusal: { code: 'retries-exhausted' },
      settle: { kind: 'never' },
      transitions: [{ source: 'idle', targets: ['jammed'] }],
    });
    expect(explanation.after).toEqual(explanation.before);
    expect(explanation.settle.detail).toMatch(
      /stop in jammed, where 'jammed' has no resolve or reject tag.*settle-timeout.*retries-exhausted/,
    );
    // The worker: the event does not settle in its budget, and is handed back to SQS.
    await expect(world.send('stuck/s1', { type: 'JAM' })).rejects.toThrow(NotSettledError);
    expect((await world.store.read('stuck/s1'))?.version).toBe(stored?.version);
  });

  it("a delayed event that fits the event's budget fires while it settles, as the worker's clock fires it; a longer one never does", async () => {
    const world = await worldWith(fixtures, { 'timed/t1': [{ type: 'NOPE' }], 'timed/t2': [{ type: 'NOPE' }] });
    const short = await explainThenSend(world, fixtures, 'timed/t1', { type: 'PAUSE' });
    expect(short).toMatchObject({ verdict: 'applied', outcome: 'resolve', after: { states: ['rested'] } });
    expect(short.transitions.map((step) => `${step.trigger} ${step.source} → ${step.targets.join(',')}`)).toEqual([
      'event idle → pausing',
      'timer pausing → rested',
    ]);
    expect(short.timers.pending).toEqual([]);
    const long = explainInRegistry(fixtures, 'timed/t2', await world.store.read('timed/t2'), { type: 'HANG' }, { eventTimeoutMs: 1000 });
    expect(long).toMatchObject({ verdict: 'refused', refusal: { code: 'retries-exhausted' }, settle: { kind: 'never' } });
    await expect(world.send('timed/t2', { type: 'HANG' })).rejects.toThrow(NotSettledError);
  });

  it('a machine that throws: refused as machine-error, recorded as error', async () => {
    const world = await worldWith(fixtures, { 'stuck/s2': [{ type: 'NOPE' }] });
    const explanation = await explainThenSend(world, fixtures, 'stuck/s2', { type: 'BREAK' });
    expect(explanation).toMatchObject({ verdict: 'refused', outcome: 'error', refusal: { code: 'machine-error' } });
    expect(explanation.refusal?.message).toMatch(/would throw Error: boom while handling 'BREAK'/);
    expect((await world.store.read('stuck/s2'))?.history.at(-1)).toMatchObject({ outcome: 'error', error: 'machine-error' });
  });

  it('a snapshot of another machine version goes through migrate() in the dry run too, or is refused', async () => {
    const world = await worldWith(fixtures, { 'renamed/v1': [{ type: 'NOPE' }] });
    const current = (await world.store.read('renamed/v1')) as InstanceRecord;
    const old: InstanceRecord = { ...current, machineVersion: 1, snapshot: { ...current.snapshot, value: 'old' } };
    const snapshotBefore = JSON.stringify(old.snapshot);
    const migrated = explainInRegistry(fixtures, 'renamed/v1', old, { type: 'NEXT' });
    expect(migrated).toMatchObject({
      verdict: 'applied',
      outcome: 'reject',
      instance: { migrated: true, machineVersion: 1, registryVersion: 2 },
      before: { states: ['current'] },
      after: { states: ['later'] },
    });
    expect(migrated.checks[0]?.detail).toMatch(/saved by version 1; migrate\(\) takes it to version 2/);
    expect(JSON.stringify(old.snapshot)).toBe(snapshotBefore);

    const declined = explainInRegistry(fixtures, 'renamed/v1', { ...old, machineVersion: 7 }, { type: 'NEXT' });
    expect(declined).toMatchObject({ verdict: 'refused', refusal: { code: 'unknown-machine-version' } });
    expect(declined.refusal?.message).toMatch(/saved by version 7 .* registry has version 2 and its migrate\(\) declined that version/);

    const unrestorable = explainInRegistry(
      fixtures,
      'renamed/v1',
      { ...current, snapshot: { ...current.snapshot, value: 'gone' } },
      {
        type: 'NEXT',
      },
    );
    expect(unrestorable).toMatchObject({ verdict: 'refused', refusal: { code: 'snapshot-mismatch' } });
    const unreadable = new PermanentError('payload-missing', 'The snapshot object is gone.');
    expect(explainInRegistry(fixtures, 'renamed/v1', { ...current, unreadableSnapshot: unreadable }, { type: 'NEXT' }).refusal).toEqual({
      code: 'payload-missing',
      message: 'The snapshot object is gone.',
    });
  });

  it('a finished instance ignores every event; an unknown machine or a bad key is refused before anything is read', async () => {
    const world = await worldWith(examples, {
      'payment/d1': [
        { type: 'CHECKOUT', amount: 1 },
        { type: 'PAID', reference: 'r' },
      ],
    });
    const done = await explainThenSend(world, examples, 'payment/d1', { type: 'CHECKOUT', amount: 2 });
    expect(done).toMatchObject({ verdict: 'ignored', outcome: 'ignored', summary: "'CHECKOUT' would be ignored: the instance is done." });

    const unknown = await explainThenSend(world, examples, 'invoice/i1', { type: 'PAY' });
    expect(unknown).toMatchObject({ verdict: 'refused', refusal: { code: 'unknown-machine' } });
    expect(explainInRegistry(examples, 'Not A Key', undefined, { type: 'PAY' }).refusal?.code).toBe('invalid-instance-key');
  });
});

describe('explain agrees with the worker', () => {
  it('on 1,000 random (instance, event) pairs of the example machines, through the real worker core', async () => {
    const registry = createPropertyRegistry(new Map());
    const world = createTestWorld(registry, { eventTimeoutMs: 2000 });
    const random = seededRandom(0x5e771e);
    const machines = ['counter', 'approval', 'signup', 'payment'];
    const instances = [...machines.flatMap((machine) => [1, 2, 3, 4].map((n) => `${machine}/i${n}`)), 'ghost/g1'];
    const disagreements: string[] = [];
    const tally = new Map<string, number>();
    const started = performance.now();
    let pairs = 0;
    let waits = 0;
    while (pairs < 1000) {
      if (random() < 0.06) {
        // Time passes: durable timers fire (reminders, expiries), so instances reach the states only timers lead to.
        await world.advance(pick(random, [{ minutes: 20 }, { days: 3 }, { days: 8 }]));
        continue;
      }
      // Now and then a new instance joins the pool: finished ones would otherwise only ignore what they get.
      if (random() < 0.08) instances.push(`${pick(random, machines)}/n${pairs}`);
      const key = random() < 0.5 ? pick(random, instances.slice(-6)) : pick(random, instances);
      const event = randomEvent(key.slice(0, key.indexOf('/')), random);
      const stored = await world.store.read(key);
      const storedJson = JSON.stringify(stored);
      const explanation = explainInRegistry(registry, key, stored, event, { now: world.now, actors: models, eventTimeoutMs: 2000 });
      // As the CLI runs it, with no model of any actor: the same answer, or the same start and then "waits".
      const plain = explainInRegistry(registry, key, stored, event, { now: world.now, eventTimeoutMs: 2000 });
      if (JSON.stringify(stored) !== storedJson) disagreements.push(`pair ${pairs}: explain changed the record it was given`);
      const unmodelled = plainDifferences(plain, explanation);
      if (unmodelled) disagreements.push(`pair ${pairs}: ${key} ${JSON.stringify(event)} without models: ${unmodelled}`);
      if (plain.settle.kind === 'waits' || plain.verdict === 'undecided') waits += 1;
      const answer = await workerDoes(world, key, event);
      const found = differences(explanation, stored, answer);
      if (found.length > 0) {
        disagreements.push(`pair ${pairs}: ${key} ${JSON.stringify(event)} from ${JSON.stringify(stored?.states)}: ${found.join('; ')}`);
      }
      const label = `${explanation.verdict}:${explanation.refusal?.code ?? explanation.outcome}`;
      tally.set(label, (tally.get(label) ?? 0) + 1);
      pairs += 1;
    }
    const seconds = (performance.now() - started) / 1000;
    console.info(
      `explain vs worker: ${pairs} pairs in ${seconds.toFixed(1)} s, ${disagreements.length} disagreements, ${waits} "would wait" without models; ` +
        [...tally]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([label, count]) => `${label} ${count}`)
          .join(', '),
    );
    expect(disagreements.slice(0, 20)).toEqual([]);
    // Every kind of answer was exercised.
    for (const label of [
      'applied:resolve',
      'applied:reject',
      'applied:done',
      'ignored:ignored',
      'refused:schema-violation',
      'refused:reserved-type',
      'refused:invalid-event',
      'refused:unknown-machine',
    ]) {
      expect(tally.get(label) ?? 0, label).toBeGreaterThan(5);
    }
    expect(waits).toBeGreaterThan(50);
    expect(seconds).toBeLessThan(20);
  }, 30_000);
});

describe('settle explain exit codes', () => {
  it('one per verdict, distinct, and 2 for arguments it cannot explain', () => {
    expect(explainExitCodes).toEqual({ applied: 0, failure: 1, usage: 2, ignored: 4, refused: 5, undecided: 9 });
  });
});

describe('settle explain, against a local stack', () => {
  const root = join(import.meta.dirname, '..', '..');
  let stack: LocalStack;
  let client: SettleClient<typeof exampleRegistry>;
  let environment: NodeJS.ProcessEnv;

  /** Runs `settle explain <args>` in a new Node process, as a user's terminal would, to its end. */
  function explainCli(args: readonly string[]): Promise<SettleRun> {
    return runSettle(['explain', ...args, '--registry', 'machines/index.ts'], { env: environment, cwd: root, timeoutMs: 30_000 });
  }

  beforeAll(async () => {
    stack = await startLocalStack({ registry: exampleRegistry, logger: silentLogger, sweeper: null, poller: { waitTimeSeconds: 1 } });
    client = stack.client(exampleRegistry);
    environment = shellEnv({
      ...stack.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      // No settle dev of this machine is looked at: the stack's own settings name it.
      SETTLE_DEV_FILE: join(root, 'test', 'analysis', 'no-such-dev.json'),
    });
  }, 60_000);

  afterAll(async () => {
    // The client shares the stack's SDK clients: the stack closes them.
    await stack?.stop();
  }, 30_000);

  it('reads the stored snapshot, prints the transition and where it would settle, and changes nothing in the item', async () => {
    const submitted = await client.sendAndWait('approval', 'doc-1', { type: 'SUBMIT', by: 'eve' }, { timeoutMs: 20_000 });
    expect(submitted.states).toEqual(['review.legal.pending', 'review.finance.pending']);
    const before = await client.get('approval', 'doc-1');

    const [applied, asJson, ignored, refused, notJson] = await Promise.all([
      explainCli(['approval/doc-1', '{"type":"APPROVE","role":"legal","by":"ana"}']),
      explainCli(['approval/doc-1', '{"type":"APPROVE","role":"finance","by":"bo"}', '--json']),
      explainCli(['approval/doc-1', '{"type":"RESUBMIT","by":"eve"}']),
      explainCli(['approval/doc-1', '{"type":"APPROVE","role":"ops","by":"ana"}']),
      explainCli(['approval/doc-1', '{type: APPROVE}']),
    ]);

    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(explainExitCodes.applied);
    const lines = applied.stdout.split('\n');
    expect(lines[0]).toBe('approval/doc-1  APPROVE  → applied (resolve)');
    expect(applied.stdout).toMatch(/now in\s+review\.legal\.pending, review\.finance\.pending {2}\[resolve\]/);
    expect(applied.stdout).toMatch(
      /transition\s+review\.legal\.pending → review\.legal\.signed {2}\(region review\.legal, guard isLegal\)/,
    );
    expect(applied.stdout).toMatch(/guard said no\s+isFinance on review\.finance\.pending \(APPROVE → review\.finance\.signed\)/);
    expect(applied.stdout).toMatch(/would settle\s+review\.legal\.signed, review\.finance\.pending {2}\[resolve\] → resolve/);
    expect(applied.stdout).toMatch(/context\s+approvals: \{\} → \{"legal":"ana"\}/);
    expect(applied.stdout).toContain(`item           version ${before?.version} (explain leaves it as it is)`);
    expect(lines.at(-2)).toBe('  Dry run: nothing was sent, run or saved.');

    expect(asJson.code).toBe(explainExitCodes.applied);
    const explanation = JSON.parse(asJson.stdout) as Explanation;
    expect(explanation).toMatchObject({
      verdict: 'applied',
      outcome: 'resolve',
      instance: { exists: true, itemVersion: before?.version },
      transitions: [{ source: 'review.finance.pending', targets: ['review.finance.signed'], region: 'review.finance' }],
    });

    expect(ignored.code).toBe(explainExitCodes.ignored);
    expect(ignored.stdout).toMatch(/→ ignored \(ignored\)/);
    expect(refused.code).toBe(explainExitCodes.refused);
    expect(refused.stdout).toMatch(/refused\s+schema-violation: Event 'APPROVE' for instance approval\/doc-1 does not match/);
    expect(notJson.code).toBe(explainExitCodes.usage);
    expect(notJson.stdout).toBe('');
    expect(notJson.stderr.trim().split('\n')).toHaveLength(1);
    expect(notJson.stderr).toMatch(/^settle: The event is not JSON/);

    // Nothing was sent or saved: the item is as it was.
    const after = await client.get('approval', 'doc-1');
    expect(after).toEqual(before);
  }, 60_000);
});
