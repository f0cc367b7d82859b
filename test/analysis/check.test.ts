import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromCallback, fromPromise, raise, setup, spawnChild } from 'xstate';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLines, checkMachine, checkRegistry, type Finding, findingLines, maxDurableDelayMs } from '../../analysis/check.ts';
import { startDev } from '../../cli/dev.ts';
import { exitCodes } from '../../cli/output.ts';
import { registry as examples } from '../../machines/index.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import { defineRegistry } from '../../runtime/index.ts';
import { createTestWorld, NotSettledError } from '../../testing/index.ts';
import { runSettle, type SettleRun, shellEnv } from '../support/settle-cli.ts';
import {
  cleanMachine,
  coolingMachine,
  doorMachine,
  inlineMachine,
  nestedMachine,
  parallelMachine,
  parentMachine,
  pollerMachine,
  reservedMachine,
  routerMachine,
  sleeperMachine,
  watcherMachine,
} from './fixtures/check-machines.ts';

/** The findings' places: what a reader acts on first. */
const places = (findings: readonly Finding[]) => findings.map(({ severity, code, machine, state }) => ({ severity, code, machine, state }));

describe('settle check: one machine per finding class', () => {
  it('unsettled-state: an untagged state that nothing moves on from', () => {
    const findings = checkMachine('door', doorMachine);

    expect(places(findings)).toEqual([{ severity: 'error', code: 'unsettled-state', machine: 'door', state: 'open' }]);
    expect(findings[0]?.message).toMatch(
      /^State 'open' of machine 'door' has no 'resolve' or 'reject' tag .*no always, no invoke, no after\./,
    );
    expect(findings[0]?.message).toContain('the worker waits until the event timeout, SQS retries it, and it ends in the DLQ');
    expect(findings[0]?.fix).toMatch(/^Tag 'open' with 'resolve' .* or 'reject'/);
  });

  it('unsettled-state: an untagged state whose only after is longer than any event may take to settle', () => {
    const findings = checkMachine('cooling', coolingMachine);

    expect(places(findings)).toEqual([{ severity: 'error', code: 'unsettled-state', machine: 'cooling', state: 'cooling' }]);
    expect(findings[0]?.message).toContain('its after (3600000 ms) is longer than an event may take to settle (15 min at most)');
  });

  it('unsettled-state: an event raised or a child spawned on entry may move the state on; a raise delayed past 15 min may not', () => {
    const machine = setup({ actors: { pinger: fromCallback(({ sendBack }) => sendBack({ type: 'PONG' })) } }).createMachine({
      id: 'signals',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { RAISE: 'raising', SPAWN: 'spawning', LATER: 'later' } },
        raising: { entry: raise({ type: 'NEXT' }), on: { NEXT: 'idle' } },
        spawning: { entry: spawnChild('pinger'), on: { PONG: 'idle' } },
        later: { entry: raise({ type: 'NEXT' }, { delay: 3600000 }), on: { NEXT: 'idle' } },
      },
    });

    expect(places(checkMachine('signals', machine))).toEqual([
      { severity: 'error', code: 'unsettled-state', machine: 'signals', state: 'later' },
    ]);
  });

  it('inline-actor: inline invoke and spawnChild (directly or through a named action), and an unregistered name', () => {
    const findings = checkMachine('inline', inlineMachine);

    expect(places(findings)).toEqual([
      { severity: 'error', code: 'inline-actor', machine: 'inline', state: 'idle' },
      { severity: 'error', code: 'inline-actor', machine: 'inline', state: 'idle' },
      { severity: 'error', code: 'inline-actor', machine: 'inline', state: 'working' },
      { severity: 'error', code: 'inline-actor', machine: 'inline', state: 'typo' },
    ]);
    expect(findings.map((finding) => finding.message)).toEqual([
      expect.stringMatching(/^State 'idle' of machine 'inline' spawns a child from inline logic on 'SPAWN' .*cannot be saved and restored/),
      expect.stringMatching(/^State 'idle' of machine 'inline' spawns a child from inline logic on 'HELP' /),
      expect.stringMatching(
        /^State 'working' of machine 'inline' invokes inline logic \(invoke id '0\.inline\.working'\).*position-based key/,
      ),
      expect.stringMatching(/^State 'typo' of machine 'inline' spawns 'wrok' on entry, which setup\(\{ actors \}\) does not register/),
    ]);
    expect(findings.map((finding) => finding.fix)).toEqual([
      expect.stringContaining("spawn it by that name (spawnChild('name'))"),
      expect.stringContaining("spawn it by that name (spawnChild('name'))"),
      expect.stringContaining("invoke it by that name (src: 'name')"),
      expect.stringContaining("spawn it by that name (spawnChild('name'))"),
    ]);
  });

  it('no-settled-state-reachable: states that lead only to each other, and an invoke with no onDone or onError', () => {
    const findings = checkMachine('poller', pollerMachine);

    expect(places(findings)).toEqual([
      { severity: 'error', code: 'no-settled-state-reachable', machine: 'poller', state: 'polling' },
      { severity: 'error', code: 'no-settled-state-reachable', machine: 'poller', state: 'pausing' },
      { severity: 'error', code: 'no-settled-state-reachable', machine: 'poller', state: 'hanging' },
    ]);
    expect(findings.map((finding) => finding.message)).toEqual([
      expect.stringMatching(
        /^From state 'polling' of machine 'poller' no settled state .*every path from it stays in untagged states \('pausing'\)/,
      ),
      expect.stringMatching(/^From state 'pausing' of machine 'poller' .*untagged states \('polling'\)/),
      expect.stringMatching(/^From state 'hanging' of machine 'poller' .*no transition leads out of it/),
    ]);
    expect(findings[0]?.fix).toContain("Add a transition from 'polling' (or a state it leads to) to a tagged or final state");
  });

  it('no-settled-state-reachable: an after too long to fire while the event settles is no way out', () => {
    const machine = setup({ actors: { poll: fromPromise(async () => 1) } }).createMachine({
      id: 'retry',
      initial: 'retrying',
      states: {
        retrying: { invoke: { src: 'poll', onDone: 'retrying', onError: 'retrying' }, after: { 3600000: 'gaveUp' } },
        gaveUp: { tags: ['reject'] },
      },
    });

    expect(places(checkMachine('retry', machine))).toEqual([
      { severity: 'error', code: 'no-settled-state-reachable', machine: 'retry', state: 'retrying' },
    ]);
  });

  it('invoke-in-settled-state: a tagged state that invokes, and a state that invokes while a child state rests tagged', () => {
    const findings = checkMachine('watcher', watcherMachine);

    expect(places(findings)).toEqual([
      { severity: 'warning', code: 'invoke-in-settled-state', machine: 'watcher', state: 'watching' },
      { severity: 'warning', code: 'invoke-in-settled-state', machine: 'watcher', state: 'observed' },
    ]);
    expect(findings[0]?.message).toMatch(
      /^State 'watching' of machine 'watcher' invokes 'watch' while it is settled \(tagged\).*started again on every restore/,
    );
    expect(findings[1]?.message).toContain("invokes 'watch' while 'observed.quiet' is settled");
  });

  it('always-may-fail: an untagged state that leaves only through guarded always transitions', () => {
    const findings = checkMachine('router', routerMachine);

    expect(places(findings)).toEqual([{ severity: 'warning', code: 'always-may-fail', machine: 'router', state: 'routing' }]);
    expect(findings[0]?.message).toMatch(
      /^State 'routing' of machine 'router' is untagged .*when every guard fails the machine rests there unsettled/,
    );
    expect(findings[0]?.fix).toContain('Add an always transition without a guard as the last one');
  });

  it('after-in-child-machine: a registered child machine with a delay, placed at the state that invokes it', () => {
    const findings = checkMachine('parent', parentMachine);

    expect(places(findings)).toEqual([{ severity: 'warning', code: 'after-in-child-machine', machine: 'parent', state: 'running' }]);
    expect(findings[0]?.message).toMatch(
      /^Child machine 'ticker' \(started in state 'running'\) of machine 'parent' has after \(5000 ms\) in state 'ticking': .*in-process only/,
    );
    expect(findings[0]?.fix).toContain("Move the delay to machine 'parent' itself");
  });

  it("reserved-event-type: settle.* and xstate.* handlers, but not XState's own done event written by hand", () => {
    const findings = checkMachine('reserved', reservedMachine);

    expect(places(findings)).toEqual([
      { severity: 'error', code: 'reserved-event-type', machine: 'reserved', state: 'idle' },
      { severity: 'error', code: 'reserved-event-type', machine: 'reserved', state: 'working' },
    ]);
    expect(findings[0]?.message).toMatch(
      /^State 'idle' of machine 'reserved' handles 'settle\.ping', a type with the reserved prefix 'settle\.'/,
    );
    expect(findings[1]?.message).toMatch(/handles 'xstate\.custom', a type with the reserved prefix 'xstate\.'.*never runs/);
    expect(findings.some((finding) => finding.message.includes('xstate.done.actor.job'))).toBe(false);
  });

  it('delay-too-long: a named delay past what a durable timer holds; a month-long one is durable', () => {
    const findings = checkMachine('sleeper', sleeperMachine);

    expect(places(findings)).toEqual([{ severity: 'error', code: 'delay-too-long', machine: 'sleeper', state: 'asleep' }]);
    expect(findings[0]?.message).toContain(
      `waits 'forever' (${Number.MAX_SAFE_INTEGER} ms) in an after, longer than a durable timer holds (${maxDurableDelayMs} ms`,
    );
    expect(maxDurableDelayMs).toBe(2 ** 53 - 1 - Date.parse('+010000-01-01T00:00:00Z'));
  });

  it('finds nothing in a machine that uses parallel regions, nested tags, invokes, always with a fallback and timers well', () => {
    expect(checkMachine('clean', cleanMachine)).toEqual([]);
  });

  it('finds nothing in the example registry', () => {
    expect(checkRegistry(examples)).toEqual([]);
  });
});

