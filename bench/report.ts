/**
 * What a benchmark run produces: sections of figures, each figure with its baseline and ratio, and
 * the renderings of it (console, Markdown for docs/PERFORMANCE.md).
 */
import { cpus, totalmem } from 'node:os';

export const sectionIds = ['cpu', 'storage', 'e2e', 'cold-start', 'cost', 'scale', 'list-index', 'dashboard', 'payloads'] as const;
export type SectionId = (typeof sectionIds)[number];

export interface Goal {
  readonly text: string;
  readonly met: boolean;
}

export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** What the figure is compared with; `ratio` = value / baseline.value. */
  readonly baseline?: { readonly name: string; readonly value: number };
  readonly ratio?: number;
  readonly goal?: Goal;
  readonly note?: string;
}

export interface Section {
  readonly id: SectionId;
  readonly title: string;
  readonly figures: readonly Figure[];
  /** How it was measured, and what a reader must know to read the figures. */
  readonly notes: readonly string[];
  readonly durationMs: number;
}

export interface MachineInfo {
  readonly node: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly platform: string;
  readonly memoryGb: number;
}

export interface BenchResult {
  readonly mode: 'full' | 'quick';
  readonly startedAt: string;
  readonly durationMs: number;
  readonly machine: MachineInfo;
  /** 1-minute load average at the start and the end: the box is shared, so it says how quiet it was. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly command: string;
  readonly sections: readonly Section[];
}

export function machineInfo(): MachineInfo {
  const all = cpus();
  return {
    node: process.version,
    cpus: all.length,
    cpuModel: all[0]?.model.trim() ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

/** A figure compared with a baseline; the ratio is computed here so it is always value / baseline. */
export function compared(
  name: string,
  value: number,
  unit: string,
  baseline: { name: string; value: number } | undefined,
  extra: { goal?: Goal; note?: string } = {},
): Figure {
  return {
    name,
    value,
    unit,
    ...(baseline ? { baseline, ratio: value / baseline.value } : {}),
    ...extra,
  };
}

export function formatNumber(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : abs >= 1 ? 2 : abs >= 0.01 ? 3 : 4;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

const ratioText = (figure: Figure) => (figure.ratio === undefined ? '—' : `${formatNumber(figure.ratio)}×`);
const goalText = (figure: Figure) => (figure.goal ? `${figure.goal.met ? '✅' : '❌'} ${figure.goal.text}` : '');
const baselineText = (figure: Figure) =>
  figure.baseline ? `${formatNumber(figure.baseline.value, figure.unit)} (${figure.baseline.name})` : '—';

/** One section's figures with baselines and ratios, and its notes, for the terminal. */
export function renderSection(section: Section): string {
  const lines = ['', `== ${section.title} (${formatNumber(section.durationMs / 1000)} s) ==`];
  const rows = section.figures.map((f) => [
    f.name,
    formatNumber(f.value, f.unit),
    baselineText(f),
    ratioText(f),
    [goalText(f), f.note ?? ''].filter(Boolean).join(' '),
  ]);
  lines.push(...alignColumns([['figure', 'value', 'baseline', 'ratio', 'goal / note'], ...rows]));
  for (const note of section.notes) lines.push(`  · ${note}`);
  return lines.join('\n');
}

/** Every figure with its baseline and ratio, section by section (unless `sections: false`), then the totals. */
export function renderConsole(result: BenchResult, options: { sections?: boolean } = {}): string {
  const parts = options.sections === false ? [] : result.sections.map(renderSection);
  const goals = result.sections.flatMap((s) => s.figures).filter((f) => f.goal);
  parts.push(
    '',
    `Total ${formatNumber(result.durationMs / 1000)} s, ${result.mode} mode, Node ${result.machine.node}, ${result.machine.cpus} cores, ` +
      `load average ${formatNumber(result.loadAverage.start)} → ${formatNumber(result.loadAverage.end)}. ` +
      `Goals met: ${goals.filter((f) => f.goal?.met).length} of ${goals.length}.`,
  );
  return parts.join('\n');
}

function alignColumns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
  }
  return rows.map((row) => `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd());
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

/** The generated part of docs/PERFORMANCE.md. */
export function renderMarkdown(result: BenchResult): string {
  const { machine } = result;
  const lines = [
    `Last full run: ${result.startedAt}, ${formatNumber(result.durationMs / 1000)} s in all. ` +
      `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGb} GB, ${machine.platform}, Node ${machine.node}; ` +
      `1-minute load average ${formatNumber(result.loadAverage.start)} at the start, ${formatNumber(result.loadAverage.end)} at the end (shared box). ` +
      `Command: \`${result.command}\`.`,
  ];
  for (const section of result.sections) lines.push('', `### ${section.title}`, '', ...sectionTable(section));
  return lines.join('\n');
}

