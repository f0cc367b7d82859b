/**
 * A laid-out diagram as one standalone SVG document: no fonts, stylesheets, scripts or ids to resolve (arrowheads
 * are drawn, not markers, so that several diagrams inline in one page never share an id), presentation
 * attributes only, every text XML-escaped.
 *
 * For tests and the dashboard, every state's group carries `data-state="<dot path>"` (the machine's own box
 * `data-machine="<id>"`), `data-kind`, and when they apply `data-region`, `data-settles="resolve|reject"`,
 * `data-final`, `data-initial` (the initial child of its parent) and `data-active`; a state's group holds its
 * children's groups. Arrows are `<g data-transition="<id>" data-source data-target data-event data-kind>`,
 * rows inside a box `<text data-transition=…>`, count badges `<g data-badge="<path>" data-count>`.
 */
import { fontFamily, type DiagramLayout, labelHeight, metrics, type PlacedState, type Point, pillWidth, textWidth } from './layout.ts';

/** Instances resting in one state (the state itself or, for a compound state, anything inside it). */
export interface StateCount {
  readonly count: number;
  /** The oldest last update among them (ISO): the badge says how long ago. */
  readonly oldestUpdatedAt?: string;
}

export interface SvgOptions {
  /**
   * State paths to light, as `InstanceView.states` gives them (one active leaf per region): each is lit with its
   * ancestors. Paths the machine does not have are ignored.
   */
  readonly active?: readonly string[];
  /** A count badge per state path: "12 · oldest 3 d". */
  readonly counts?: Readonly<Record<string, StateCount>>;
  /** What "oldest 3 d" is measured from (ms since the epoch). @default Date.now() */
  readonly now?: number;
  /** Draw the legend below the diagram. @default true */
  readonly legend?: boolean;
}

export const colors = {
  background: '#ffffff',
  text: '#1e293b',
  muted: '#475569',
  stroke: '#64748b',
  region: '#94a3b8',
  machineStroke: '#cbd5e1',
  transient: '#ffffff',
  container: '#fbfcfd',
  resolveFill: '#e3f4e8',
  resolveContainer: '#f3faf5',
  resolveStroke: '#2e7d4f',
  rejectFill: '#fbe3e0',
  rejectContainer: '#fef6f5',
  rejectStroke: '#c0392b',
  finalFill: '#eef1f4',
  finalStroke: '#334155',
  active: '#1d4ed8',
  activeGlow: '#93c5fd',
  edge: '#64748b',
  badge: '#1e293b',
  badgeText: '#ffffff',
  pillText: '#ffffff',
  pillOther: '#64748b',
} as const;

/** Whether XML 1.0 can hold the code point (its Char production); lone surrogates cannot. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    code >= 0x10000
  );
}

/** Text as XML character data or an attribute value: escaped, and characters XML cannot hold replaced by U+FFFD. */
export function escapeXml(text: string): string {
  let escaped = '';
  // Iterating a string yields code points, and a lone surrogate on its own.
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (!isXmlChar(code)) escaped += '\ufffd';
    else if (char === '&') escaped += '&amp;';
    else if (char === '<') escaped += '&lt;';
    else if (char === '>') escaped += '&gt;';
    else if (char === '"') escaped += '&quot;';
    else if (char === "'") escaped += '&apos;';
    else escaped += char;
  }
  return escaped;
}

const num = (value: number): string => String(Math.round(value * 100) / 100);

type Attributes = Record<string, string | number | undefined | false>;

function attributes(attrs: Attributes): string {
  return Object.entries(attrs)
    .filter(([, value]) => value !== undefined && value !== false)
    .map(([name, value]) => ` ${name}="${typeof value === 'number' ? num(value) : escapeXml(value as string)}"`)
    .join('');
}

const element = (name: string, attrs: Attributes, content?: string): string =>
  content === undefined ? `<${name}${attributes(attrs)}/>` : `<${name}${attributes(attrs)}>${content}</${name}>`;

/** "3 d", "5 h", "12 min", "40 s": how long ago `iso` was, or undefined when it does not parse. */
export function age(iso: string, now: number): string | undefined {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return undefined;
  const span = Math.max(0, now - time);
  if (span < 60_000) return `${Math.round(span / 1000)} s`;
  if (span < 3_600_000) return `${Math.round(span / 60_000)} min`;
  if (span < 86_400_000) return `${Math.round(span / 3_600_000)} h`;
  return `${Math.round(span / 86_400_000)} d`;
}

