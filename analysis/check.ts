/**
 * `settle check`: what in a registry's machines keeps an instance from settling, from being saved and restored,
 * or from getting its events and timers, found by reading the machines' state nodes. Nothing runs: no actor is
 * started, no guard, action or delay function is called.
 *
 * Settled is what runtime/core/settled.ts decides: every active region rests in a state that carries, itself or
 * through an ancestor, a `resolve` or `reject` tag, or rests in a final state. Guards are ignored, so reachability
 * is over-approximated (a path counts if some transition exists), and a parallel state is followed one region at a
 * time. What is read of XState's `StateNode` is listed in diagram/graph.ts; here also `entry`/`exit` and the
 * transitions' `actions` (for `spawnChild`, `raise`, `sendTo`), `config.on` (the event types as written) and the
 * machine's `implementations` (`actors`, `actions`, `delays`).
 *
 * @example
 * for (const finding of checkRegistry(registry)) console.log(findingLine(finding));
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { rejectTag, resolveTag } from '../runtime/core/settled.ts';

export type FindingCode =
  | 'unsettled-state'
  | 'inline-actor'
  | 'no-settled-state-reachable'
  | 'invoke-in-settled-state'
  | 'always-may-fail'
  | 'after-in-child-machine'
  | 'reserved-event-type'
  | 'delay-too-long';

export interface Finding {
  /** `error`: instances will fail (events dead-lettered, snapshots that cannot be restored). `warning`: they may. */
  readonly severity: 'error' | 'warning';
  readonly code: FindingCode;
  /** The machine's name in the registry. */
  readonly machine: string;
  /** The state as a dot path from the root (`review.legal`), as `settle get` shows it; '' for the machine itself. */
  readonly state: string;
  /** What is wrong, where, and why it matters. */
  readonly message: string;
  readonly fix: string;
}

/**
 * The longest event settle window: Lambda runs for 15 minutes at most, and the worker arms a delay in-process only
 * if it ends within the event's window (runtime/core/timers.ts, `SettleClock`). A longer `after` never fires while an
 * event settles.
 */
export const longestSettleWindowMs = 900_000;

/**
 * The longest `after` a durable timer holds. A timer is stored with `fireAt` = now + delay (and `wakeAt`, the due
 * index's sort key) as a DynamoDB number, which the document client writes only while it is a safe integer; a later
 * `fireAt` fails the save. Taken against the last millisecond of year 9999, so the verdict does not depend on the day
 * the check runs: 2^53 − 1 − 253,402,300,800,000 ms, about 277,000 years.
 */
export const maxDurableDelayMs = Number.MAX_SAFE_INTEGER - Date.UTC(10_000, 0, 1);

/** XState's own events, which it delivers to the machine itself: a handler written by hand for one of these works. */
const internalEventPrefixes = ['xstate.done.actor.', 'xstate.error.actor.', 'xstate.done.state.', 'xstate.snapshot.', 'xstate.after.'];
const reservedPrefixes = ['xstate.', 'settle.'];

type Transition = AnyStateNode['transitions'] extends Map<string, (infer T)[]> ? T : never;
/** A built-in action (`spawnChild`, `raise`, `sendTo`, …) as XState keeps it: a function with a `type` and its arguments. */
type BuiltinAction = { readonly type: string; readonly src?: unknown; readonly delay?: unknown };

const pathOf = (node: AnyStateNode): string => node.path.join('.');
const stateName = (node: AnyStateNode): string => (node.path.length === 0 ? 'the root' : `state '${pathOf(node)}'`);
const capitalised = (text: string): string => `${text.charAt(0).toUpperCase()}${text.slice(1)}`;

function* lineage(node: AnyStateNode): Generator<AnyStateNode> {
  for (let current: AnyStateNode | undefined = node; current; current = current.parent) yield current;
}

function* descendants(node: AnyStateNode): Generator<AnyStateNode> {
  yield node;
  for (const child of Object.values(node.states)) yield* descendants(child);
}

const carriesTag = (node: AnyStateNode): boolean =>
  [...lineage(node)].some((n) => n.tags.includes(resolveTag) || n.tags.includes(rejectTag));
const isLeaf = (node: AnyStateNode): boolean => node.type === 'atomic' || node.type === 'final';
/** Where an instance may rest settled (runtime/core/settled.ts): a final leaf, or a leaf that carries a tag. */
const settledLeaf = (node: AnyStateNode): boolean => node.type === 'final' || (node.type === 'atomic' && carriesTag(node));

function transitionsOf(node: AnyStateNode): Transition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