/** A section's table and notes in Markdown. */
function sectionTable(section: Section): string[] {
  const lines = ['| Figure | Value | Baseline | Ratio | Goal / note |', '|---|--:|--:|--:|---|'];
  for (const f of section.figures) {
    lines.push(
      `| ${escapeCell(f.name)} | ${formatNumber(f.value, f.unit)} | ${escapeCell(baselineText(f))} | ${ratioText(f)} | ${escapeCell(
        [goalText(f), f.note ?? ''].filter(Boolean).join(' '),
      )} |`,
    );
  }
  if (section.notes.length > 0) lines.push('', ...section.notes.map((note) => `- ${note}`));
  return lines;
}

export const docsBegin = '<!-- bench:begin (generated by `npm run bench`; edit outside these markers) -->';
export const docsEnd = '<!-- bench:end -->';

/** The number a section's title starts with (`7. List index …`): the order of the generated part. */
const sectionNumber = (title: string) => Number.parseInt(title, 10);

/**
 * Writes the tables of `result`'s sections into the generated part of a document, each in place of the table of
 * the same number or, when there is none, in the order of the numbers; every other table, and the header of the
 * last full run, stay as they are. Each table written says which run it is from. (`--only … --docs`.)
 */
export function spliceSections(document: string, result: BenchResult): string {
  const begin = document.indexOf(docsBegin);
  const end = document.indexOf(docsEnd);
  if (begin === -1 || end === -1 || end < begin) return spliceGenerated(document, renderMarkdown(result));
  // The generated part is a header, then blocks that each start with `\n### <title>` and end with a newline.
  const [header = '', ...blocks] = document.slice(begin + docsBegin.length, end).split('\n### ');
  const provenance =
    `_This table: \`${result.command}\`, ${result.startedAt}, ${formatNumber(result.durationMs / 1000)} s, ` +
    `1-minute load average ${formatNumber(result.loadAverage.start)} → ${formatNumber(result.loadAverage.end)}; not the full run above._`;
  for (const section of result.sections) {
    const block = [section.title, '', provenance, '', ...sectionTable(section), ''].join('\n');
    const number = sectionNumber(section.title);
    const same = blocks.findIndex((existing) => sectionNumber(existing) === number);
    if (same !== -1) blocks[same] = block;
    else {
      const after = blocks.findIndex((existing) => sectionNumber(existing) > number);
      blocks.splice(after === -1 ? blocks.length : after, 0, block);
    }
  }
  return document.slice(0, begin + docsBegin.length) + [header, ...blocks].join('\n### ') + document.slice(end);
}

/** Replaces the generated part of a document, keeping everything outside the markers. */
export function spliceGenerated(document: string, generated: string): string {
  const begin = document.indexOf(docsBegin);
  const end = document.indexOf(docsEnd);
  const block = `${docsBegin}\n${generated}\n${docsEnd}`;
  if (begin === -1 || end === -1 || end < begin) return `${document.trimEnd()}\n\n## Results\n\n${block}\n`;
  return document.slice(0, begin) + block + document.slice(end + docsEnd.length);
}
