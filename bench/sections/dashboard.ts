/**
 * §8 Dashboard render: a machine with many instances, in `settle dev` (dynalite, the dashboard server, the app)
 * and headless Chromium (Debian's chromium through playwright-core). The instances are real records — six
 * approvals driven through the worker into every stage, cloned under new keys with their update times spread over
 * the last day — written straight into the table through `DynamoStore.write`. Each run opens the machine view in a
 * fresh tab and reads the app's performance marks: how long after navigation the first page of the instance list,
 * and the fleet counts (every instance of the machine, counted per state by the server), had rendered.
 */
import { join } from 'node:path';
import { DynamoStore } from '../../runtime/aws/dynamo-store.ts';
import { startDev } from '../../cli/dev.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { tableDefinition } from '../../runtime/core/resources.ts';
import { wakeShardOf } from '../../runtime/core/timers.ts';
import { clientOf } from '../../test/dashboard/sample.ts';
import { launchChromium } from '../../test/dashboard/chromium.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Section } from '../report.ts';

const machine = 'approval';
const listMark = 'settle:instances-rendered';
const fleetMark = 'settle:fleet-rendered';
/** The page size of the app's instance list (dashboard/app/views/machine.tsx). */
const pageSize = 50;

/** The stages an approval rests in, and how often each occurs among the instances written. */
const stages: readonly { readonly name: string; readonly weight: number; readonly events: readonly Record<string, unknown>[] }[] = [
  { name: 'draft', weight: 10, events: [{ type: 'RESUBMIT', by: 'eve' }] },
  { name: 'both-pending', weight: 40, events: [{ type: 'SUBMIT', by: 'eve' }] },
  {
    name: 'legal-signed',
    weight: 20,
    events: [
      { type: 'SUBMIT', by: 'eve' },
      { type: 'APPROVE', role: 'legal', by: 'ana' },
    ],
  },
  {
    name: 'finance-signed',
    weight: 15,
    events: [
      { type: 'SUBMIT', by: 'eve' },
      { type: 'APPROVE', role: 'finance', by: 'bo' },
    ],
  },
  {
    name: 'approved',
    weight: 10,
    events: [
      { type: 'SUBMIT', by: 'eve' },
      { type: 'APPROVE', role: 'legal', by: 'ana' },
      { type: 'APPROVE', role: 'finance', by: 'bo' },
    ],
  },
  {
    name: 'rejected',
    weight: 5,
    events: [
      { type: 'SUBMIT', by: 'eve' },
      { type: 'REJECT', role: 'finance', by: 'bo', reason: 'over budget' },
    ],
  },
];

