/**
 * `settle explain <machine>/<id> '<event>'`: a dry run of one event against the instance's stored snapshot, read
 * through {@link SettleClient} from the stack the other commands use (`--stack`, the SETTLE_* settings, or a running
 * `settle dev`). It says whether the worker would accept the event, which transition it would take (or that none
 * would, and which guard said no), and where the instance would settle. Nothing is sent, run or saved
 * (analysis/explain.ts says how).
 *
 * The registry is `--registry`, or the one a running `settle dev` runs: give the registry your worker is built with,
 * or the answer is about another machine.
 *
 * Exit codes ({@link explainExitCodes}): 0 the event would be applied; 4 it would be ignored; 5 the worker would
 * refuse it and dead-letter it (a boundary check, a snapshot it cannot use, the machine throwing, a machine that
 * never settles); 9 undecided (a new instance whose initial state first waits for an invoked actor); 2 the command
 * could not explain (bad arguments, no registry); 1 anything else (an AWS error).
 *
 * @example
 * npx settle explain approval/doc-17 '{"type":"APPROVE","role":"legal","by":"ana"}'
 * npx settle explain payment/p1 '{"type":"PAID","reference":"r-1"}' --registry machines/index.ts --json
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { connectionOptionsOf, withConnectionFlags } from '../cli/connection-flags.ts';
import { resolveConnection, type ConnectionOptions } from '../client/connection.ts';
import { instanceKeyOf } from '../client/events.ts';
import { SettleClient } from '../client/settle-client.ts';
import { type CommandOutput, exitCodes, processOutput, reportFailure } from '../cli/output.ts';
import { loadRegistry } from '../cli/registry-module.ts';
import { RequestError } from '../runtime/core/errors.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import {
  arrow,
  explainInRegistry,
  type Explanation,
  type StateView,
  type TimerView,
  type TransitionStep,
  type Verdict,
} from './explain.ts';

/** `settle explain`'s exit codes: the verdict, for scripts to branch on. */
export const explainExitCodes = {
  /** The event would be applied (it takes a transition; see the output for where it settles). */
  applied: exitCodes.ok,
  /** Something failed that is not the caller's input: an AWS error, a bug. */
  failure: exitCodes.failure,
  /** Bad arguments (instance key, event not JSON), no registry: nothing was explained. */
  usage: exitCodes.usage,
  /** The worker would record the event as ignored. */
  ignored: exitCodes.ignored,
  /** The worker would refuse the event and dead-letter it, as `send --wait` reports a dead-lettered one. */
  refused: exitCodes.deadLettered,
  /** A new instance's initial state first waits for an invoked actor: the event's fate depends on its answer. */
  undecided: exitCodes.undecided,
} as const;

export function exitCodeOfVerdict(verdict: Verdict): number {
  return explainExitCodes[verdict];
}

export interface ExplainFlags extends ConnectionOptions {
  readonly registry?: string;
  readonly json?: boolean;
}

/** Adds `settle explain` to the program. */
export function addExplainCommand(settle: Command): void {
  withConnectionFlags(settle.command('explain'))
    .argument('<instance>', '<machine>/<instanceId>, e.g. approval/doc-17')
    .argument('<event>', `the event as JSON, e.g. '{"type":"APPROVE","role":"legal","by":"ana"}'`)
    .description(
      "Dry-run an event against an instance's stored snapshot: would the worker accept it, which transition would it take, " +
        'where would it settle. Nothing is sent, run or saved. Exit 0 applied, 4 ignored, 5 refused (dead-lettered), 9 undecided.',
    )
    .option('--registry <module>', "the module that exports your worker's registry (default: a running settle dev's)")
    .option('--json', 'answer in JSON (the Explanation of analysis/explain.ts), for scripts')
    .action(async (instance: string, event: string, flags: ExplainFlags) => {
      process.exitCode = await runExplain(instance, event, flags);
    });
}

/** Runs the command; returns its exit code, having printed the explanation, or one line on failure. */
export async function runExplain(
  instance: string,
  eventText: string,
  flags: ExplainFlags,
  output: CommandOutput = processOutput,
): Promise<number> {
  let client: SettleClient | undefined;
  try {
    const key = instanceKeyOf(instance);
    const event = parseEvent(eventText);
    if (flags.registry !== undefined && !existsSync(flags.registry)) {
      throw new RequestError('invalid-option', `--registry ${flags.registry} does not exist.`);
    }
    const connection = await resolveConnection(connectionOptionsOf(flags));
    const registryModule = flags.registry ?? connection.local?.registry;
    if (registryModule === undefined) {
      throw new RequestError(
        'not-configured',
        'No registry to explain against: pass --registry <module> (the module that exports the registry your worker is built with), ' +
          'or start settle dev, whose registry is used.',
      );
    }
    const registry = await registryOf(resolve(registryModule));
    client = SettleClient.over(connection);
    const stored = await client.record(key.machine, key.instanceId);
    const explanation = explainInRegistry(registry, key.key, stored, event, { maxEventBytes: client.maxEventBytes });
    output.info(flags.json ? JSON.stringify(explanation, null, 2) : describeExplanation(explanation));
    return exitCodeOfVerdict(explanation.verdict);
  } catch (error) {
    return reportFailure(output, error);
  } finally {
    client?.destroy();
  }
}

