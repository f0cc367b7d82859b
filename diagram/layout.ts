/**
 * Sizes a {@link MachineGraph}'s boxes and labels from their text, has ELK (elkjs, the `layered` algorithm) place
 * everything, and returns the result in absolute coordinates. Nothing here positions anything itself.
 *
 * **Text sizes are estimated, not measured** (no DOM, no font files): the diagram is drawn in a monospace font
 * (`fontFamily`), whose advance is 0.6 em for every character in the usual faces (Menlo, Consolas 0.55, DejaVu Sans
 * Mono, Liberation Mono, Courier); a character is counted as 0.62 em, and a wide one (CJK, emoji: code point ≥
 * U+1100 in the East Asian wide ranges) as 1.24 em. So a 13 px state name of 10 characters is estimated at
 * 80.6 px, a little more than it takes, never less in those faces.
 *
 * elkjs is imported as its bundled build (`elkjs/lib/elk.bundled.js`: ELK and its layout code in one UMD file,
 * no Web Worker, no `web-worker` package), which runs the same in Node (ESM) and in a browser bundle. The
 * package's main entry would look for the optional `web-worker` package with `require.resolve`, which a
 * bundler then has to be told to leave alone.
 */
import type { ELK, ElkExtendedEdge, ElkNode, LayoutOptions } from 'elkjs/lib/elk-api.js';
import elkModule from 'elkjs/lib/elk.bundled.js';
import { type DiagramState, type DiagramTransition, type MachineGraph, machineElkId } from './graph.ts';

/** The font the diagram is drawn in, and measured for. */
export const fontFamily = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

/** Sizes in px: fonts, padding, and the gaps ELK keeps. Exported so that a renderer draws what was measured. */
export const metrics = {
  nameSize: 13,
  textSize: 11,
  labelSize: 11,
  pillSize: 10,
  /** Advance per character, in em (see the module comment). */
  charWidth: 0.62,
  lineHeight: 1.4,
  padX: 10,
  padY: 7,
  /** Around a tag pill's text, and between pills. */
  pillPadX: 4,
  pillGap: 6,
  /** Inside a container, around its children (the header is above). */
  inset: 14,
  /** Below a container's header, before its children: room for a child's count badge, which straddles its top edge. */
  headerGap: 8,
  minWidth: 64,
  initialSize: 14,
  historySize: 30,
  labelPadX: 4,
} as const;

/** Whether a code point takes two cells in a monospace font (East Asian wide and fullwidth, emoji). */
function isWide(codePoint: number): boolean {
  return (
    (codePoint >= 0x1100 && codePoint <= 0x115f) ||
    (codePoint >= 0x2e80 && codePoint <= 0xa4cf) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7a3) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xfe30 && codePoint <= 0xfe4f) ||
    (codePoint >= 0xff00 && codePoint <= 0xff60) ||
    (codePoint >= 0xffe0 && codePoint <= 0xffe6) ||
    (codePoint >= 0x1f300 && codePoint <= 0x1faff) ||
    (codePoint >= 0x20000 && codePoint <= 0x3fffd)
  );
}

/** The estimated width of `text` at `fontSize` px (module comment). */
export function textWidth(text: string, fontSize: number): number {
  let cells = 0;
  for (const char of text) cells += isWide(char.codePointAt(0) ?? 0) ? 2 : 1;
  return cells * metrics.charWidth * fontSize;
}

/** One line of a box's header, top to bottom. */
export interface HeaderLine {
  readonly text: string;
  readonly kind: 'name' | 'invoke' | 'row';
  readonly fontSize: number;
  /** For a row: the transition it shows. */
  readonly transition?: DiagramTransition;
}

/** What a box shows at its top: its name (with its own tags as pills), its invoked actors, its rows. */
export interface Header {
  readonly lines: readonly HeaderLine[];
  /** The state's own tags, drawn as pills after the name. */
  readonly pills: readonly string[];
  readonly width: number;
  readonly height: number;
}

const lineHeight = (fontSize: number) => Math.ceil(fontSize * metrics.lineHeight);

