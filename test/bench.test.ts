// Smoke test of `npm run bench -- --quick`: every section runs and reports numbers. It never asserts
// speed: benchmarks compare figures side by side in one run, they do not pass or fail on them.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../bench/main.ts';
import { sectionIds, type BenchResult } from '../bench/report.ts';

describe('bench', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'settle-bench-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('runs every section in quick mode and reports each figure with a number, its baseline and ratio', { timeout: 240_000 }, async () => {
    // Act
    const { result, jsonPath, docsWritten } = await runBench({ quick: true, outDir, log: () => undefined });

    // Assess
    expect(docsWritten).toBe(false);
    expect(result.sections.map((s) => s.id)).toEqual([...sectionIds]);
    for (const section of result.sections) {
      expect(section.figures.length, section.id).toBeGreaterThan(0);
      for (const figure of section.figures) {
        expect(Number.isFinite(figure.value), `${section.id}: ${figure.name}`).toBe(true);
        if (figure.baseline) {
          expect(Number.isFinite(figure.baseline.value), `${section.id}: baseline of ${figure.name}`).toBe(true);
          expect(figure.ratio, `${section.id}: ratio of ${figure.name}`).toBeCloseTo(figure.value / figure.baseline.value, 9);
        }
      }
    }
    expect(existsSync(jsonPath)).toBe(true);
    const saved = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResult;
    expect(saved.sections.length).toBe(sectionIds.length);
  });
});