/** Built-in actions among `actions`, named ones resolved through `setup({ actions })`. */
function builtins(machine: AnyStateMachine, actions: readonly unknown[]): BuiltinAction[] {
  const named = (machine.implementations.actions ?? {}) as Record<string, unknown>;
  const found: BuiltinAction[] = [];
  for (const action of actions) {
    let resolved = action;
    if (typeof action === 'string') resolved = named[action];
    else if (typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string') {
      resolved = named[(action as { type: string }).type];
    }
    const type = (resolved as { type?: unknown } | undefined)?.type;
    if (typeof resolved === 'function' && typeof type === 'string' && type.startsWith('xstate.'))
      found.push(resolved as unknown as BuiltinAction);
  }
  return found;
}

/** Where a transition's actions run, for messages: `on 'GO'`, `in an always transition`, … */
function siteOf(transition: Transition): string {
  const type = transition.eventType;
  if (type === '') return 'in an always transition';
  if (type.startsWith('xstate.after.')) return 'in an after transition';
  if (type.startsWith('xstate.done.actor.')) return "in an invoke's onDone";
  if (type.startsWith('xstate.error.actor.')) return "in an invoke's onError";
  return `on '${type}'`;
}

/** Every built-in action a state node runs itself, with where: entry, exit, its transitions (eventless included). */
function nodeActions(machine: AnyStateMachine, node: AnyStateNode): { readonly action: BuiltinAction; readonly site: string }[] {
  return [
    ...builtins(machine, node.entry).map((action) => ({ action, site: 'on entry' })),
    ...builtins(machine, node.exit).map((action) => ({ action, site: 'on exit' })),
    ...transitionsOf(node).flatMap((transition) =>
      builtins(machine, transition.actions).map((action) => ({ action, site: siteOf(transition) })),
    ),
  ];
}

/** A delay in milliseconds, when it is known without context: a number, or a named delay that is one. */
function delayMs(machine: AnyStateMachine, delay: unknown): number | undefined {
  if (typeof delay === 'number') return delay;
  const named = typeof delay === 'string' ? ((machine.implementations.delays ?? {}) as Record<string, unknown>)[delay] : undefined;
  return typeof named === 'number' ? named : undefined;
}

const delayText = (delay: unknown, ms: number | undefined): string =>
  typeof delay === 'number' ? `${delay} ms` : ms === undefined ? `'${String(delay)}'` : `'${String(delay)}' (${ms} ms)`;

/** An `after` that can fire while an event settles: not known to be longer than the longest window. */
function canFireInWindow(machine: AnyStateMachine, transition: Transition): boolean {
  const ms = delayMs(machine, (transition as { delay?: unknown }).delay);
  return ms === undefined || ms <= longestSettleWindowMs;
}

function isMachine(logic: unknown): logic is AnyStateMachine {
  return typeof logic === 'object' && logic !== null && 'root' in logic && 'implementations' in logic && 'getPersistedSnapshot' in logic;
}

const registered = (machine: AnyStateMachine, src: unknown): boolean =>
  typeof src === 'string' && Object.hasOwn(machine.implementations.actors ?? {}, src);

/** What moves an unsettled leaf on, from itself or an ancestor (an ancestor's invoke or timer runs there too). */
function exitsOf(machine: AnyStateMachine, leaf: AnyStateNode) {
  const chain = [...lineage(leaf)];
  const always = chain.flatMap((node) => node.always ?? []);
  const after = chain.flatMap((node) => node.after);
  return {
    always,
    invoke: chain.some((node) => node.invoke.length > 0),
    after: after.filter((transition) => canFireInWindow(machine, transition)),
    tooLongAfter: after.filter((transition) => !canFireInWindow(machine, transition)),
    // A raise, a spawned child or a message to a child on entry can bring an event that moves it on, unless it is
    // delayed past any settle window (XState arms each `after` as such a raise too: the same rule as above).
    signals: chain.some((node) =>
      builtins(machine, node.entry).some(
        (action) =>
          ['xstate.raise', 'xstate.spawnChild', 'xstate.sendTo'].includes(action.type) &&
          (delayMs(machine, action.delay) ?? 0) <= longestSettleWindowMs,
      ),
    ),
  };
}

/** The leaves an instance may be in right after a transition targets `target` (a history state: any below its parent). */
function enteredLeaves(target: AnyStateNode): AnyStateNode[] {
  if (target.type === 'history') return [...descendants(target.parent ?? target)].filter(isLeaf);
  if (isLeaf(target)) return [target];
  if (target.type === 'parallel') return Object.values(target.states).flatMap(enteredLeaves);
  return target.initial.target.flatMap(enteredLeaves);
}