/** A box's header and its size (module comment: estimated from the character count). */
export function headerOf(state: DiagramState): Header {
  const lines: HeaderLine[] = [
    { text: state.key, kind: 'name', fontSize: metrics.nameSize },
    ...state.invokes.map((src): HeaderLine => ({ text: `invoke: ${src}`, kind: 'invoke', fontSize: metrics.textSize })),
    ...state.rows.map(
      (transition): HeaderLine => ({
        text: `↺ ${transition.label}${transition.reenter ? ' (re-enters)' : ''}`,
        kind: 'row',
        fontSize: metrics.textSize,
        transition,
      }),
    ),
  ];
  const pills = state.kind === 'machine' ? [] : state.tags;
  const pillsWidth = pills.reduce((sum, tag) => sum + metrics.pillGap + pillWidth(tag), 0);
  const widths = lines.map((line) => textWidth(line.text, line.fontSize) + (line.kind === 'name' ? pillsWidth : 0));
  return {
    lines,
    pills,
    width: Math.ceil(Math.max(...widths) + 2 * metrics.padX),
    height: 2 * metrics.padY + lines.reduce((sum, line) => sum + lineHeight(line.fontSize), 0),
  };
}

export function pillWidth(tag: string): number {
  return Math.ceil(textWidth(tag, metrics.pillSize) + 2 * metrics.pillPadX);
}

export const labelHeight = lineHeight(metrics.labelSize) + 2;

export function labelWidth(text: string): number {
  return Math.ceil(textWidth(text, metrics.labelSize) + 2 * metrics.labelPadX);
}

/** The options ELK runs with (on the root; `elk.padding` and the size constraints per container). */
export const elkOptions: LayoutOptions = {
  'elk.algorithm': 'layered',
  // One layout run over the whole hierarchy, so that edges between nested states are routed properly.
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.direction': 'RIGHT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  // Keep the machine's own order where ELK has a free choice: the initial state first, regions as declared.
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.spacing.nodeNode': '28',
  'elk.layered.spacing.nodeNodeBetweenLayers': '36',
  'elk.spacing.edgeNode': '14',
  'elk.layered.spacing.edgeNodeBetweenLayers': '14',
  'elk.spacing.edgeEdge': '10',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '10',
  'elk.spacing.edgeLabel': '4',
  'elk.padding': '[top=16,left=16,bottom=16,right=16]',
};

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A state's box, absolute. */
export interface PlacedState extends Box {
  readonly state: DiagramState;
  readonly header: Header;
}

/** An initial marker (a dot), absolute. */
export interface PlacedInitial extends Box {
  /** The path of the state (or '' for the machine) whose initial child it points at. */
  readonly parent: string;
}

/** One arrow: a transition to one of its targets, as ELK routed it, absolute. */
export interface PlacedEdge {
  /** ELK's edge id: the transition's id, `.<n>` added for a transition with several targets. */
  readonly id: string;
  readonly transition: DiagramTransition;
  readonly target: string;
  /** The route, start to end (ELK's sections joined). */
  readonly points: readonly Point[];
  readonly label: (Box & { readonly text: string }) | undefined;
}

/** A laid-out machine: everything the SVG (or another renderer, such as the dashboard's) needs. */
export interface DiagramLayout {
  readonly graph: MachineGraph;
  readonly width: number;
  readonly height: number;
  /** In the graph's order: a parent before its children. */
  readonly states: readonly PlacedState[];
  readonly initials: readonly PlacedInitial[];
  readonly edges: readonly PlacedEdge[];
}

type ElkConstructor = new (args?: { defaultLayoutOptions?: LayoutOptions }) => ELK;

/**
 * The bundled build is CommonJS whose `module.exports` is the constructor with a `default` property pointing at
 * itself: Node's ESM loader hands over `module.exports`, a bundler may hand over its `default`. Either works.
 */
const Elk: ElkConstructor = (elkModule as unknown as { default?: ElkConstructor }).default ?? (elkModule as unknown as ElkConstructor);

let elk: ELK | undefined;

function isContainer(state: DiagramState): boolean {
  return state.kind === 'machine' || state.kind === 'compound' || state.kind === 'parallel';
}

