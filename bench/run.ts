/**
 * `npm run bench`: every section at full size (≈ 5–10 min on 2 cores), JSON to bench/results/, the table
 * into docs/PERFORMANCE.md. `npm run bench -- --quick` (or SETTLE_BENCH_QUICK=1): tiny sizes, no docs.
 * `--only cpu,scale` runs some sections (and leaves the docs alone; `--only payloads --docs` writes just those
 * sections' tables into docs/PERFORMANCE.md); `--out <dir>` writes the JSON elsewhere.
 */
import { parseArgs } from 'node:util';
import { runBench } from './main.ts';
import { sectionIds, type SectionId } from './report.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    docs: { type: 'boolean' },
    'no-docs': { type: 'boolean', default: false },
  },
});

const only = values.only?.split(',').map((id) => id.trim());
const unknown = only?.filter((id) => !sectionIds.includes(id as SectionId)) ?? [];
if (unknown.length > 0) {
  console.error(`Unknown section ${unknown.join(', ')}; the sections are ${sectionIds.join(', ')}.`);
  process.exit(2);
}
const quick = values.quick || process.env.SETTLE_BENCH_QUICK === '1';
const { jsonPath, docsWritten } = await runBench({
  quick,
  ...(only ? { only: only as SectionId[] } : {}),
  ...(values.out ? { outDir: values.out } : {}),
  ...(values['no-docs'] ? { docs: false } : values.docs ? { docs: true } : {}),
});
console.log(`Results: ${jsonPath}${docsWritten ? '; table written to docs/PERFORMANCE.md' : ''}`);