describe('settle check: regions and nesting', () => {
  it('judges each region of a parallel state on its own: the tagged region is fine, the other one is not', () => {
    expect(places(checkMachine('parallel', parallelMachine))).toEqual([
      { severity: 'error', code: 'unsettled-state', machine: 'parallel', state: 'checks.budget.pending' },
    ]);
  });

  it("counts an ancestor's tag, as the worker does: only the nested state without one is found", () => {
    expect(places(checkMachine('nested', nestedMachine))).toEqual([
      { severity: 'error', code: 'unsettled-state', machine: 'nested', state: 'review.waiting.legal' },
    ]);
  });

  it('names findings by registry name, machines in registry order', () => {
    const registry = defineRegistry({ gate: { machine: doorMachine, version: 1 }, switch: { machine: routerMachine, version: 1 } });

    expect(places(checkRegistry(registry))).toEqual([
      { severity: 'error', code: 'unsettled-state', machine: 'gate', state: 'open' },
      { severity: 'warning', code: 'always-may-fail', machine: 'switch', state: 'routing' },
    ]);
  });
});

describe('settle check: what the findings claim', () => {
  it('a machine entering an unsettled state does not settle, and settle/testing names the finding', async () => {
    const world = createTestWorld(defineRegistry({ door: { machine: doorMachine, version: 1 } }), { eventTimeoutMs: 50 });

    expect(places(world.findings)).toEqual([{ severity: 'error', code: 'unsettled-state', machine: 'door', state: 'open' }]);
    const sent = world.send('door/d1', { type: 'OPEN' });
    await expect(sent).rejects.toThrow(NotSettledError);
    await expect(sent).rejects.toThrow(
      /did not settle[\s\S]*\nsettle check: State 'open' of machine 'door' has no 'resolve' or 'reject' tag/,
    );
  });

  it("a child machine's delay is not a durable timer: it never fires once the event that armed it has settled", async () => {
    const ticker = setup({}).createMachine({
      id: 'ticker',
      initial: 'ticking',
      states: { ticking: { after: { 3600000: 'rung' } }, rung: { type: 'final' } },
    });
    const machine = setup({ actors: { ticker } }).createMachine({
      id: 'host',
      initial: 'waiting',
      states: { waiting: { tags: ['resolve'], invoke: { src: 'ticker', onDone: 'rang' } }, rang: { type: 'final' } },
    });
    const world = createTestWorld(defineRegistry({ host: { machine, version: 1 } }));

    expect(world.findings.map((finding) => finding.code)).toEqual(['invoke-in-settled-state', 'after-in-child-machine']);
    await world.send('host/h1', { type: 'PING' });
    await world.advance({ hours: 5 });
    expect((await world.instance('host/h1')).states).toEqual(['waiting']);
  });
});