/** The leaves reachable from `leaf` (itself included) through transitions that can fire while it is unsettled, up to a settled one. */
function reachableLeaves(machine: AnyStateMachine, leaf: AnyStateNode): Set<AnyStateNode> {
  const seen = new Set<AnyStateNode>([leaf]);
  const queue = [leaf];
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (settledLeaf(next)) return seen;
    for (const node of lineage(next)) {
      for (const transition of transitionsOf(node)) {
        if ('delay' in transition && !canFireInWindow(machine, transition)) continue;
        for (const entered of (transition.target ?? []).flatMap(enteredLeaves)) {
          if (!seen.has(entered)) {
            seen.add(entered);
            queue.push(entered);
          }
        }
      }
    }
  }
  return seen;
}

/** The registry's findings, machine by machine in registry order, each machine's in document order. */
export function checkRegistry(registry: MachineRegistry): Finding[] {
  return Object.entries(registry).flatMap(([name, definition]) => checkMachine(name, definition.machine));
}

/** A finding about one state node, before the machine's name and the node's path are added. */
type NodeFinding = Pick<Finding, 'severity' | 'code' | 'message' | 'fix'>;
type Rule = (machine: AnyStateMachine, node: AnyStateNode, here: string) => NodeFinding[];

const reservedEventTypes: Rule = (_machine, node, here) =>
  Object.keys((node.config.on ?? {}) as object).flatMap((type): NodeFinding[] => {
    const prefix = reservedPrefixes.find((p) => type.startsWith(p));
    if (!prefix || internalEventPrefixes.some((p) => type.startsWith(p))) return [];
    const why = prefix === 'settle.' ? 'its own settle.wake never reaches a machine' : 'XState sends no event of that name';
    return [
      {
        severity: 'error',
        code: 'reserved-event-type',
        message:
          `${here} handles '${type}', a type with the reserved prefix '${prefix}': Settle refuses such events from outside ` +
          `(dead-lettered with reserved-type) and ${why}, so this transition never runs.`,
        fix: 'Rename the event (without the prefix) where it is handled and where it is sent.',
      },
    ];
  });

const inlineActors: Rule = (machine, node, here) => [
  ...node.invoke
    .filter((invoke) => !registered(machine, invoke.src))
    .map((invoke): NodeFinding => {
      const inline = typeof invoke.src !== 'string' || invoke.src.startsWith('xstate.invoke.');
      return {
        severity: 'error',
        code: 'inline-actor',
        message: inline
          ? `${here} invokes inline logic (invoke id '${invoke.id}'), not an actor registered by name: XState saves it under a ` +
            "position-based key, so restoring breaks once the machine's shape changes (and an inline machine child cannot be restored at all)."
          : `${here} invokes '${String(invoke.src)}', which setup({ actors }) does not register: the child cannot be started, saved or restored.`,
        fix: "Register the logic in setup({ actors: { name: … } }) and invoke it by that name (src: 'name').",
      };
    }),
  ...nodeActions(machine, node)
    .filter(({ action }) => action.type === 'xstate.spawnChild' && !registered(machine, action.src))
    .map(
      ({ action, site }): NodeFinding => ({
        severity: 'error',
        code: 'inline-actor',
        message:
          typeof action.src === 'string'
            ? `${here} spawns '${action.src}' ${site}, which setup({ actors }) does not register: the event that spawns it fails.`
            : `${here} spawns a child from inline logic ${site} (spawnChild(fromPromise(…)) or the like), which cannot be saved and ` +
              'restored: the event that spawns it goes to the DLQ with inline-actor.',
        fix: "Register the logic in setup({ actors: { name: … } }) and spawn it by that name (spawnChild('name')).",
      }),
    ),
];

const longDelays: Rule = (machine, node, here) =>
  node.after.flatMap((transition): NodeFinding[] => {
    const ms = delayMs(machine, transition.delay);
    if (ms === undefined || ms <= maxDurableDelayMs) return [];
    return [
      {
        severity: 'error',
        code: 'delay-too-long',
        message:
          `${here} waits ${delayText(transition.delay, ms)} in an after, longer than a durable timer holds (${maxDurableDelayMs} ms, ` +
          "~277,000 years): its due time is past what DynamoDB's document client writes (a safe integer), so the save after the " +
          'event that arms it fails, and that event is retried and ends in the DLQ (retries-exhausted).',
        fix: 'Use a shorter, finite delay, or wait for an event instead.',
      },
    ];
  });