/** The badge's text: "12", or "12 · oldest 3 d". */
export function badgeText(count: StateCount, now: number): string {
  const oldest = count.oldestUpdatedAt === undefined ? undefined : age(count.oldestUpdatedAt, now);
  return oldest === undefined ? String(count.count) : `${count.count} · oldest ${oldest}`;
}

/** Every given path and its ancestors ('review.legal.pending' → review, review.legal, review.legal.pending), if the machine has it. */
function litPaths(layout: DiagramLayout, active: readonly string[]): Set<string> {
  const lit = new Set<string>();
  for (const path of active) {
    if (!layout.graph.states.has(path) || path === '') continue;
    const parts = path.split('.');
    for (let end = 1; end <= parts.length; end++) lit.add(parts.slice(0, end).join('.'));
  }
  return lit;
}

function isContainer(placed: PlacedState): boolean {
  const kind = placed.state.kind;
  return kind === 'machine' || kind === 'compound' || kind === 'parallel';
}

function fillOf(placed: PlacedState): string {
  const { state } = placed;
  if (state.kind === 'machine') return colors.background;
  const container = isContainer(placed);
  if (state.reject) return container ? colors.rejectContainer : colors.rejectFill;
  if (state.resolve) return container ? colors.resolveContainer : colors.resolveFill;
  if (state.final) return colors.finalFill;
  return container ? colors.container : colors.transient;
}

function strokeOf(placed: PlacedState): string {
  const { state } = placed;
  if (state.kind === 'machine') return colors.machineStroke;
  if (state.region) return colors.region;
  if (state.reject) return colors.rejectStroke;
  if (state.resolve) return colors.resolveStroke;
  if (state.final) return colors.finalStroke;
  return colors.stroke;
}

function pillColor(tag: string): string {
  return tag === 'resolve' ? colors.resolveStroke : tag === 'reject' ? colors.rejectStroke : colors.pillOther;
}

/** The header's lines: name (bold), pills after it, then invokes and rows. */
function header(placed: PlacedState, lit: boolean): string {
  const parts: string[] = [];
  let baseline = placed.y + metrics.padY;
  for (const line of placed.header.lines) {
    const height = Math.ceil(line.fontSize * metrics.lineHeight);
    const y = baseline + height * 0.5 + line.fontSize * 0.35;
    const x = placed.x + metrics.padX;
    if (line.kind === 'name') {
      parts.push(
        element(
          'text',
          { x, y, 'font-size': line.fontSize, 'font-weight': 'bold', fill: lit ? colors.active : colors.text, 'data-line': 'name' },
          escapeXml(line.text),
        ),
      );
      let pillX = x + textWidth(line.text, line.fontSize) + metrics.pillGap;
      for (const tag of placed.header.pills) {
        const width = pillWidth(tag);
        const pillHeight = metrics.pillSize + 5;
        parts.push(
          element(
            'g',
            { 'data-tag': tag },
            element('rect', {
              x: pillX,
              y: y - metrics.pillSize - 1,
              width,
              height: pillHeight,
              rx: pillHeight / 2,
              fill: pillColor(tag),
            }) +
              element(
                'text',
                { x: pillX + metrics.pillPadX, y: y - 2, 'font-size': metrics.pillSize, fill: colors.pillText },
                escapeXml(tag),
              ),
          ),
        );
        pillX += width + metrics.pillGap;
      }
    } else {
      parts.push(
        element(
          'text',
          {
            x,
            y,
            'font-size': line.fontSize,
            fill: colors.muted,
            'font-style': line.kind === 'invoke' ? 'italic' : undefined,
            'data-line': line.kind,
            'data-transition': line.transition?.id,
            'data-event': line.transition?.event,
            'data-kind': line.transition?.kind,
          },
          escapeXml(line.text),
        ),
      );
    }
    baseline += height;
  }
  return parts.join('');
}

function stateShape(placed: PlacedState, lit: boolean): string {
  const { state, x, y, width, height } = placed;
  const stroke = lit ? colors.active : strokeOf(placed);
  const strokeWidth = lit ? 2.5 : state.kind === 'machine' ? 1 : 1.4;
  const parts: string[] = [];
  if (lit && !isContainer(placed)) {
    parts.push(
      element('rect', {
        x: x - 4,
        y: y - 4,
        width: width + 8,
        height: height + 8,
        rx: 10,
        fill: 'none',
        stroke: colors.activeGlow,
        'stroke-width': 3,
        'data-highlight': 'true',
      }),
    );
  }
  if (state.kind === 'history') {
    const r = Math.min(width, height) / 2;
    parts.push(
      element('circle', { cx: x + width / 2, cy: y + height / 2, r, fill: colors.transient, stroke, 'stroke-width': strokeWidth }),
    );
    parts.push(
      element(
        'text',
        {
          x: x + width / 2,
          y: y + height / 2 + 4,
          'font-size': metrics.textSize,
          'font-weight': 'bold',
          'text-anchor': 'middle',
          fill: colors.text,
        },
        state.history === 'deep' ? 'H*' : 'H',
      ),
    );
    return parts.join('');
  }
  parts.push(
    element('rect', {
      x,
      y,
      width,
      height,
      rx: state.kind === 'machine' ? 10 : 8,
      fill: fillOf(placed),
      stroke,
      'stroke-width': strokeWidth,
      'stroke-dasharray': state.region ? '6 4' : undefined,
    }),
  );
  if (state.final) {
    parts.push(
      element('rect', { x: x + 3, y: y + 3, width: width - 6, height: height - 6, rx: 6, fill: 'none', stroke, 'stroke-width': 1.2 }),
    );
  }
  parts.push(header(placed, lit));
  return parts.join('');
}

