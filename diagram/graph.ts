/**
 * A machine's statechart as an ELK graph: the structure only, no sizes and no positions (layout.ts measures the
 * text and runs ELK; svg.ts draws the result). Pure: it reads the machine's state nodes and calls nothing.
 *
 * What it reads of XState v5's `StateNode` (xstate/dist/declarations/src/StateNode.d.ts): `states` (children, in
 * document order), `type` (atomic, compound, parallel, final, history), `path`, `key`, `tags`, `history`,
 * `parent`, `invoke` (each `src`: the name of an actor in `setup({ actors })`, or `xstate.invoke.…` for inline
 * logic), `initial.target`, `transitions` (a Map from event descriptor to `TransitionDefinition`s, each with
 * `target` state nodes, `guard`, `reenter`; delayed transitions appear there as `xstate.after.<delay>.<state id>`,
 * an invoke's `onDone`/`onError` as `xstate.done.actor.<invoke id>`/`xstate.error.actor.<invoke id>`, a state's
 * own `onDone` as `xstate.done.state.<state id>`), `after` (the delayed transitions with their `delay`: a number
 * of milliseconds, or the name of a delay in `setup({ delays })`), `always` (eventless transitions, not in
 * `transitions`), and the machine's `implementations.delays` (to show a named delay's length when it is a
 * number). A history state's default is its config's `target` (a sibling's key).
 *
 * @example
 * const graph = machineGraph(approvalMachine);
 * graph.states.get('review.legal')?.region; // true: a region of the parallel state `review`
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { rejectTag, resolveTag } from '../runtime/core/settled.ts';

/** What kind of box a state is drawn as: XState's `type`, and `machine` for the machine itself. */
export type DiagramStateKind = 'machine' | 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** How a transition is triggered. */
export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'error' | 'snapshot' | 'initial' | 'history';

/** One transition of the machine, labelled as the diagram shows it. */
export interface DiagramTransition {
  /** `t<n>` in document order; initial and history-default arrows are `initial:<parent path>`, `history:<path>`. */
  readonly id: string;
  readonly kind: TransitionKind;
  /** The state path it is declared on ('' for the machine itself). */
  readonly source: string;
  /** The state paths it targets; empty for a targetless transition. */
  readonly targets: readonly string[];
  /** XState's event descriptor (`APPROVE`, `xstate.after.reminder.approval.review`); '' for `always`, initial and history arrows. */
  readonly event: string;
  /** The guard as written: a name, `and(a, not(b))`, `stateIn(…)`, or `inline guard`. */
  readonly guard: string | undefined;
  /** For `after`: the delay as shown (`2 d`, `paymentWindow`, `reminder (2 d)`). */
  readonly delay: string | undefined;
  /** What the diagram writes on it: `APPROVE [isLegal]`, `after paymentWindow`, `done: checkBudget`; '' for initial arrows. */
  readonly label: string;
  /** True when it exits and re-enters its own state (`reenter: true` with itself as target). */
  readonly reenter: boolean;
  /**
   * `edge`: an arrow to each target. `row`: a line inside its state's box, for transitions that do not leave the
   * state (targetless, or targeting only the state itself): ELK's self-loops on nested boxes are unreliable.
   */
  readonly drawn: 'edge' | 'row';
}

/** An arrow of the chart's structure, not a transition of the machine: a region's initial state, a history default. */
function structuralArrow(id: string, kind: 'initial' | 'history', source: string, target: string): DiagramTransition {
  return { id, kind, source, targets: [target], event: '', guard: undefined, delay: undefined, label: '', reenter: false, drawn: 'edge' };
}

/** One box of the diagram. */
export interface DiagramState {
  /** The ELK node's id: `state:<path>`, `machine` for the machine. */
  readonly elkId: string;
  /** The dot path from the root (`review.legal.pending`), as `InstanceView.states` and `settle list --state` write it; '' for the machine. */
  readonly path: string;
  /** The state's key (the last part of the path); the machine's id for the machine. */
  readonly key: string;
  readonly kind: DiagramStateKind;
  /** The parent's path (undefined for the machine). */
  readonly parent: string | undefined;
  /** Children's paths, in document order. */
  readonly children: readonly string[];
  /** A region of a parallel state: drawn as a dashed box. */
  readonly region: boolean;
  /** Tags declared on this state itself. */
  readonly tags: readonly string[];
  /** Carries `resolve`, itself or through an ancestor (as runtime/core/settled.ts decides). */
  readonly resolve: boolean;
  /** Carries `reject`, itself or through an ancestor. */
  readonly reject: boolean;
  readonly final: boolean;
  /** For a history state: shallow or deep. */
  readonly history: 'shallow' | 'deep' | undefined;
  /** The invoked actors' names (`src`), `inline actor` for inline logic. */
  readonly invokes: readonly string[];
  /** The path of the initial child of a compound state (or of the machine). */
  readonly initial: string | undefined;
  /** Transitions drawn as rows inside this box (see {@link DiagramTransition.drawn}). */
  readonly rows: readonly DiagramTransition[];
}

