/**
 * The diagram engine: a machine's statechart as SVG, laid out by ELK (elkjs). Used by `settle diagram` and the
 * dashboard. Nothing here needs Node: it runs in a browser bundle as well (layout.ts says how elkjs is loaded).
 *
 * machine → {@link machineGraph} (graph.ts: structure, pure) → {@link layoutDiagram} (layout.ts: text sizes,
 * ELK) → {@link diagramSvg} (svg.ts: the SVG, with the current states and counts). {@link machineDiagram} does
 * all three and keeps each machine's layout, so that drawing a machine again (another instance, other counts)
 * costs only the SVG.
 *
 * @example
 * const svg = await machineDiagram(approvalMachine, { active: ['review.legal.pending', 'review.finance.checkingBudget'] });
 */
import type { AnyStateMachine } from 'xstate';
import { machineGraph } from './graph.ts';
import { type DiagramLayout, layoutDiagram } from './layout.ts';
import { diagramSvg, type SvgOptions } from './svg.ts';

export type {
  DiagramState,
  DiagramStateKind,
  DiagramTransition,
  MachineGraph,
  TransitionKind,
} from './graph.ts';
export { formatDuration, guardLabel, machineGraph } from './graph.ts';
export type { Box, DiagramLayout, Header, HeaderLine, PlacedEdge, PlacedInitial, PlacedState, Point } from './layout.ts';
export { elkOptions, fontFamily, layoutDiagram, metrics, textWidth } from './layout.ts';
export type { StateCount, SvgOptions } from './svg.ts';
export { diagramSvg, escapeXml } from './svg.ts';

/** What to show on the diagram: see {@link SvgOptions} (`active`, `counts`, `now`, `legend`). */
export type DiagramOptions = SvgOptions;

// Machines are immutable, so a layout is kept per machine object (a reloaded registry brings new ones).
const layouts = new WeakMap<AnyStateMachine, Promise<DiagramLayout>>();

/** The machine's layout, computed once per machine object. */
export function machineLayout(machine: AnyStateMachine): Promise<DiagramLayout> {
  let layout = layouts.get(machine);
  if (!layout) {
    layout = layoutDiagram(machineGraph(machine));
    layouts.set(machine, layout);
    // A failed layout is not kept: the next call tries again.
    layout.catch(() => layouts.delete(machine));
  }
  return layout;
}

/**
 * The machine's statechart as a standalone SVG document (a string). `active` lights states (each with its
 * ancestors: give every region's leaf), `counts` puts a badge on states ("12 · oldest 3 d").
 */
export async function machineDiagram(machine: AnyStateMachine, options: DiagramOptions = {}): Promise<string> {
  return diagramSvg(await machineLayout(machine), options);
}
