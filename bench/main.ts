/**
 * Runs the benchmark sections in order and writes what they found: JSON to bench/results/, and (after a
 * full run) the figures table into docs/PERFORMANCE.md between its generated-section markers; with `only` and
 * `docs: true`, just those sections' tables there, the others' left as they are.
 *
 * @example
 * const { result } = await runBench({ quick: true, outDir: tmp, docs: false });
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fullSizes, quickSizes } from './options.ts';
import {
  machineInfo,
  renderConsole,
  renderMarkdown,
  renderSection,
  sectionIds,
  spliceGenerated,
  spliceSections,
  type BenchResult,
  type Section,
  type SectionId,
} from './report.ts';
import { coldStartSection } from './sections/cold-start.ts';
import { costSection } from './sections/cost.ts';
import { cpuSection } from './sections/cpu.ts';
import { dashboardSection } from './sections/dashboard.ts';
import { e2eSection, type E2eFindings } from './sections/e2e.ts';
import { listIndexSection } from './sections/list-index.ts';
import { payloadsSection } from './sections/payloads.ts';
import { scaleSection } from './sections/scale.ts';
import { storageSection, type StorageFindings } from './sections/storage.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const defaultOutDir = join(repositoryRoot, 'bench', 'results');
export const performanceDoc = join(repositoryRoot, 'docs', 'PERFORMANCE.md');

export interface BenchOptions {
  readonly quick: boolean;
  /** Where the JSON goes. @default bench/results */
  readonly outDir?: string;
  /**
   * Write the tables into docs/PERFORMANCE.md: all of them after a run of every section; with `only`, just those
   * sections' tables (each in place of its previous one). @default true for a full run of every section
   */
  readonly docs?: boolean;
  /** Run only these sections (cost needs storage and e2e; it is skipped without them). @default all */
  readonly only?: readonly SectionId[];
  /** Progress and each section's table as it completes. @default console.log */
  readonly log?: (text: string) => void;
}

export interface BenchRun {
  readonly result: BenchResult;
  readonly jsonPath: string;
  readonly docsWritten: boolean;
}

export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const sizes = options.quick ? quickSizes : fullSizes;
  const log = options.log ?? ((text: string) => console.log(text));
  const wanted = new Set<SectionId>(options.only ?? sectionIds);
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  const began = performance.now();
  const sections: Section[] = [];
  let storage: StorageFindings | undefined;
  let e2e: E2eFindings | undefined;

  const run = async <T extends { section: Section }>(id: SectionId, work: () => Promise<T>): Promise<T | undefined> => {
    if (!wanted.has(id)) return undefined;
    log(`… ${id}`);
    const outcome = await work();
    sections.push(outcome.section);
    log(renderSection(outcome.section));
    return outcome;
  };

  await run('cpu', async () => ({ section: await cpuSection(sizes.cpu) }));
  storage = (await run('storage', () => storageSection(sizes.storage)))?.findings;
  e2e = (await run('e2e', () => e2eSection(sizes.e2e)))?.findings;
  await run('cold-start', () => coldStartSection(sizes.coldStart));
  if (storage && e2e) {
    const [s, e] = [storage, e2e];
    await run('cost', () => costSection(s, e, options.quick ? 6 : 60));
  } else if (wanted.has('cost')) {
    log('… cost skipped: it is computed from the storage and e2e sections');
  }
  await run('scale', () => scaleSection(sizes.scale));
  await run('list-index', () => listIndexSection(sizes.listIndex));
  await run('dashboard', () => dashboardSection(sizes.dashboard));
  await run('payloads', () => payloadsSection(sizes.payloads));

  const mode = options.quick ? 'quick' : 'full';
  const result: BenchResult = {
    mode,
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - began,
    machine: machineInfo(),
    loadAverage: { start: loadAtStart, end: loadavg()[0] ?? 0 },
    command: commandOf(options),
    sections: sections.sort((a, b) => sectionIds.indexOf(a.id) - sectionIds.indexOf(b.id)),
  };

  const outDir = options.outDir ?? defaultOutDir;
  mkdirSync(outDir, { recursive: true });
  const jsonPath = join(outDir, `${mode}-${startedAt.toISOString().replaceAll(':', '-')}.json`);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(jsonPath, json);
  writeFileSync(join(outDir, `latest-${mode}.json`), json);

  const docsWritten = options.docs ?? (!options.quick && options.only === undefined);
  if (docsWritten) {
    const document = readFileSync(performanceDoc, 'utf8');
    writeFileSync(performanceDoc, options.only ? spliceSections(document, result) : spliceGenerated(document, renderMarkdown(result)));
  }
  log(renderConsole(result, { sections: false }));
  return { result, jsonPath, docsWritten };
}

/** The command line that reproduces a run. */
function commandOf(options: BenchOptions): string {
  const flags = [...(options.quick ? ['--quick'] : []), ...(options.only ? [`--only ${options.only.join(',')}`] : [])];
  return flags.length > 0 ? `npm run bench -- ${flags.join(' ')}` : 'npm run bench';
}