/** A machine as a graph: ELK's input, and what each of its nodes and edges stands for. */
export interface MachineGraph {
  readonly machineId: string;
  /**
   * ELK's input: the drawing area, holding the machine's box (`machine`), which holds the top-level states, and so
   * on (compound and parallel states hold their children; a parallel state's children are its regions). A
   * compound state (and the machine) also holds its initial marker, `initial:<path>`. Every edge is on the root
   * (ELK finds each edge's container: `container` in its result). No sizes yet: layout.ts measures.
   */
  readonly elk: ElkNode;
  /** Every box by path ('' is the machine), in document order: a parent before its children. */
  readonly states: ReadonlyMap<string, DiagramState>;
  /** Every transition, initial arrows included, in document order. */
  readonly transitions: readonly DiagramTransition[];
  /** ELK edge id → the transition and the target path it draws. */
  readonly edges: ReadonlyMap<string, { readonly transition: DiagramTransition; readonly target: string }>;
  /** ELK node id of an initial marker → its parent's path. */
  readonly initials: ReadonlyMap<string, string>;
}

export const machineElkId = 'machine';
export const stateElkId = (path: string): string => (path === '' ? machineElkId : `state:${path}`);
export const initialElkId = (parentPath: string): string => `initial:${parentPath}`;

const pathOf = (node: AnyStateNode): string => node.path.join('.');

function carries(node: AnyStateNode, tag: string): boolean {
  for (let current: AnyStateNode | undefined = node; current; current = current.parent) {
    if (current.tags.includes(tag)) return true;
  }
  return false;
}

const units: readonly (readonly [string, number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
];

/** Milliseconds for people: the largest unit that is at least 1, to one decimal (`2 d`, `1.5 h`, `90 s` → `1.5 min`, `500 ms`). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of units) {
    if (ms >= size) return `${Math.round((ms / size) * 10) / 10} ${unit}`;
  }
  return `${Math.round(ms)} ms`;
}

/** A guard as written: a name, a parameterised guard's type, XState's and/or/not/stateIn, or `inline guard`. */
export function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') {
    const fn = guard as { name: string; guards?: unknown; stateValue?: unknown };
    if (Array.isArray(fn.guards)) return `${fn.name}(${fn.guards.map(guardLabel).join(', ')})`;
    if ('stateValue' in fn) return `stateIn(${typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue)})`;
    // An inline arrow function takes its property's name (`guard`), which says nothing.
    if (fn.name !== '' && fn.name !== 'guard') return fn.name;
  }
  return 'inline guard';
}

const inlineActor = 'inline actor';

function actorName(src: unknown): string {
  return typeof src === 'string' && !src.startsWith('xstate.invoke.') ? src : inlineActor;
}