describe('settle check: output', () => {
  it('prints aligned lines, grouped by machine in the order they come, errors before warnings within a machine', () => {
    const [routing, open] = checkRegistry(
      defineRegistry({ router: { machine: routerMachine, version: 1 }, door: { machine: doorMachine, version: 1 } }),
    ) as [Finding, Finding];
    const routerError: Finding = { ...routing, severity: 'error', code: 'unsettled-state', state: 'idle' };

    const lines = findingLines([routing, open, routerError]);

    expect(lines.map((line) => line.slice(0, 25))).toEqual([
      'error   router  idle     ',
      'warning router  routing  ',
      'error   door    open     ',
    ]);
    expect(lines[2]).toBe(`error   door    open     ${open.message} Fix: ${open.fix}`);
  });

  it('shows nothing for settle dev when there is no finding, and never throws on a machine it cannot read', () => {
    const unreadable = {
      broken: {
        version: 1,
        machine: {
          get root(): never {
            throw new Error('no root here');
          },
        },
      },
    } as unknown as MachineRegistry;

    expect(checkLines(examples)).toEqual([]);
    expect(checkLines(defineRegistry({ door: { machine: doorMachine, version: 1 } }))).toEqual([
      expect.stringMatching(/^error {3}door {2}open {2}State 'open' of machine 'door'/),
      'check: 1 error, 0 warnings in 1 machine (door); settle check explains each.',
    ]);
    expect(checkLines(unreadable)).toEqual(['check: could not check the machines (no root here).']);
  });
});

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(import.meta.dirname, 'fixtures');
/** Projects of the user's, inside the repository so that `node --import tsx` finds tsx from them. */
const folder = join(import.meta.dirname, `.tmp-check-${process.pid}`);
mkdirSync(folder, { recursive: true });
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function settle(args: readonly string[], cwd = root): Promise<SettleRun> {
  return runSettle(args, { env: shellEnv({ SETTLE_DEV_FILE: join(folder, 'no-dev.json') }), cwd });
}