function parseEvent(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RequestError(
      'invalid-option',
      `The event is not JSON (${(error as Error).message}). Quote it for your shell, e.g. '{"type":"APPROVE","role":"legal","by":"ana"}'.`,
    );
  }
}

async function registryOf(path: string): Promise<MachineRegistry> {
  try {
    return (await loadRegistry(path)).registry;
  } catch (error) {
    throw new RequestError('invalid-option', `Cannot load the registry ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** The explanation for people: the verdict first, then the checks, the transitions, and where it would settle. */
export function describeExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(15)}${text}`);
  const more = (text: string) => lines.push(`  ${''.padEnd(15)}${text}`);
  const rows = (label: string, items: readonly string[]) => {
    for (const [index, item] of items.entries()) (index === 0 ? row : (_: string, text: string) => more(text))(label, item);
  };
  const verdict = explanation.outcome === undefined ? explanation.verdict : `${explanation.verdict} (${explanation.outcome})`;
  lines.push(`${explanation.instanceKey}  ${explanation.eventType}  → ${verdict}`);
  lines.push(`  ${explanation.summary}`);
  // A failed check's reason is the refusal's, printed once below.
  rows(
    'checks',
    explanation.checks.map((check) => (check.passed ? `✓ ${check.name}: ${check.detail}` : `✗ ${check.name}`)),
  );
  if (explanation.refusal) row('refused', `${explanation.refusal.code}: ${explanation.refusal.message}`);
  const { instance } = explanation;
  if (!instance.exists && explanation.before) row('new instance', 'no item yet: the event would create it');
  if (instance.itemVersion !== undefined) row('item', `version ${instance.itemVersion} (explain leaves it as it is)`);
  if (explanation.before) row('now in', stateLine(explanation.before));
  const creation = instance.creation?.steps ?? [];
  if (creation.length > 0) rows('on creation', creation.map(stepLine));
  const [first, ...rest] = explanation.transitions;
  if (first) {
    rows('transition', explanation.transitions.filter((step) => step.trigger === 'event').map(stepLine));
    const following = rest.filter((step) => step.trigger !== 'event');
    if (following.length > 0) rows('then', following.map(stepLine));
  } else if (explanation.verdict === 'ignored') {
    row('transition', 'none');
  }
  if (explanation.refusedGuards.length > 0) {
    rows(
      'guard said no',
      explanation.refusedGuards.map(
        (refusal) =>
          `${refusal.guard} on ${refusal.state} (${refusal.descriptor}${refusal.targets.length > 0 ? ` → ${refusal.targets.join(', ')}` : ''})`,
      ),
    );
  }
  const { settle, after } = explanation;
  if (settle.kind === 'settled' && after && explanation.verdict === 'applied')
    row('would settle', `${stateLine(after)} → ${explanation.outcome}`);
  if (settle.kind === 'waits' && after) {
    row('would wait', `in ${stateLine(after)}`);
    more(
      `for invoked ${settle.waitingFor.map((actor) => `'${actor.src}'${actor.state ? ` (${actor.state})` : ''}`).join(', ')}: the worker would run it; explain does not`,
    );
  }
  if (explanation.contextChanges.length > 0) {
    rows(
      'context',
      explanation.contextChanges.map((change) => `${change.key}: ${shown(change.before)} → ${shown(change.after)}`),
    );
  }
  const { timers } = explanation;
  if (timers.armed.length > 0) rows('timers armed', timers.armed.map(timerLine));
  if (timers.cancelled.length > 0) row('cancelled', timers.cancelled.join(', '));
  if (explanation.effects.length > 0) rows('not run', explanation.effects);
  if (explanation.notes.length > 0) rows('note', explanation.notes);
  lines.push('  Dry run: nothing was sent, run or saved.');
  return lines.join('\n');
}

function stateLine(view: StateView): string {
  const tags = view.tags.length > 0 ? `  [${view.tags.join(', ')}]` : '  [no tag]';
  return `${view.states.join(', ')}${tags}${view.status === 'active' ? '' : `  (${view.status})`}`;
}

function stepLine(step: TransitionStep): string {
  const details = [
    step.trigger === 'event' ? undefined : step.trigger === 'eventless' ? 'eventless' : `${step.trigger} ${step.event}`,
    step.region ? `region ${step.region}` : undefined,
    step.guard ? `guard ${step.guard}` : undefined,
  ].filter((detail) => detail !== undefined);
  return `${arrow(step)}${details.length > 0 ? `  (${details.join(', ')})` : ''}`;
}

function timerLine(timer: TimerView): string {
  return `${timer.eventType} in ${span(timer.delay)}, due ${new Date(timer.fireAt).toISOString()}${timer.target ? ` (to ${timer.target})` : ''}`;
}

/** 500 ms, 30 s, 15 min, 2 h, 7 d (rounded; the JSON has the milliseconds). */
function span(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

function shown(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
