/**
 * Crash injection and concurrency over the local stack (issue 5): emulators in this process, worker
 * child processes SIGKILLed at chosen points (after the read, after the side effect, before and after
 * the write, after a dead letter, mid-batch, at random moments) and restarted while events flow,
 * several pollers on one queue, and forced double delivery (a receive VisibilityTimeout shorter than a
 * slow side effect). Afterwards every instance must hold exactly the events sent to it, once each, in
 * order; every poison event must be in the DLQ with its reason.
 *
 * `npm test` runs a bounded slice; `npm run test:chaos` (SETTLE_CHAOS=long) the long run whose figures
 * are in docs/RELIABILITY.md. SETTLE_CHAOS_SEED reproduces a run's event and kill plan.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ChaosRun, type ChaosOptions, type ChaosReport } from './harness.ts';

const long = process.env.SETTLE_CHAOS === 'long';
const seed = Number(process.env.SETTLE_CHAOS_SEED ?? Date.now() % 1_000_000);

const bounded: ChaosOptions = {
  events: 2_000,
  instances: 50,
  workers: 3,
  pollLoops: 2,
  minKills: 10,
  meanLife: 120,
  externalKillIntervalMs: 4_000,
  poisonShare: 0.02,
  slowShare: 0.01,
  slowMs: 2_500,
  visibilitySeconds: 2,
  resendShare: 0.005,
  maxBacklog: 200,
  seed,
  drainTimeoutMs: 60_000,
};

const longRun: ChaosOptions = {
  ...bounded,
  events: 100_000,
  instances: 1_000,
  workers: 4,
  minKills: 500,
  meanLife: 150,
  externalKillIntervalMs: 3_000,
  slowShare: 0.002,
  maxBacklog: 1_500,
  drainTimeoutMs: 300_000,
};

const options = long ? longRun : bounded;

function describeReport(report: ChaosReport): string {
  return JSON.stringify(report, null, 2);
}

describe('crash injection and concurrency (local stack, worker child processes)', () => {
  const run = new ChaosRun({ ...options, log: (message) => console.log(message) });

  afterAll(async () => {
    await run.dispose();
  });

  it(
    `keeps every instance equal to exactly the events sent to it while workers are SIGKILLed (${options.events} events, ${options.instances} instances)`,
    async () => {
      let report: ChaosReport;
      try {
        report = await run.execute();
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${run.diagnostics()}`, { cause: error });
      }
      console.log(`chaos run (seed ${seed}):\n${describeReport(report)}`);
      if (process.env.SETTLE_CHAOS_REPORT) await writeFile(process.env.SETTLE_CHAOS_REPORT, `${describeReport(report)}\n`);

      // The invariants.
      expect(report.lost, 'events lost').toBe(0);
      expect(report.doubleApplied, 'events applied twice').toBe(0);
      expect(report.orderViolations, 'events applied out of order').toBe(0);
      expect(report.unexpected, 'entries no event explains').toBe(0);
      expect(report.lastSeqMismatches, 'instances whose lastSeq is not their last event').toBe(0);
      expect(report.wronglyDeadLettered, 'good events dead-lettered').toBe(0);
      expect(report.deadLettered.missing, 'poison events missing from the DLQ').toBe(0);
      expect(report.deadLettered.wrongReason, 'poison events with the wrong reason').toBe(0);
      expect(report.sideEffects.missing, 'applied events whose side effect never ran').toBe(0);
      // The faults happened: a run without them would prove nothing.
      expect(report.events).toBe(options.events);
      expect(report.kills.total).toBeGreaterThanOrEqual(options.minKills);
      expect(Object.values(report.kills.byPoint).filter((count) => count > 0).length, 'kill points that fired').toBeGreaterThanOrEqual(5);
      expect(report.duplicatesDelivered).toBeGreaterThan(0);
      expect(report.slowEventsRedelivered, 'slow events a second consumer received').toBeGreaterThan(0);
      expect(report.conflicts).toBeGreaterThan(0);
      expect(report.sideEffects.reRuns).toBeGreaterThan(0);
    },
    long ? 3_600_000 : 150_000,
  );
});
