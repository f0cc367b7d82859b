import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { allElements, type XmlElement } from './xml.ts';

/**
 * What the tests read off a drawn diagram, and what they expect of it, taken from the machine with XState's own
 * API (not from diagram/graph.ts), so that the diagram is checked against the machine and not against itself.
 */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** Every state node but the root, with its dot path. */
export function stateNodes(machine: AnyStateMachine): { path: string; node: AnyStateNode }[] {
  const found: { path: string; node: AnyStateNode }[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      found.push({ path: child.path.join('.'), node: child });
      visit(child);
    }
  };
  visit(machine.root);
  return found;
}

export interface ExpectedTransition {
  /** '' for the machine itself. */
  readonly source: string;
  readonly targets: readonly string[];
  /** The event descriptor, '' for eventless. */
  readonly event: string;
  readonly guard: unknown;
}

/** Every transition of every state node (the root's included), `always` ones too. */
export function machineTransitions(machine: AnyStateMachine): ExpectedTransition[] {
  const found: ExpectedTransition[] = [];
  const visit = (node: AnyStateNode): void => {
    const source = node.path.join('.');
    for (const [event, definitions] of node.transitions) {
      for (const definition of definitions) {
        found.push({ source, targets: (definition.target ?? []).map((target) => target.path.join('.')), event, guard: definition.guard });
      }
    }
    for (const definition of node.always ?? []) {
      found.push({ source, targets: (definition.target ?? []).map((target) => target.path.join('.')), event: '', guard: definition.guard });
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  return found;
}

const number = (element: XmlElement, name: string): number => {
  const value = element.attributes[name];
  if (value === undefined) throw new Error(`<${element.name}> has no ${name}`);
  return Number(value);
};

/** The box a state's group draws: its first rect (not the highlight around a lit state), or its circle. */
export function boxOf(group: XmlElement): Box {
  for (const child of group.children) {
    if (child.name === 'rect' && child.attributes['data-highlight'] === undefined) {
      return { x: number(child, 'x'), y: number(child, 'y'), width: number(child, 'width'), height: number(child, 'height') };
    }
    if (child.name === 'circle') {
      const r = number(child, 'r');
      return { x: number(child, 'cx') - r, y: number(child, 'cy') - r, width: 2 * r, height: 2 * r };
    }
  }
  throw new Error(`group ${JSON.stringify(group.attributes)} draws no box`);
}

export function inside(inner: Box, outer: Box, tolerance = 0.5): boolean {
  return (
    inner.x >= outer.x - tolerance &&
    inner.y >= outer.y - tolerance &&
    inner.x + inner.width <= outer.x + outer.width + tolerance &&
    inner.y + inner.height <= outer.y + outer.height + tolerance
  );
}

export function overlap(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** True if `point` is on the border of `box`, within `tolerance`. */
export function onBorder(point: Point, box: Box, tolerance = 1): boolean {
  const withinX = point.x >= box.x - tolerance && point.x <= box.x + box.width + tolerance;
  const withinY = point.y >= box.y - tolerance && point.y <= box.y + box.height + tolerance;
  const nearVertical = Math.abs(point.x - box.x) <= tolerance || Math.abs(point.x - (box.x + box.width)) <= tolerance;
  const nearHorizontal = Math.abs(point.y - box.y) <= tolerance || Math.abs(point.y - (box.y + box.height)) <= tolerance;
  return (withinX && withinY && nearVertical) || (withinX && withinY && nearHorizontal);
}

/** The points of a path's `d` (M and L commands only, as the diagram writes them). */
export function pathPoints(d: string): Point[] {
  return [...d.matchAll(/[ML]\s*(-?[\d.]+)[\s,]+(-?[\d.]+)/g)].map((match) => ({ x: Number(match[1]), y: Number(match[2]) }));
}

/** The drawn diagram, indexed. */
export interface Drawn {
  readonly root: XmlElement;
  /** State groups by `data-state`. */
  readonly states: ReadonlyMap<string, XmlElement>;
  /** The machine's group. */
  readonly machine: XmlElement;
  /** Arrow groups (`g[data-transition]`). */
  readonly edges: readonly XmlElement[];
  /** Rows inside boxes (`text[data-line=row]`). */
  readonly rows: readonly XmlElement[];
}

export function indexed(root: XmlElement): Drawn {
  const elements = allElements(root);
  const states = new Map<string, XmlElement>();
  let machine: XmlElement | undefined;
  for (const element of elements) {
    const path = element.attributes['data-state'];
    if (element.name === 'g' && path !== undefined) {
      if (states.has(path)) throw new Error(`two groups for state ${path}`);
      states.set(path, element);
    }
    if (element.name === 'g' && element.attributes['data-kind'] === 'machine') machine = element;
  }
  if (!machine) throw new Error('no machine group');
  return {
    root,
    states,
    machine,
    edges: elements.filter((element) => element.name === 'g' && element.attributes['data-transition'] !== undefined),
    rows: elements.filter((element) => element.name === 'text' && element.attributes['data-line'] === 'row'),
  };
}

/** The nearest enclosing state group's path ('' for the machine's). */
export function ownerPath(element: XmlElement): string | undefined {
  for (let current = element.parent; current; current = current.parent) {
    if (current.attributes['data-state'] !== undefined) return current.attributes['data-state'];
    if (current.attributes['data-kind'] === 'machine') return '';
  }
  return undefined;
}