/** Copies the graph's ELK tree with sizes (leaves), paddings and minimum sizes (containers), and label sizes. */
function measured(graph: MachineGraph, headers: ReadonlyMap<string, Header>): ElkNode {
  const byElkId = new Map([...graph.states.values()].map((state) => [state.elkId, state]));
  const size = (node: ElkNode): ElkNode => {
    if (graph.initials.has(node.id)) return { id: node.id, width: metrics.initialSize, height: metrics.initialSize };
    const state = byElkId.get(node.id);
    if (!state) throw new Error(`diagram: no state for ELK node ${node.id}`);
    if (state.kind === 'history') return { id: node.id, width: metrics.historySize, height: metrics.historySize };
    const header = headers.get(state.path) as Header;
    if (!isContainer(state)) {
      return { id: node.id, width: Math.max(header.width, metrics.minWidth), height: header.height };
    }
    const top = header.height + metrics.headerGap;
    return {
      id: node.id,
      layoutOptions: {
        'elk.padding': `[top=${top},left=${metrics.inset},bottom=${metrics.inset},right=${metrics.inset}]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.max(header.width, metrics.minWidth)}, ${top + metrics.inset + 16})`,
      },
      children: (node.children ?? []).map(size),
    };
  };
  const edges: ElkExtendedEdge[] = (graph.elk.edges ?? []).map((edge) => ({
    id: edge.id,
    sources: edge.sources,
    targets: edge.targets,
    ...(edge.labels
      ? { labels: edge.labels.map((label) => ({ ...label, width: labelWidth(label.text ?? ''), height: labelHeight })) }
      : {}),
  }));
  return { id: graph.elk.id, layoutOptions: elkOptions, children: (graph.elk.children ?? []).map(size), edges };
}

/** Runs ELK over the graph (see the module comment) and returns every box, marker and route in absolute coordinates. */
export async function layoutDiagram(graph: MachineGraph): Promise<DiagramLayout> {
  const headers = new Map([...graph.states.values()].map((state) => [state.path, headerOf(state)]));
  elk ??= new Elk();
  const result = await elk.layout(measured(graph, headers));

  const origin = new Map<string, Point>([[result.id, { x: 0, y: 0 }]]);
  const boxes = new Map<string, Box>();
  const place = (node: ElkNode, parent: Point): void => {
    const at = { x: parent.x + (node.x ?? 0), y: parent.y + (node.y ?? 0) };
    origin.set(node.id, at);
    boxes.set(node.id, { ...at, width: node.width ?? 0, height: node.height ?? 0 });
    for (const child of node.children ?? []) place(child, at);
  };
  for (const child of result.children ?? []) place(child, { x: 0, y: 0 });

  const states = [...graph.states.values()].map((state): PlacedState => {
    const box = boxes.get(state.elkId);
    if (!box) throw new Error(`diagram: ELK placed no box for ${state.elkId}`);
    return { ...box, state, header: headers.get(state.path) as Header };
  });
  const initials = [...graph.initials].map(([id, parent]): PlacedInitial => ({ ...(boxes.get(id) as Box), parent }));

  const edges = (result.edges ?? []).map((edge): PlacedEdge => {
    const meta = graph.edges.get(edge.id);
    if (!meta) throw new Error(`diagram: no transition for ELK edge ${edge.id}`);
    // Routes and labels are relative to the edge's container (ELK writes which: `container`).
    const container = (edge as ElkExtendedEdge & { container?: string }).container;
    const offset = (container === undefined ? undefined : origin.get(container)) ?? { x: 0, y: 0 };
    const shift = (point: Point): Point => ({ x: point.x + offset.x, y: point.y + offset.y });
    const points: Point[] = [];
    for (const section of edge.sections ?? []) {
      for (const point of [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]) {
        const shifted = shift(point);
        const last = points.at(-1);
        if (!last || last.x !== shifted.x || last.y !== shifted.y) points.push(shifted);
      }
    }
    const elkLabel = edge.labels?.[0];
    const label =
      elkLabel === undefined
        ? undefined
        : {
            ...shift({ x: elkLabel.x ?? 0, y: elkLabel.y ?? 0 }),
            width: elkLabel.width ?? 0,
            height: elkLabel.height ?? 0,
            text: elkLabel.text ?? '',
          };
    return { id: edge.id, transition: meta.transition, target: meta.target, points, label };
  });

  const machine = boxes.get(machineElkId);
  return {
    graph,
    width: Math.ceil(result.width ?? (machine ? machine.x + machine.width : 0)),
    height: Math.ceil(result.height ?? (machine ? machine.y + machine.height : 0)),
    states,
    initials,
    edges,
  };
}