const invokesWhileSettled: Rule = (machine, node, here) => {
  const settled = node.invoke.length > 0 ? [...descendants(node)].find((leaf) => leaf.type === 'atomic' && carriesTag(leaf)) : undefined;
  if (!settled) return [];
  const actors = node.invoke.map((invoke) => (registered(machine, invoke.src) ? `'${String(invoke.src)}'` : 'inline logic')).join(' and ');
  return [
    {
      severity: 'warning',
      code: 'invoke-in-settled-state',
      message:
        `${here} invokes ${actors} while ${settled === node ? 'it is' : `'${pathOf(settled)}' is`} settled (tagged): the instance is ` +
        'saved with the child still running, and a promise or callback in flight is started again on every restore, with the same input.',
      fix:
        'Invoke in an untagged state that moves on to the tagged one when the child is done (onDone/onError), or make the child ' +
        'idempotent (idempotencyKeyOf(event) in its input).',
    },
  ];
};

/** Whether an untagged leaf can rest unsettled: no way out, ways out that all lead to untagged states, or guarded ones only. */
const unsettledRest: Rule = (machine, node, here) => {
  if (node.type !== 'atomic' || carriesTag(node)) return [];
  const exits = exitsOf(machine, node);
  const consequence =
    'an event that leads here never settles: the worker waits until the event timeout, SQS retries it, and it ends in the DLQ (retries-exhausted) while the instance stays where it was.';
  const tagFix = `tag '${pathOf(node)}' with '${resolveTag}' (it waits for an event, all is well) or '${rejectTag}' (it waits after a failure)`;
  const othersThanAlways = exits.invoke || exits.after.length > 0 || exits.signals;
  if (exits.always.length === 0 && !othersThanAlways) {
    const late = exits.tooLongAfter.map((transition) => delayText(transition.delay, delayMs(machine, transition.delay)));
    const after =
      late.length > 0 ? `and its after (${late.join(', ')}) is longer than an event may take to settle (15 min at most)` : 'no after';
    return [
      {
        severity: 'error',
        code: 'unsettled-state',
        message: `${here} has no '${resolveTag}' or '${rejectTag}' tag (nor has an ancestor), and nothing moves the machine on from it: no always, no invoke, ${after}. So ${consequence}`,
        fix: `${capitalised(tagFix)}, or give it an always, invoke or short after that leads to a tagged or final state.`,
      },
    ];
  }
  const reached = reachableLeaves(machine, node);
  if (![...reached].some(settledLeaf)) {
    const others = [...reached].filter((leaf) => leaf !== node).map((leaf) => `'${pathOf(leaf)}'`);
    const paths =
      others.length === 0
        ? 'no transition leads out of it (an invoke without onDone or onError, say)'
        : `every path from it stays in untagged states (${others.join(', ')})`;
    return [
      {
        severity: 'error',
        code: 'no-settled-state-reachable',
        message: `From ${here.charAt(0).toLowerCase()}${here.slice(1)} no settled state (tagged '${resolveTag}' or '${rejectTag}', or final) can be reached, guards ignored: ${paths}. So ${consequence}`,
        fix: `Add a transition from '${pathOf(node)}' (or a state it leads to) to a tagged or final state, or ${tagFix}.`,
      },
    ];
  }
  if (othersThanAlways || exits.always.some((transition) => transition.guard === undefined)) return [];
  return [
    {
      severity: 'warning',
      code: 'always-may-fail',
      message: `${here} is untagged and leaves only through always transitions that all have a guard: when every guard fails the machine rests there unsettled, and ${consequence}`,
      fix: `Add an always transition without a guard as the last one (a fallback), or ${tagFix} if waiting there is meant.`,
    },
  ];
};

const rules: readonly Rule[] = [reservedEventTypes, inlineActors, longDelays, invokesWhileSettled, unsettledRest];

/** One machine's findings (see {@link checkRegistry}). */
export function checkMachine(name: string, machine: AnyStateMachine): Finding[] {
  const findings: Finding[] = [];
  for (const node of descendants(machine.root)) {
    const here = capitalised(`${stateName(node)} of machine '${name}'`);
    for (const rule of rules) {
      for (const { severity, code, message, fix } of rule(machine, node, here)) {
        findings.push({ severity, code, machine: name, state: pathOf(node), message, fix });
      }
    }
  }
  findings.push(...childMachineFindings(name, machine));
  return findings;
}

