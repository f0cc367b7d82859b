/** §6 Scale: throughput and memory as snapshots grow and as the number of stored instances grows. */
import { compressAboveBytes } from '../../runtime/core/item.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import { dynaliteInstanceScale, memoryInstanceScale, type InstanceCountFindings } from './scale-instances.ts';
import { snapshotScale, type SnapshotSizeFindings } from './scale-snapshots.ts';

export interface ScaleFindings {
  readonly snapshots: readonly SnapshotSizeFindings[];
  readonly instances: readonly InstanceCountFindings[];
}

export async function scaleSection(sizes: BenchSizes['scale']): Promise<{ section: Section; findings: ScaleFindings }> {
  const started = performance.now();
  const snapshots = await snapshotScale(sizes);
  const instances = [...(await memoryInstanceScale(sizes)), ...(await dynaliteInstanceScale(sizes))];
  const findings = { snapshots, instances };
  return { section: scaleSectionOf(findings, sizes, performance.now() - started), findings };
}

function scaleSectionOf({ snapshots, instances }: ScaleFindings, sizes: BenchSizes['scale'], durationMs: number): Section {
  const figures: Figure[] = [];
  const smallest = snapshots[0];
  for (const s of snapshots) {
    const label = `context ${s.kb} KB (${formatNumber(s.jsonBytes / 1024)} KB JSON${s.gzipped ? `, stored gzipped ${formatNumber(s.gzipBytes / 1024)} KB` : ''})`;
    const base = smallest && smallest !== s ? `${smallest.kb} KB` : undefined;
    figures.push(
      compared(
        `${label} · dynalite, 10 groups × 1 record`,
        s.dynamoSpread.cpuRate,
        'events/CPU-s',
        base && smallest ? { name: base, value: smallest.dynamoSpread.cpuRate } : undefined,
        {
          note: `wall ${formatNumber(s.dynamoSpread.wallRate)}/s; item ${formatNumber(s.itemBytes / 1024)} KB; heap growth during run ${formatNumber(s.dynamoSpread.heapGrowthMb)} MB`,
        },
      ),
      compared(
        `${label} · dynalite, 1 group × 10 records`,
        s.dynamoBatched.cpuRate,
        'events/CPU-s',
        base && smallest ? { name: base, value: smallest.dynamoBatched.cpuRate } : undefined,
        {
          note: `wall ${formatNumber(s.dynamoBatched.wallRate)}/s; heap growth ${formatNumber(s.dynamoBatched.heapGrowthMb)} MB`,
        },
      ),
      compared(
        `${label} · MemoryStore, 10 groups × 1 record`,
        s.memorySpread.cpuRate,
        'events/CPU-s',
        base && smallest ? { name: base, value: smallest.memorySpread.cpuRate } : undefined,
        {
          note: `wall ${formatNumber(s.memorySpread.wallRate)}/s; heap growth ${formatNumber(s.memorySpread.heapGrowthMb)} MB`,
        },
      ),
      compared(
        `${label} · DynamoDB write units per write`,
        Math.ceil(s.itemBytes / 1024),
        'WRU',
        s.gzipped
          ? undefined
          : { name: 'what-if: gzipped at any size', value: Math.ceil((s.itemBytes - s.jsonBytes + s.gzipBytes) / 1024) },
        {
          note: s.gzipped
            ? 'stored gzipped already'
            : `DynamoStore gzips only above ${compressAboveBytes / 1024} KB of JSON; gzip here would store ${formatNumber(s.gzipBytes / 1024)} KB`,
        },
      ),
      compared(
        `${label} · heap used after (GC)`,
        s.heapUsedMb,
        'MB',
        base && smallest ? { name: base, value: smallest.heapUsedMb } : undefined,
        {
          note: `RSS ${formatNumber(s.rssMb)} MB (one process: RSS only grows)`,
        },
      ),
    );
  }
  for (const store of ['MemoryStore', 'dynalite'] as const) {
    const rows = instances.filter((r) => r.store === store);
    const first = rows[0];
    for (const r of rows) {
      const base =
        first && first !== r
          ? { name: `${first.instances} instance${first.instances === 1 ? '' : 's'}`, value: first.rate.cpuRate }
          : undefined;
      const perInstance =
        first && r.instances > first.instances
          ? ((r.heapUsedMb - first.heapUsedMb) * 2 ** 20) / (r.instances - first.instances)
          : undefined;
      figures.push(
        compared(`${store} · ${formatNumber(r.instances)} instances stored · throughput`, r.rate.cpuRate, 'events/CPU-s', base, {
          note: `wall ${formatNumber(r.rate.wallRate)}/s`,
        }),
        compared(
          `${store} · ${formatNumber(r.instances)} instances stored · heap used (GC)`,
          r.heapUsedMb,
          'MB',
          first && first !== r ? { name: base?.name ?? '', value: first.heapUsedMb } : undefined,
          {
            note: `RSS ${formatNumber(r.rssMb)} MB, external ${formatNumber(r.externalMb)} MB${perInstance === undefined ? '' : `; ≈ ${formatNumber(perInstance)} bytes of heap per stored instance`}`,
          },
        ),
      );
    }
  }
  return {
    id: 'scale',
    title: '6. Scale (snapshot size, stored instances)',
    figures,
    notes: [
      `Snapshot size: a machine whose context holds order lines of the given size (the event changes one counter). ${sizes.snapshotInstances} instances × ${sizes.snapshotEventsPerInstance} events per shape, after their creation.`,
      `Measured through DynamoStore on dynalite (the real handler): snapshots over ${compressAboveBytes / 1024} KB of JSON are stored gzipped as binary; and through the worker core on MemoryStore (encoded as DynamoStore encodes it, gzip included; no emulator) for the CPU alone.`,
      `Instances: counter instances written from one stored template, then ${sizes.memoryEvents} (MemoryStore) / ${sizes.dynaliteEvents} (dynalite) single-record batches to random instances. Heap figures include the stored instances; dynalite keeps its in-memory table largely in Buffers, outside the JS heap (see "external" and RSS).`,
      "Rates are per second of this process's CPU time (dynalite's included, it runs in-process); wall-clock rates are in the notes. Memory: process.memoryUsage() after a forced GC, all sizes in one process.",
      'The worker restores every instance on every batch here (warm instances off: SETTLE_WARM_INSTANCES=0), so that the figures show what size and count cost the store and the restore; how often a warm worker skips the restore depends on its traffic, and section 1 measures both.',
    ],
    durationMs,
  };
}