/** The machine as a graph for ELK; see {@link MachineGraph}. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root;
  const delays = (machine.implementations?.delays ?? {}) as Record<string, unknown>;

  // Invoke id → actor name, for `xstate.done.actor.<id>` labels (an invoke's onDone may be declared on it only).
  const actors = new Map<string, string>();
  const collectActors = (node: AnyStateNode): void => {
    for (const invoke of node.invoke) actors.set(invoke.id, actorName(invoke.src));
    for (const child of Object.values(node.states)) collectActors(child);
  };
  collectActors(root);

  const delayText = (delay: unknown): string => {
    if (typeof delay === 'number') return formatDuration(delay);
    if (typeof delay === 'string') {
      const named = delays[delay];
      return typeof named === 'number' ? `${delay} (${formatDuration(named)})` : delay;
    }
    return 'a computed delay';
  };

  const eventLabel = (node: AnyStateNode, descriptor: string): { kind: TransitionKind; text: string; delay?: string } => {
    if (descriptor === '') return { kind: 'always', text: 'always' };
    const after = node.after.find((transition) => transition.eventType === descriptor);
    if (after) {
      const delay = delayText(after.delay);
      return { kind: 'after', text: `after ${delay}`, delay };
    }
    for (const [prefix, kind, word] of [
      ['xstate.done.actor.', 'done', 'done'],
      ['xstate.error.actor.', 'error', 'error'],
      ['xstate.snapshot.', 'snapshot', 'snapshot'],
    ] as const) {
      if (descriptor.startsWith(prefix)) {
        const id = descriptor.slice(prefix.length);
        return { kind, text: `${word}: ${actors.get(id) ?? id}` };
      }
    }
    if (descriptor.startsWith('xstate.done.state.')) return { kind: 'done', text: 'done' };
    return { kind: 'event', text: descriptor };
  };

  const states = new Map<string, DiagramState>();
  const transitions: DiagramTransition[] = [];
  const edges: ElkExtendedEdge[] = [];
  const edgeMeta = new Map<string, { transition: DiagramTransition; target: string }>();
  const initials = new Map<string, string>();
  let counter = 0;

  const addEdges = (transition: DiagramTransition, from: string, targets = transition.targets): void => {
    targets.forEach((target, index) => {
      const id = targets.length === 1 ? transition.id : `${transition.id}.${index}`;
      edges.push({
        id,
        sources: [from],
        targets: [stateElkId(target)],
        ...(transition.label === '' ? {} : { labels: [{ id: `${id}:label`, text: transition.label }] }),
      });
      edgeMeta.set(id, { transition, target });
    });
  };

  const visit = (node: AnyStateNode): ElkNode => {
    const path = pathOf(node);
    const isMachine = node === root;
    const children = Object.values(node.states) as AnyStateNode[];
    const rows: DiagramTransition[] = [];

    const declared: [string, readonly { target?: readonly AnyStateNode[] | undefined; guard?: unknown; reenter: boolean }[]][] = [
      ...node.transitions.entries(),
    ];
    if (node.always && node.always.length > 0) declared.push(['', node.always]);
    for (const [descriptor, definitions] of declared) {
      for (const definition of definitions) {
        const targets = (definition.target ?? []).map(pathOf);
        const { kind, text, delay } = eventLabel(node, descriptor);
        const guard = definition.guard === undefined ? undefined : guardLabel(definition.guard);
        const staysHere = targets.every((target) => target === path);
        const transition: DiagramTransition = {
          id: `t${counter++}`,
          kind,
          source: path,
          targets,
          event: descriptor,
          guard,
          delay,
          label: guard === undefined ? text : `${text} [${guard}]`,
          reenter: definition.reenter && targets.includes(path),
          drawn: staysHere ? 'row' : 'edge',
        };
        transitions.push(transition);
        if (staysHere) rows.push(transition);
        else
          addEdges(
            transition,
            stateElkId(path),
            targets.filter((target) => target !== path),
          );
      }
    }

    const elkChildren: ElkNode[] = [];
    let initial: string | undefined;
    const initialTarget = node.type === 'compound' ? node.initial?.target[0] : undefined;
    if (initialTarget) {
      initial = pathOf(initialTarget);
      const markerId = initialElkId(path);
      initials.set(markerId, path);
      elkChildren.push({ id: markerId });
      const transition = structuralArrow(markerId, 'initial', path, initial);
      transitions.push(transition);
      addEdges(transition, markerId);
    }

    const state: DiagramState = {
      elkId: stateElkId(path),
      path,
      key: isMachine ? machine.id : node.key,
      kind: isMachine ? 'machine' : node.type,
      parent: node.parent ? pathOf(node.parent) : undefined,
      children: children.map(pathOf),
      region: node.parent?.type === 'parallel',
      tags: [...node.tags],
      resolve: carries(node, resolveTag),
      reject: carries(node, rejectTag),
      final: node.type === 'final',
      history: node.type === 'history' ? (node.history === 'deep' ? 'deep' : 'shallow') : undefined,
      invokes: node.invoke.map((invoke) => actorName(invoke.src)),
      initial,
      rows,
    };
    states.set(path, state);

    for (const child of children) elkChildren.push(visit(child));

    // A history state's default: its config's `target`, a sibling's key.
    if (node.type === 'history' && node.parent) {
      const target = (node.config as { target?: unknown }).target;
      const sibling = typeof target === 'string' ? node.parent.states[target] : undefined;
      if (sibling) {
        const transition = structuralArrow(`history:${path}`, 'history', path, pathOf(sibling));
        transitions.push(transition);
        addEdges(transition, stateElkId(path));
      }
    }

    return elkChildren.length > 0 ? { id: state.elkId, children: elkChildren } : { id: state.elkId };
  };

  const machineNode = visit(root);
  return {
    machineId: machine.id,
    elk: { id: 'root', children: [machineNode], edges },
    states,
    transitions,
    edges: edgeMeta,
    initials,
  };
}