/** The arrowhead at the end of a route: a filled triangle along its last segment. */
function arrowhead(points: readonly Point[]): string {
  const end = points.at(-1);
  const before = points.at(-2);
  if (!end || !before) return '';
  const dx = end.x - before.x;
  const dy = end.y - before.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  const back = { x: end.x - ux * 8, y: end.y - uy * 8 };
  const left = { x: back.x - uy * 4, y: back.y + ux * 4 };
  const right = { x: back.x + uy * 4, y: back.y - ux * 4 };
  return element('polygon', { points: [end, left, right].map((p) => `${num(p.x)},${num(p.y)}`).join(' '), fill: colors.edge });
}

interface LegendItem {
  readonly key: string;
  readonly text: string;
  readonly swatch: (x: number, y: number) => string;
}

function legend(layout: DiagramLayout, options: SvgOptions, top: number): { svg: string; height: number; width: number } {
  const box =
    (fill: string, stroke: string, extra: Attributes = {}) =>
    (x: number, y: number) =>
      element('rect', { x, y, width: 18, height: 14, rx: 3, fill, stroke, 'stroke-width': 1.4, ...extra });
  const items: LegendItem[] = [
    { key: 'resolve', text: 'resolve: rests, waiting for an event', swatch: box(colors.resolveFill, colors.resolveStroke) },
    { key: 'reject', text: 'reject: rests after a failure', swatch: box(colors.rejectFill, colors.rejectStroke) },
    { key: 'transient', text: 'no tag: passes through', swatch: box(colors.transient, colors.stroke) },
    {
      key: 'final',
      text: 'final',
      swatch: (x, y) =>
        box(colors.finalFill, colors.finalStroke)(x, y) +
        element('rect', {
          x: x + 2.5,
          y: y + 2.5,
          width: 13,
          height: 9,
          rx: 2,
          fill: 'none',
          stroke: colors.finalStroke,
          'stroke-width': 1,
        }),
    },
    {
      key: 'initial',
      text: 'initial state',
      swatch: (x, y) => element('circle', { cx: x + 9, cy: y + 7, r: 5, fill: colors.finalStroke }),
    },
  ];
  if ([...layout.graph.states.values()].some((state) => state.region)) {
    items.push({ key: 'region', text: 'parallel region', swatch: box('none', colors.region, { 'stroke-dasharray': '4 3' }) });
  }
  if (options.active !== undefined) {
    items.push({ key: 'active', text: 'current state', swatch: box(colors.transient, colors.active, { 'stroke-width': 2.5 }) });
  }
  if (options.counts !== undefined) {
    items.push({
      key: 'count',
      text: 'instances · oldest update',
      swatch: (x, y) => element('rect', { x, y: y + 1, width: 18, height: 12, rx: 6, fill: colors.badge }),
    });
  }
  const maxWidth = Math.max(layout.width - 2 * metrics.inset, 420);
  const rowHeight = 22;
  const parts: string[] = [];
  let x = metrics.inset;
  let y = top;
  let widest = 0;
  for (const item of items) {
    const width = 18 + 6 + textWidth(item.text, metrics.textSize) + 18;
    if (x > metrics.inset && x + width > metrics.inset + maxWidth) {
      x = metrics.inset;
      y += rowHeight;
    }
    parts.push(
      element(
        'g',
        { 'data-legend-item': item.key },
        item.swatch(x, y) +
          element('text', { x: x + 24, y: y + 11, 'font-size': metrics.textSize, fill: colors.muted }, escapeXml(item.text)),
      ),
    );
    x += width;
    widest = Math.max(widest, x);
  }
  return { svg: element('g', { 'data-legend': 'true' }, parts.join('')), height: y - top + rowHeight, width: widest };
}

