/**
 * Summarises a V8 `.cpuprofile`: self time and total (inclusive) time per function, heaviest first.
 *
 * @example
 * npx tsx bench/profile-summary.ts bench/results/profiles/CPU.….cpuprofile [rows]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
  readonly hitCount?: number;
  /** Samples per source line of the function (1-based lines). */
  readonly positionTicks?: readonly { readonly line: number; readonly ticks: number }[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const [file, rowsArg = '40', categoriesArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [rows] [category,function,names]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const label = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\/\/work\/main\//, '').replace(/.*node_modules\//, '~');
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  all += dt;
  const node = byId.get(id);
  if (!node) return;
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const at = byId.get(current);
    if (!at) break;
    const name = label(at);
    if (seen.has(name)) continue;
    seen.add(name);
    total.set(name, (total.get(name) ?? 0) + dt);
  }
});

// With categories: each sample goes to the outermost listed function on its stack (else to its root frame kind).
const categories = categoriesArg?.split(',') ?? [];
const byCategory = new Map<string, number>();
if (categories.length > 0) {
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    let category: string | undefined;
    let outer: string | undefined;
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const name = byId.get(current)?.callFrame.functionName ?? '';
      if (categories.includes(name)) category = name;
      if (name && name !== '(root)') outer = name;
    }
    const leaf = byId.get(id)?.callFrame.functionName ?? '';
    const key = category ?? (leaf.startsWith('(') ? leaf : `other (under ${outer ?? '?'})`);
    byCategory.set(key, (byCategory.get(key) ?? 0) + dt);
  });
}

const rows = Number(rowsArg);
const show = (title: string, table: Map<string, number>) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
  for (const [name, us] of [...table].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${((us / all) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
};
show('Self time', self);
show('Total time', total);
if (categories.length > 0) show('By category (outermost listed function on the stack)', byCategory);

// The hottest lines of the heaviest functions (from V8's per-line tick counts).
const lines = new Map<string, Map<number, number>>();
for (const node of profile.nodes) {
  const perLine = lines.get(label(node)) ?? new Map<number, number>();
  for (const { line, ticks } of node.positionTicks ?? []) perLine.set(line, (perLine.get(line) ?? 0) + ticks);
  lines.set(label(node), perLine);
}
console.log('\nHot lines of the top self-time functions');
for (const [name] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Math.min(rows, 15))) {
  const perLine = [...(lines.get(name) ?? new Map<number, number>())].sort((a, b) => b[1] - a[1]).slice(0, 6);
  if (perLine.length > 0) console.log(`${name}: ${perLine.map(([line, ticks]) => `L${line}×${ticks}`).join(' ')}`);
}