/** The first state of `machine` that invokes or spawns the registered actor `key`; the root when none is seen. */
function starterOf(machine: AnyStateMachine, key: string): AnyStateNode {
  for (const node of descendants(machine.root)) {
    if (node.invoke.some((invoke) => invoke.src === key)) return node;
    if (nodeActions(machine, node).some(({ action }) => action.type === 'xstate.spawnChild' && action.src === key)) return node;
  }
  return machine.root;
}

/**
 * Registered actors that are machines, at any depth: their delays are in-process only (a durable timer is the root's:
 * runtime/core/timers.ts), and their inline children cannot be restored either.
 */
function childMachineFindings(name: string, machine: AnyStateMachine): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<AnyStateMachine>([machine]);
  const visit = (parent: AnyStateMachine, starter: AnyStateNode | undefined, via: string): void => {
    for (const [key, logic] of Object.entries(parent.implementations.actors ?? {})) {
      if (!isMachine(logic) || seen.has(logic)) continue;
      seen.add(logic);
      const start = starter ?? starterOf(parent, key);
      const label = `${via}child machine '${key}'`;
      const said = capitalised(label);
      const state = pathOf(start);
      const at = `${start.path.length === 0 ? '' : ` (started in state '${state}')`} of machine '${name}'`;
      for (const node of descendants(logic.root)) {
        if (node.after.length > 0) {
          const delays = node.after.map((transition) => delayText(transition.delay, delayMs(logic, transition.delay)));
          findings.push({
            severity: 'warning',
            code: 'after-in-child-machine',
            machine: name,
            state,
            message:
              `${said}${at} has after (${delays.join(', ')}) in ${stateName(node)}: a child's delays run in-process only, not as durable timers, ` +
              'so one fires only if it ends while the event that armed it is still settling; otherwise it is neither stored nor re-armed, and never fires.',
            fix: `Move the delay to machine '${name}' itself (after, or a delayed sendTo to the child), which Settle stores as a durable timer.`,
          });
        }
        for (const invoke of node.invoke) {
          if (registered(logic, invoke.src)) continue;
          findings.push({
            severity: 'error',
            code: 'inline-actor',
            machine: name,
            state,
            message: `${said}${at} invokes inline or unregistered logic in ${stateName(node)} (invoke id '${invoke.id}'): the child's own child cannot be saved and restored.`,
            fix: `Register that logic by name in the setup({ actors }) of '${key}' and invoke it by that name.`,
          });
        }
      }
      visit(logic, start, `${label} → `);
    }
  };
  visit(machine, undefined, '');
  return findings;
}

/** One finding as `settle check` prints it: severity, machine, state, message, fix, in columns `widths` gives. */
export function findingLine(
  finding: Finding,
  widths: { readonly machine: number; readonly state: number } = { machine: 0, state: 0 },
): string {
  return `${finding.severity.padEnd(8)}${finding.machine.padEnd(widths.machine)}  ${(finding.state || '(root)').padEnd(widths.state)}  ${finding.message} Fix: ${finding.fix}`;
}

/** Findings as aligned lines, grouped by machine (registry order), errors before warnings within a machine. */
export function findingLines(findings: readonly Finding[]): string[] {
  const machines = [...new Set(findings.map((finding) => finding.machine))];
  const rank = (finding: Finding): number => machines.indexOf(finding.machine) * 2 + (finding.severity === 'error' ? 0 : 1);
  const sorted = [...findings].sort((a, b) => rank(a) - rank(b));
  const widths = {
    machine: Math.max(0, ...findings.map((finding) => finding.machine.length)),
    state: Math.max(0, ...findings.map((finding) => (finding.state || '(root)').length)),
  };
  return sorted.map((finding) => findingLine(finding, widths));
}

/** `2 errors, 1 warning in 4 machines (counter, approval, signup, payment)`. */
export function findingsSummary(findings: readonly Finding[], machines: readonly string[]): string {
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const errors = findings.filter((finding) => finding.severity === 'error').length;
  return `${count(errors, 'error')}, ${count(findings.length - errors, 'warning')} in ${count(machines.length, 'machine')} (${machines.join(', ') || 'none'})`;
}

/**
 * For `settle dev`: the findings' lines and a summary, or no line when there is none. Never throws: a machine the
 * check cannot read is reported as a line, and the stack runs anyway.
 */
export function checkLines(registry: MachineRegistry): string[] {
  try {
    const findings = checkRegistry(registry);
    if (findings.length === 0) return [];
    return [...findingLines(findings), `check: ${findingsSummary(findings, Object.keys(registry))}; settle check explains each.`];
  } catch (error) {
    return [`check: could not check the machines (${error instanceof Error ? error.message : String(error)}).`];
  }
}