/** The SVG document for a laid-out machine; see the module comment for what it carries. */
export function diagramSvg(layout: DiagramLayout, options: SvgOptions = {}): string {
  const lit = litPaths(layout, options.active ?? []);
  const now = options.now ?? Date.now();
  const { graph } = layout;

  const placedByPath = new Map(layout.states.map((placed) => [placed.state.path, placed]));
  const initialsByParent = new Map(layout.initials.map((initial) => [initial.parent, initial]));
  const initialChildren = new Set([...graph.states.values()].flatMap((state) => (state.initial === undefined ? [] : [state.initial])));

  const group = (path: string): string => {
    const placed = placedByPath.get(path);
    if (!placed) return '';
    const { state } = placed;
    const on = lit.has(path);
    const marker = initialsByParent.get(path);
    const content =
      stateShape(placed, on) +
      (marker
        ? element('circle', {
            cx: marker.x + marker.width / 2,
            cy: marker.y + marker.height / 2,
            r: marker.width / 2 - 1,
            fill: colors.finalStroke,
            'data-initial-marker': path,
          })
        : '') +
      state.children.map(group).join('');
    return element(
      'g',
      state.kind === 'machine'
        ? { 'data-machine': graph.machineId, 'data-kind': 'machine' }
        : {
            'data-state': path,
            'data-kind': state.kind,
            'data-region': state.region ? 'true' : undefined,
            'data-settles': state.reject ? 'reject' : state.resolve ? 'resolve' : undefined,
            'data-final': state.final ? 'true' : undefined,
            'data-initial': initialChildren.has(path) ? 'true' : undefined,
            'data-active': on ? 'true' : undefined,
          },
      content,
    );
  };

  const edges = layout.edges
    .map((edge) => {
      if (edge.points.length < 2) return '';
      const d = edge.points.map((point, index) => `${index === 0 ? 'M' : 'L'}${num(point.x)} ${num(point.y)}`).join(' ');
      const label = edge.label
        ? element('rect', {
            x: edge.label.x,
            y: edge.label.y,
            width: edge.label.width,
            height: edge.label.height,
            rx: 3,
            fill: colors.background,
            'fill-opacity': 0.85,
          }) +
          element(
            'text',
            {
              x: edge.label.x + metrics.labelPadX,
              y: edge.label.y + labelHeight / 2 + metrics.labelSize * 0.35,
              'font-size': metrics.labelSize,
              fill: colors.text,
              'data-label': 'true',
            },
            escapeXml(edge.label.text),
          )
        : '';
      return element(
        'g',
        {
          'data-transition': edge.transition.id,
          'data-edge': edge.id,
          'data-kind': edge.transition.kind,
          'data-source': edge.transition.source,
          'data-target': edge.target,
          'data-event': edge.transition.event,
        },
        element('path', { d, fill: 'none', stroke: colors.edge, 'stroke-width': 1.3 }) + arrowhead(edge.points) + label,
      );
    })
    .join('');

  const badges = Object.entries(options.counts ?? {})
    .map(([path, count]) => {
      const placed = placedByPath.get(path);
      if (!placed || path === '') return '';
      const text = badgeText(count, now);
      const width = Math.ceil(textWidth(text, metrics.pillSize) + 12);
      const height = metrics.pillSize + 6;
      const x = placed.x + placed.width - 8 - width;
      const y = placed.y - height / 2;
      return element(
        'g',
        { 'data-badge': path, 'data-count': String(count.count) },
        element('rect', { x, y, width, height, rx: height / 2, fill: colors.badge }) +
          element(
            'text',
            { x: x + 6, y: y + height / 2 + metrics.pillSize * 0.35, 'font-size': metrics.pillSize, fill: colors.badgeText },
            escapeXml(text),
          ),
      );
    })
    .join('');

  const drawn = options.legend === false ? undefined : legend(layout, options, layout.height);
  const width = Math.ceil(Math.max(layout.width, drawn ? drawn.width + metrics.inset : 0));
  const height = Math.ceil(layout.height + (drawn ? drawn.height + metrics.inset : 0));
  return element(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      'font-family': fontFamily,
      role: 'img',
      'aria-label': `${graph.machineId} statechart`,
      'data-machine': graph.machineId,
    },
    element('title', {}, escapeXml(`${graph.machineId} statechart`)) +
      element('rect', { x: 0, y: 0, width, height, fill: colors.background }) +
      element('g', { 'data-layer': 'states' }, group('')) +
      element('g', { 'data-layer': 'edges' }, edges) +
      element('g', { 'data-layer': 'badges' }, badges) +
      (drawn ? drawn.svg : ''),
  );
}