describe('settle check (the CLI)', () => {
  it('exits with checkFailed when a machine has an error, printing every finding and a summary', async () => {
    const run = await settle(['check', '--registry', join(fixtures, 'check-registry-errors.ts')]);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(exitCodes.checkFailed);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.slice(0, 42))).toEqual([
      'error   door      open                   S',
      'warning router    routing                S',
      'error   parallel  checks.budget.pending  S',
      '2 errors, 1 warning in 4 machines (counter',
    ]);
    expect(lines[0]).toMatch(
      /^error {3}door {6}open {19}State 'open' of machine 'door' has no 'resolve' or 'reject' tag.* Fix: Tag 'open'/,
    );
    expect(lines[3]).toBe('2 errors, 1 warning in 4 machines (counter, door, router, parallel)');
  });

  it('exits 0 with warnings only, finds the default registry module in the working folder, and answers JSON', async () => {
    const project = join(folder, 'project');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, 'machines.ts'), `export { default } from '${join(fixtures, 'check-registry-warnings.ts')}';\n`);

    const [text, json, examplesRun] = await Promise.all([
      settle(['check'], project),
      settle(['check', '--json', '--registry', join(fixtures, 'check-registry-warnings.ts')]),
      settle(['check']),
    ]);

    expect(text.code, text.stderr).toBe(exitCodes.ok);
    expect(text.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^warning router {2}routing {2}State 'routing' of machine 'router'/),
      expect.stringMatching(/^warning parent {2}running {2}Child machine 'ticker'/),
      '0 errors, 2 warnings in 2 machines (router, parent)',
    ]);
    expect(json.code).toBe(exitCodes.ok);
    const answer = JSON.parse(json.stdout) as { machines: string[]; errors: number; warnings: number; findings: Finding[] };
    expect(answer).toMatchObject({ machines: ['router', 'parent'], errors: 0, warnings: 2 });
    expect(places(answer.findings)).toEqual([
      { severity: 'warning', code: 'always-may-fail', machine: 'router', state: 'routing' },
      { severity: 'warning', code: 'after-in-child-machine', machine: 'parent', state: 'running' },
    ]);
    expect(examplesRun.code, examplesRun.stderr).toBe(exitCodes.ok);
    expect(examplesRun.stdout).toBe('0 errors, 0 warnings in 4 machines (counter, approval, signup, payment)\n');
  });

  it('refuses a missing registry in one line, exit code 2', async () => {
    const empty = join(folder, 'empty');
    mkdirSync(empty, { recursive: true });

    const [absent, none] = await Promise.all([settle(['check', '--registry', 'nowhere/machines.ts']), settle(['check'], empty)]);

    for (const run of [absent, none]) {
      expect(run.code, run.stderr).toBe(exitCodes.usage);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(absent.stderr).toBe('settle: --registry nowhere/machines.ts does not exist.\n');
    expect(none.stderr).toMatch(
      /^settle: No registry to check: pass --registry <module>.*looked for machines\/index\.ts, src\/machines\.ts, machines\.ts/,
    );
  });
});

