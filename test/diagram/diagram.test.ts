import { setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { formatDuration, guardLabel, machineDiagram, machineGraph } from '../../diagram/index.ts';
import { layoutDiagram } from '../../diagram/layout.ts';
import { diagramSvg, escapeXml } from '../../diagram/svg.ts';
import { approvalMachine } from '../../machines/approval.ts';
import { registry } from '../../machines/index.ts';
import { paymentMachine } from '../../machines/payment.ts';
import { kitchenSinkMachine } from './fixtures.ts';
import {
  type Box,
  boxOf,
  type Drawn,
  indexed,
  inside,
  machineTransitions,
  onBorder,
  overlap,
  ownerPath,
  pathPoints,
  stateNodes,
} from './support.ts';
import { allElements, parseXml, textContent, XmlError } from './xml.ts';

/** Names and events that need escaping: the diagram must stay well-formed XML. */
const awkward = `a<b & "c" 'd'>`;
const awkwardMachine = setup({ types: { events: {} as { type: string } } }).createMachine({
  id: 'awkward<&>',
  initial: awkward,
  states: {
    [awkward]: { tags: ['resolve'], on: { 'GO<&>"': 'ünïcödé 名前' } },
    'ünïcödé 名前': { type: 'final' },
  },
});

const machines: [string, AnyStateMachine][] = [
  ...Object.entries(registry).map(([name, definition]): [string, AnyStateMachine] => [name, definition.machine]),
  ['kitchen sink', kitchenSinkMachine],
  ['awkward names', awkwardMachine],
];

async function draw(machine: AnyStateMachine, options: Parameters<typeof machineDiagram>[1] = {}): Promise<Drawn> {
  return indexed(parseXml(await machineDiagram(machine, options)));
}

const labelOf = (edge: Drawn['edges'][number]): string | undefined => {
  const label = allElements(edge).find((element) => element.attributes['data-label'] === 'true');
  return label && textContent(label);
};

const rowsText = (drawn: Drawn, path: string): string[] =>
  drawn.rows.filter((row) => ownerPath(row) === path).map((row) => textContent(row));

describe.each(machines)('the diagram of %s', (_, machine) => {
  it('is well-formed XML: one <svg> root with its namespace and a size', async () => {
    const svg = await machineDiagram(machine);
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(Number(root.attributes.width)).toBeGreaterThan(0);
    expect(Number(root.attributes.height)).toBeGreaterThan(0);
    // Standalone: no scripts, stylesheets, external references or ids to resolve.
    expect(svg).not.toMatch(/<script|<style|<link|href=|url\(|@import|<image|<foreignObject/);
  });

  it('has one box per state node, each inside its parent box, no two siblings overlapping', async () => {
    const drawn = await draw(machine);
    const expected = stateNodes(machine).map(({ path }) => path);
    expect([...drawn.states.keys()].sort()).toEqual([...expected].sort());

    const canvas = { x: 0, y: 0, width: Number(drawn.root.attributes.width), height: Number(drawn.root.attributes.height) };
    const machineBox = boxOf(drawn.machine);
    expect(inside(machineBox, canvas)).toBe(true);
    const boxes = new Map<string, Box>([...drawn.states].map(([path, group]) => [path, boxOf(group)]));
    boxes.set('', machineBox);

    for (const { path, node } of stateNodes(machine)) {
      const group = drawn.states.get(path);
      const parentPath = node.parent?.path.join('.') ?? '';
      // Nested in the document, and geometrically.
      expect(group && ownerPath(group), path).toBe(parentPath);
      expect(inside(boxes.get(path) as Box, boxes.get(parentPath) as Box), `${path} lies inside ${parentPath || 'the machine'}`).toBe(true);
      expect(group?.attributes['data-kind']).toBe(node.type);
    }

    // Siblings (children of one box, initial markers included) never overlap.
    for (const parent of ['', ...drawn.states.keys()]) {
      const group = parent === '' ? drawn.machine : (drawn.states.get(parent) as Drawn['machine']);
      const siblings: [string, Box][] = group.children
        .filter((child) => child.attributes['data-state'] !== undefined || child.attributes['data-initial-marker'] !== undefined)
        .map((child) => [
          child.attributes['data-state'] ?? `initial marker of ${parent}`,
          child.name === 'circle' ? boxOf({ ...child, children: [child] }) : boxOf(child),
        ]);
      for (const [index, [a, boxA]] of siblings.entries()) {
        for (const [b, boxB] of siblings.slice(index + 1)) expect(overlap(boxA, boxB), `${a} overlaps ${b}`).toBe(false);
      }
    }
  });

  it('draws every transition: an arrow to each other state it targets, labelled; a row for one that stays', async () => {
    const drawn = await draw(machine);
    const arrows = drawn.edges.filter((edge) => !['initial', 'history'].includes(edge.attributes['data-kind'] ?? ''));
    const drawnArrows = arrows.map(
      (edge) => `${edge.attributes['data-source']} → ${edge.attributes['data-target']} on '${edge.attributes['data-event']}'`,
    );
    const drawnRows = drawn.rows.map((row) => `${ownerPath(row)} on '${row.attributes['data-event']}'`);

    const expectedArrows: string[] = [];
    const expectedRows: string[] = [];
    for (const transition of machineTransitions(machine)) {
      const away = transition.targets.filter((target) => target !== transition.source);
      if (away.length === 0) expectedRows.push(`${transition.source} on '${transition.event}'`);
      for (const target of away) expectedArrows.push(`${transition.source} → ${target} on '${transition.event}'`);
    }
    expect(drawnArrows.sort()).toEqual(expectedArrows.sort());
    expect(drawnRows.sort()).toEqual(expectedRows.sort());

    for (const edge of arrows) {
      const label = labelOf(edge);
      const event = edge.attributes['data-event'] ?? '';
      expect(label, `the arrow for '${event}' is labelled`).toBeTruthy();
      if (event === '') expect(label).toMatch(/^always/);
      else if (event.startsWith('xstate.after.')) expect(label).toMatch(/^after /);
      else if (event.startsWith('xstate.done.actor.')) expect(label).toMatch(/^done: /);
      else if (event.startsWith('xstate.error.actor.')) expect(label).toMatch(/^error: /);
      else if (event.startsWith('xstate.done.state.')) expect(label).toBe('done');
      else expect(label?.startsWith(event)).toBe(true);
    }
  });

  it('routes each arrow from its source box (or initial marker) to its target box', async () => {
    const drawn = await draw(machine);
    const markers = new Map(
      allElements(drawn.root)
        .filter((element) => element.attributes['data-initial-marker'] !== undefined)
        .map((element) => [element.attributes['data-initial-marker'] as string, boxOf({ ...element, children: [element] })]),
    );
    const boxes = new Map<string, Box>([...drawn.states].map(([path, group]) => [path, boxOf(group)]));
    boxes.set('', boxOf(drawn.machine));
    for (const edge of drawn.edges) {
      const path = edge.children.find((child) => child.name === 'path');
      const points = pathPoints(path?.attributes.d ?? '');
      expect(points.length).toBeGreaterThanOrEqual(2);
      const source = edge.attributes['data-source'] ?? '';
      const from = edge.attributes['data-kind'] === 'initial' ? markers.get(source) : boxes.get(source);
      const to = boxes.get(edge.attributes['data-target'] ?? '');
      const what = `${edge.attributes['data-transition']} (${source} → ${edge.attributes['data-target']})`;
      expect(from && onBorder(points[0]!, from, 1.5), `${what} starts on its source`).toBe(true);
      expect(to && onBorder(points.at(-1)!, to, 1.5), `${what} ends on its target`).toBe(true);
    }
  });

  it("puts every arrow's label clear of the other labels, of leaf boxes, and of containers' headers", async () => {
    const drawn = await draw(machine);
    const labels = drawn.edges.flatMap((edge) => {
      const rect = edge.children.find((child) => child.name === 'rect');
      return rect ? [{ text: labelOf(edge), box: boxOf({ ...edge, children: [rect] }) }] : [];
    });
    // A leaf's whole box; a container's header: from its top to just below its last line of text.
    const occupied = [...drawn.states].map(([path, group]) => {
      const box = boxOf(group);
      if (!group.children.some((child) => child.attributes['data-state'] !== undefined)) return { path, box };
      const baselines = group.children.filter((child) => child.name === 'text').map((text) => Number(text.attributes.y));
      return { path, box: { ...box, height: Math.max(...baselines) + 4 - box.y } };
    });
    for (const [index, label] of labels.entries()) {
      for (const other of labels.slice(index + 1)) expect(overlap(label.box, other.box), `'${label.text}' and '${other.text}'`).toBe(false);
      for (const state of occupied) expect(overlap(label.box, state.box), `'${label.text}' on ${state.path}`).toBe(false);
    }
  });

  it('marks resolve and reject states (a tag on an ancestor counts), final states and initial states', async () => {
    const drawn = await draw(machine);
    for (const { path, node } of stateNodes(machine)) {
      const carries = (tag: string) => {
        for (let current: typeof node | undefined = node; current; current = current.parent) if (current.tags.includes(tag)) return true;
        return false;
      };
      const group = drawn.states.get(path);
      const settles = carries('reject') ? 'reject' : carries('resolve') ? 'resolve' : undefined;
      expect(group?.attributes['data-settles'], path).toBe(settles);
      expect(group?.attributes['data-final'], path).toBe(node.type === 'final' ? 'true' : undefined);
      const initial = node.parent && node.parent.type === 'compound' && node.parent.initial.target[0] === node;
      expect(group?.attributes['data-initial'], path).toBe(initial ? 'true' : undefined);
      // Its own tags as pills, the inherited ones only as the colour.
      const pills = (group?.children ?? [])
        .filter((child) => child.attributes['data-tag'] !== undefined)
        .map((child) => child.attributes['data-tag']);
      expect(pills, path).toEqual(node.tags);
      if (node.type === 'final') {
        // A double border: two rects.
        expect(group?.children.filter((child) => child.name === 'rect').length).toBe(2);
      }
    }
    const legend = allElements(drawn.root)
      .filter((element) => element.attributes['data-legend-item'] !== undefined)
      .map((element) => element.attributes['data-legend-item']);
    expect(legend).toEqual(expect.arrayContaining(['resolve', 'reject', 'final', 'initial']));
  });

  it('lays out the same way every time', async () => {
    const graph = machineGraph(machine);
    const [first, second] = await Promise.all([layoutDiagram(graph), layoutDiagram(machineGraph(machine))]);
    expect(diagramSvg(second)).toBe(diagramSvg(first));
  });
});

describe('the example machines', () => {
  it('approval: review is parallel, its two regions dashed boxes inside it, side by side with no overlap', async () => {
    const drawn = await draw(approvalMachine);
    const review = drawn.states.get('review');
    expect(review?.attributes['data-kind']).toBe('parallel');
    for (const region of ['review.legal', 'review.finance']) {
      const group = drawn.states.get(region);
      expect(group?.attributes['data-region']).toBe('true');
      expect(group && ownerPath(group)).toBe('review');
      expect(inside(boxOf(group!), boxOf(review!))).toBe(true);
      expect(group?.children.find((child) => child.name === 'rect')?.attributes['stroke-dasharray']).toBeTruthy();
    }
    expect(overlap(boxOf(drawn.states.get('review.legal')!), boxOf(drawn.states.get('review.finance')!))).toBe(false);
    expect(drawn.states.get('review.legal.pending')?.attributes['data-region']).toBeUndefined();
    expect(allElements(drawn.root).some((element) => element.attributes['data-legend-item'] === 'region')).toBe(true);
  });

  it('approval: guards in brackets, invoked actors, done and error arrows named by actor, the delays', async () => {
    const drawn = await draw(approvalMachine);
    const arrow = (source: string, target: string) =>
      drawn.edges.filter((edge) => edge.attributes['data-source'] === source && edge.attributes['data-target'] === target).map(labelOf);
    expect(arrow('review.legal.pending', 'review.legal.signed')).toEqual(['APPROVE [isLegal]']);
    expect(arrow('review.finance.pending', 'review.finance.signed')).toEqual(['APPROVE [isFinance]']);
    expect(arrow('review.finance.checkingBudget', 'review.finance.requestingSignOff').sort()).toEqual([
      'done: checkBudget',
      'error: checkBudget',
    ]);
    expect(arrow('review', 'expired')).toEqual(['after expiry (7 d)']);
    expect(arrow('review', 'approved')).toEqual(['done']);
    expect(arrow('review', 'rejected')).toEqual(['REJECT']);
    expect(arrow('draft', 'review')).toEqual(['SUBMIT']);
    // The reminder has no target: a row in review's box.
    expect(rowsText(drawn, 'review')).toEqual(['↺ after reminder (2 d)']);
    const invokes = (path: string) =>
      (drawn.states.get(path)?.children ?? []).filter((child) => child.attributes['data-line'] === 'invoke').map(textContent);
    expect(invokes('review.legal.requestingSignOff')).toEqual(['invoke: makeSignOffLinks']);
    expect(invokes('review.finance.checkingBudget')).toEqual(['invoke: checkBudget']);
    expect(drawn.states.get('rejected')?.attributes['data-settles']).toBe('reject');
    expect(drawn.states.get('draft')?.attributes['data-initial']).toBe('true');
  });

  it("payment: the delayed transition as 'after paymentWindow'", async () => {
    const drawn = await draw(paymentMachine);
    const delayed = drawn.edges.find((edge) => edge.attributes['data-kind'] === 'after');
    expect(delayed?.attributes['data-source']).toBe('awaitingPayment');
    expect(delayed?.attributes['data-target']).toBe('expired');
    expect(labelOf(delayed!)).toBe('after paymentWindow');
    expect(drawn.states.get('expired')?.attributes['data-settles']).toBe('reject');
    expect(drawn.states.get('paid')?.attributes['data-final']).toBe('true');
  });

  it('the kitchen sink: guards, delays, eventless, history, multiple targets, the machine’s own transitions', async () => {
    const drawn = await draw(kitchenSinkMachine);
    const labels = (source: string) =>
      drawn.edges
        .filter((edge) => edge.attributes['data-source'] === source && edge.attributes['data-kind'] !== 'initial')
        .map((edge) => `${labelOf(edge) ?? ''} → ${edge.attributes['data-target']}`);
    expect(labels('working.step1').sort()).toEqual([
      'NEXT → working.step2',
      'after later [and(ready, not(big))] → split',
      'after soon (5 s) → working.step2',
    ]);
    expect(labels('working.step3').sort()).toEqual(['always [big] → done', 'always [stateIn(#sink.working.step3)] → working.step1']);
    expect(labels('working.step2').sort()).toEqual(['done: fetchThing → working.step3', 'error: inline actor → failed']);
    expect(labels('idle').sort()).toEqual(['BOTH → split.left.l2', 'BOTH → split.right.r2', 'START → working']);
    expect(labels('split.right.r1')).toEqual(['R [inline guard] → split.right.r2']);
    expect(labels('working').sort()).toEqual(['BACK → working.hist', 'JUMP → working.step2', 'after 1 min → idle']);
    expect(labels('failed')).toEqual(['* → idle']);
    expect(labels('')).toEqual(['RESET → idle']);
    expect(rowsText(drawn, '')).toEqual(['↺ debug.*']);
    expect(rowsText(drawn, 'working')).toEqual(['↺ SELF (re-enters)']);
    expect(rowsText(drawn, 'idle')).toEqual(['↺ PING']);
    // The history state and its default.
    expect(textContent(drawn.states.get('working.hist')!)).toBe('H*');
    expect(drawn.edges.find((edge) => edge.attributes['data-kind'] === 'history')?.attributes['data-target']).toBe('working.step1');
    // working's resolve tag covers its children.
    expect(drawn.states.get('working.step2')?.attributes['data-settles']).toBe('resolve');
  });

  it('escapes names and events, and keeps them readable', async () => {
    const svg = await machineDiagram(awkwardMachine, { active: [awkward], counts: { [awkward]: { count: 1 } } });
    expect(svg).not.toContain('<b &');
    const drawn = indexed(parseXml(svg));
    expect([...drawn.states.keys()].sort()).toEqual([awkward, 'ünïcödé 名前']);
    expect(drawn.states.get(awkward)?.attributes['data-active']).toBe('true');
    expect(drawn.edges.map(labelOf)).toContain('GO<&>"');
    expect(drawn.root.attributes['data-machine']).toBe('awkward<&>');
    expect(escapeXml('\u0001 \ud800 ok')).toBe('\ufffd \ufffd ok');
  });
});

describe('active states', () => {
  it('light exactly the given leaves and their ancestors, in every region of a parallel state', async () => {
    const drawn = await draw(approvalMachine, { active: ['review.legal.pending', 'review.finance.checkingBudget', 'no.such.state'] });
    const lit = [...drawn.states].filter(([, group]) => group.attributes['data-active'] === 'true').map(([path]) => path);
    expect(lit.sort()).toEqual(['review', 'review.finance', 'review.finance.checkingBudget', 'review.legal', 'review.legal.pending']);
    // A lit state is drawn differently from an unlit one.
    const stroke = (path: string) =>
      drawn.states.get(path)?.children.find((child) => child.name === 'rect' && !child.attributes['data-highlight'])?.attributes.stroke;
    expect(stroke('review.legal.pending')).not.toBe(stroke('review.finance.pending'));
    expect(allElements(drawn.root).some((element) => element.attributes['data-legend-item'] === 'active')).toBe(true);
  });

  it('light nothing when none is given', async () => {
    const drawn = await draw(approvalMachine, { active: [] });
    expect([...drawn.states.values()].filter((group) => group.attributes['data-active'] !== undefined)).toEqual([]);
  });
});

describe('count badges', () => {
  it('say how many instances rest in a state and how old the oldest update is', async () => {
    const now = Date.parse('2026-05-10T12:00:00Z');
    const drawn = await draw(approvalMachine, {
      now,
      counts: {
        'review.legal.pending': { count: 12, oldestUpdatedAt: '2026-05-07T12:00:00Z' },
        review: { count: 15, oldestUpdatedAt: '2026-05-10T09:00:00Z' },
        draft: { count: 3 },
        'not.a.state': { count: 9 },
      },
    });
    const badges = allElements(drawn.root).filter((element) => element.attributes['data-badge'] !== undefined);
    const byPath = new Map(badges.map((badge) => [badge.attributes['data-badge'], badge]));
    expect([...byPath.keys()].sort()).toEqual(['draft', 'review', 'review.legal.pending']);
    expect(textContent(byPath.get('review.legal.pending')!)).toBe('12 · oldest 3 d');
    expect(textContent(byPath.get('review')!)).toBe('15 · oldest 3 h');
    expect(textContent(byPath.get('draft')!)).toBe('3');
    expect(byPath.get('review.legal.pending')?.attributes['data-count']).toBe('12');
    // Each badge sits on its state's top edge, within the state's width.
    for (const [path, badge] of byPath) {
      const box = boxOf(drawn.states.get(path ?? '')!);
      const pill = boxOf(badge);
      expect(pill.y).toBeLessThan(box.y);
      expect(pill.y + pill.height).toBeGreaterThan(box.y);
      expect(pill.x + pill.width).toBeLessThanOrEqual(box.x + box.width);
    }
    expect(allElements(drawn.root).some((element) => element.attributes['data-legend-item'] === 'count')).toBe(true);
  });
});

describe('labels', () => {
  it('formats delays and guards', () => {
    expect(formatDuration(2 * 86_400_000)).toBe('2 d');
    expect(formatDuration(36 * 3_600_000)).toBe('1.5 d');
    expect(formatDuration(15 * 60_000)).toBe('15 min');
    expect(formatDuration(90_000)).toBe('1.5 min');
    expect(formatDuration(1000)).toBe('1 s');
    expect(formatDuration(250)).toBe('250 ms');
    expect(guardLabel('isLegal')).toBe('isLegal');
    expect(guardLabel({ type: 'isRole', params: { role: 'legal' } })).toBe('isRole');
    expect(guardLabel(() => true)).toBe('inline guard');
    expect(
      guardLabel(function withinBudget() {
        return true;
      }),
    ).toBe('withinBudget');
  });

  it('the parser used here refuses malformed XML', () => {
    for (const bad of ['<a><b></a>', '<a x="1" x="2"/>', '<a>&nope;</a>', '<a>1 < 2</a>', '<a/><b/>', '<a x=1/>', '<a>']) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
    expect(parseXml('<a x="&lt;&amp;">t&#x41;</a>').attributes.x).toBe('<&');
  });
});