export interface DashboardFindings {
  readonly instances: number;
  readonly seedMs: number;
  /** Per measured run, ms after navigation start. */
  readonly listRenderedMs: readonly number[];
  readonly fleetRenderedMs: readonly number[];
  /** The same requests from Node, without the browser: ms each. */
  readonly listApiMs: readonly number[];
  readonly fleetApiMs: readonly number[];
  readonly fleetBytes: number;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const range = (values: readonly number[]) => `${formatNumber(Math.min(...values))}–${formatNumber(Math.max(...values))} ms`;

/** A copy of a template record under another key, updated `ageMs` ago; its timers keep their distance to that update. */
function cloneRecord(template: InstanceRecord, pk: string, index: number, now: number, ageMs: number): InstanceRecord {
  const shift = now - ageMs - Date.parse(template.updatedAt);
  const timers = template.timers.map((timer) => ({ ...timer, fireAt: timer.fireAt + shift }));
  const at = (iso: string) => new Date(Date.parse(iso) + shift).toISOString();
  return {
    ...template,
    pk,
    snapshot: JSON.parse(JSON.stringify(template.snapshot).replaceAll(template.pk, pk)),
    timers,
    wakeAt: template.wakeAt === undefined ? undefined : template.wakeAt + shift,
    wakeShard: template.wakeAt === undefined ? undefined : wakeShardOf(pk, tableDefinition.wakeShards),
    // Every clone has its own sequence numbers, as if its events had come one after another.
    lastSeq: String(BigInt(template.lastSeq) + BigInt(index) * 10n).padStart(template.lastSeq.length, '0'),
    history: template.history.map((entry) => ({ ...entry, at: at(entry.at) })),
    createdAt: at(template.createdAt),
    updatedAt: at(template.updatedAt),
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

export async function dashboardSection(sizes: BenchSizes['dashboard']): Promise<{ section: Section; findings: DashboardFindings }> {
  const started = performance.now();
  const session = await startDev(
    {
      registry: join(import.meta.dirname, '..', '..', 'machines', 'index.ts'),
      sqsPort: 0,
      dynamodbPort: 0,
      apiPort: 0,
      dynamodbLocal: false,
      watch: false,
    },
    () => undefined,
  );
  const browser = await launchChromium({ width: 1400, height: 1000 });
  try {
    const { stack } = session;
    const url = stack.api?.url;
    if (!url) throw new Error('settle dev started without its HTTP API, so without the dashboard');

    // Templates: one approval per stage, through the worker.
    const client = clientOf(stack, session.registry());
    const store = new DynamoStore(stack.tableName, stack.clients.document);
    const templates: InstanceRecord[] = [];
    for (const stage of stages) {
      for (const event of stage.events) await client.sendAndWait(machine, `template-${stage.name}`, event as never, { timeoutMs: 20_000 });
      const record = await store.read(`${machine}/template-${stage.name}`);
      if (!record) throw new Error(`The template ${stage.name} was not saved.`);
      templates.push(record);
    }
    const weights = stages.reduce((sum, stage) => sum + stage.weight, 0);
    const templateOf = (index: number) => {
      let slot = index % weights;
      for (const [i, stage] of stages.entries()) {
        if (slot < stage.weight) return templates[i] as InstanceRecord;
        slot -= stage.weight;
      }
      return templates[0] as InstanceRecord;
    };

    // The instances, written straight into the table, 32 writes in flight.
    const now = Date.now();
    const day = 24 * 3600_000;
    const seed = await timed(async () => {
      let next = 0;
      const lane = async () => {
        for (let index = next++; index < sizes.instances; index = next++) {
          const pk = `${machine}/bench-${String(index).padStart(6, '0')}`;
          // Spread over the last day, in an order unrelated to the key.
          const age = ((index * 7919) % sizes.instances) * (day / sizes.instances);
          await store.write(cloneRecord(templateOf(index), pk, index, now, age), undefined);
        }
      };
      await Promise.all(Array.from({ length: 32 }, lane));
    });

    // Warm-up: the diagram's layout is computed once per machine, the bundle once per process.
    const total = sizes.instances + templates.length;
    const openMachineView = async () => {
      const page = await browser.context.newPage();
      try {
        await page.goto(`${url}/#/machine/${machine}`);
        await page.waitForFunction(
          ([list, fleet]) => performance.getEntriesByName(list).length > 0 && performance.getEntriesByName(fleet).length > 0,
          [listMark, fleetMark] as const,
          { timeout: 300_000 },
        );
        const rows = await page.getByTestId('instance-list').locator('tbody tr').count();
        const shown = Number((await page.getByTestId('fleet-total').textContent())?.replaceAll(',', ''));
        if (rows !== Math.min(pageSize, total) || shown !== total) {
          throw new Error(
            `The machine view showed ${rows} rows and a total of ${shown}; expected ${Math.min(pageSize, total)} and ${total}.`,
          );
        }
        return await page.evaluate(
          ([list, fleet]) => ({
            list: performance.getEntriesByName(list)[0]?.startTime ?? Number.NaN,
            fleet: performance.getEntriesByName(fleet)[0]?.startTime ?? Number.NaN,
          }),
          [listMark, fleetMark] as const,
        );
      } finally {
        await page.close();
      }
    };
    await openMachineView();
    const listRenderedMs: number[] = [];
    const fleetRenderedMs: number[] = [];
    const listApiMs: number[] = [];
    const fleetApiMs: number[] = [];
    let fleetBytes = 0;
    for (let run = 0; run < sizes.runs; run += 1) {
      const marks = await openMachineView();
      listRenderedMs.push(marks.list);
      fleetRenderedMs.push(marks.fleet);
      const list = await timed(() => fetch(`${url}/dashboard/api/instances?machine=${machine}&limit=${pageSize}`).then((r) => r.text()));
      listApiMs.push(list.ms);
      const fleet = await timed(() => fetch(`${url}/dashboard/api/fleet?machine=${machine}`).then((r) => r.text()));
      fleetApiMs.push(fleet.ms);
      fleetBytes = Buffer.byteLength(fleet.value);
    }
    const findings: DashboardFindings = {
      instances: total,
      seedMs: seed.ms,
      listRenderedMs,
      fleetRenderedMs,
      listApiMs,
      fleetApiMs,
      fleetBytes,
    };
    return { section: dashboardSectionOf(findings, sizes, performance.now() - started), findings };
  } finally {
    await browser.close();
    await session.stop();
  }
}

function dashboardSectionOf(findings: DashboardFindings, sizes: BenchSizes['dashboard'], durationMs: number): Section {
  const n = formatNumber(findings.instances);
  return {
    id: 'dashboard',
    title: '8. Dashboard render (settle dev on dynalite, headless Chromium)',
    figures: [
      compared(
        `${n} instances · machine view: instance list (first page of ${pageSize}) rendered, after navigation`,
        median(findings.listRenderedMs),
        'ms',
        { name: 'GET /dashboard/api/instances alone, from Node', value: median(findings.listApiMs) },
        { note: `median of ${sizes.runs} runs (${range(findings.listRenderedMs)}); the request alone ${range(findings.listApiMs)}` },
      ),
      compared(
        `${n} instances · machine view: fleet counts (diagram and table) rendered, after navigation`,
        median(findings.fleetRenderedMs),
        'ms',
        { name: 'GET /dashboard/api/fleet alone, from Node', value: median(findings.fleetApiMs) },
        {
          note: `median of ${sizes.runs} runs (${range(findings.fleetRenderedMs)}); the request alone ${range(findings.fleetApiMs)}, ${formatNumber(
            findings.fleetBytes / 1024,
          )} KB of JSON`,
        },
      ),
      compared(`${n} instances written through DynamoStore.write (32 in flight)`, findings.seedMs / 1000, 's', undefined, {
        note: `${formatNumber(findings.instances / (findings.seedMs / 1000))} records/s into dynalite`,
      }),
    ],
    notes: [
      `Setup: settle dev over machines/ (dynalite, fauxqs, the worker, the dashboard) on free ports; ${n} approvals in six stages (draft 10 %, both sign-offs pending 40 %, legal signed 20 %, finance signed 15 %, approved 10 %, rejected 5 %), each a record the worker saved for that stage, cloned under a new key with its update time spread over the last day and written through DynamoStore.write (list and due index fields included).`,
      `Each run opens #/machine/${machine} in a new tab of Debian's chromium (headless, playwright-core) and reads the app's performance marks '${listMark}' and '${fleetMark}': milliseconds from navigation start until the first page of the list, and the fleet counts, were in the DOM (Preact's effects run after paint). One warm-up run first (the diagram's layout is computed once per machine, the app bundled once per process). The list and the counts load in parallel; the counts read every instance of the machine through the list index (its 8 shards each read to the end, in parallel) and draw the diagram with its badges.`,
      'The baselines are the same two requests from Node right after each run: the difference is the browser (parse, render, the other request in flight).',
    ],
    durationMs,
  };
}
