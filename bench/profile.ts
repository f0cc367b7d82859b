/**
 * Runs the worker core alone on one machine and batch shape, for a CPU profile of the hot path.
 *
 * @example
 * node --cpu-prof --cpu-prof-dir=bench/results/profiles --import tsx bench/profile.ts payment 1x10 20
 * node --cpu-prof --cpu-prof-dir=bench/results/profiles --import tsx bench/profile.ts payment 1x1 20 naive   # the naive loop instead ('cold': the worker restoring on every batch)
 * npx tsx bench/profile-summary.ts bench/results/profiles/<file>.cpuprofile
 */
import { registry } from '../machines/index.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { NaiveRuntime, runBatches } from './baselines.ts';
import { runWorker, workerCore } from './sections/cpu.ts';
import { exampleMachines, instance, plan, shapeOf, streams, toRecords, type ExampleMachine } from './workloads.ts';

const [machineArg = 'counter', shapeArg = '1x10', roundsArg = '20', contender = 'worker'] = process.argv.slice(2);
if (!exampleMachines.includes(machineArg as ExampleMachine)) throw new Error(`machine must be one of ${exampleMachines.join(', ')}`);
const machine = machineArg as ExampleMachine;
const [groups = 1, perGroup = 10] = shapeArg.split('x').map(Number);
const instances = Array.from({ length: 10 }, (_, i) => instance(machine, `p-${i}`, streams[machine]));
const batches = plan(instances, 100, shapeOf(groups, perGroup));
const records = toRecords(batches);
const runRound =
  contender === 'naive'
    ? async () => {
        const naive = new NaiveRuntime(registry, new MemoryStore());
        await runBatches(batches, (p) => naive.apply(p));
      }
    : () => runWorker(workerCore(registry, { warm: contender !== 'cold' }), records);

const started = performance.now();
for (let round = 0; round < Number(roundsArg); round += 1) await runRound();
const elapsed = performance.now() - started;
console.log(
  `${contender} ${machine} ${shapeArg}: ${roundsArg} rounds of 1000 events in ${elapsed.toFixed(0)} ms (${((Number(roundsArg) * 1000) / elapsed) * 1000} events/s)`,
);