describe('settle dev shows the findings', () => {
  it('when it loads the registry and when it reloads it', async () => {
    const project = join(folder, 'dev');
    mkdirSync(project, { recursive: true });
    const registryFile = join(project, 'machines.ts');
    const write = (machines: string) =>
      writeFileSync(
        registryFile,
        `import { defineRegistry } from '../../../../runtime/index.ts';
import { doorMachine, routerMachine } from '../../fixtures/check-machines.ts';
export const registry = defineRegistry({ ${machines} });
`,
      );
    write('door: { machine: doorMachine, version: 1 }');
    const lines: string[] = [];
    const session = await startDev({ registry: registryFile, sqsPort: 0, dynamodbPort: 0, dynamodbLocal: false }, (line) =>
      lines.push(line),
    );
    try {
      expect(lines.slice(1)).toEqual([
        expect.stringMatching(/^settle dev: error {3}door {2}open {2}State 'open' of machine 'door' has no/),
        'settle dev: check: 1 error, 0 warnings in 1 machine (door); settle check explains each.',
      ]);

      const reloaded = session.nextReload();
      write('door: { machine: doorMachine, version: 1 }, router: { machine: routerMachine, version: 1 }');
      expect((await reloaded).ok).toBe(true);
      expect(lines.slice(3)).toEqual([
        expect.stringMatching(/^settle dev: reloaded /),
        expect.stringMatching(/^settle dev: error {3}door {4}open {5}State 'open'/),
        expect.stringMatching(/^settle dev: warning router {2}routing {2}State 'routing'/),
        'settle dev: check: 1 error, 1 warning in 2 machines (door, router); settle check explains each.',
      ]);
    } finally {
      await session.stop();
      rmSync(project, { recursive: true, force: true });
    }
  });
});
