/**
 * The event streams and batch shapes every section feeds, so that the worker, the live actor and
 * the naive baseline see exactly the same events in the same batches.
 */
import type { SQSRecord } from 'aws-lambda';
import type { EventObject } from 'xstate';
import { wakeEventType } from '../runtime/core/resources.ts';
import { sqsRecord as fifoRecord, sqsSequenceNumber as sequence } from '../testing/index.ts';

/** One step of an instance's stream: an outside event, or "the pending timer is due". */
export type Step =
  | { readonly kind: 'event'; readonly event: EventObject & Record<string, unknown> }
  /** `eventType`: what XState's own scheduler would deliver; `delayMs`: how far a simulated clock must move. */
  | { readonly kind: 'timer'; readonly eventType: string; readonly delayMs: number };

export const exampleMachines = ['counter', 'approval', 'signup', 'payment'] as const;
export type ExampleMachine = (typeof exampleMachines)[number];

const event = (e: EventObject & Record<string, unknown>): Step => ({ kind: 'event', event: e });
const cycle =
  (steps: readonly Step[]) =>
  (n: number): Step =>
    steps[n % steps.length] as Step;

/**
 * Streams that keep each machine busy for any number of events (nothing lands in a final state):
 * - counter: `COUNT` forever (two invoked promise steps per event);
 * - approval: `SUBMIT`, then `APPROVE` (legal) / `REJECT` (finance) / `RESUBMIT` — parallel regions, an
 *   invoked budget check on each entry to review, two durable timers stored on each entry;
 * - signup: `REGISTER` with a bad address, then `RETRY` / `REGISTER` — each runs the e-mail promise, which rejects;
 * - payment: `CHECKOUT`, then the 15-minute window expires (a durable timer, delivered by `settle.wake`), `CHECKOUT` again.
 */
export const streams: Record<ExampleMachine, (n: number) => Step> = {
  counter: () => event({ type: 'COUNT' }),
  approval: (n) =>
    n === 0
      ? event({ type: 'SUBMIT', by: 'ana' })
      : cycle([
          event({ type: 'APPROVE', role: 'legal', by: 'lee' }),
          event({ type: 'REJECT', role: 'finance', by: 'fin', reason: 'over budget' }),
          event({ type: 'RESUBMIT', by: 'ana' }),
        ])(n - 1),
  signup: (n) =>
    n === 0
      ? event({ type: 'REGISTER', email: 'not-an-address' })
      : cycle([event({ type: 'RETRY' }), event({ type: 'REGISTER', email: 'still-not-an-address' })])(n - 1),
  payment: cycle([
    event({ type: 'CHECKOUT', amount: 42 }),
    { kind: 'timer', eventType: 'xstate.after.paymentWindow.payment.awaitingPayment', delayMs: 15 * 60 * 1000 },
  ]),
};

/**
 * The worker's clock in benchmarks: every reading moves 16 minutes on, so a timer stored by one event
 * (the payment window is 15 minutes) is due when the next `settle.wake` of its instance arrives.
 */
export function steppingClock(start = Date.parse('2026-01-01T00:00:00Z'), stepMs = 16 * 60 * 1000): () => number {
  let now = start;
  return () => (now += stepMs);
}

/** How a Lambda batch is cut: `groups` instances per batch, `recordsPerGroup` consecutive events of each. */
export interface Shape {
  readonly name: string;
  readonly groups: number;
  readonly recordsPerGroup: number;
}

export const shapeOf = (groups: number, recordsPerGroup: number): Shape => ({
  name: `${groups} group${groups === 1 ? '' : 's'} × ${recordsPerGroup} record${recordsPerGroup === 1 ? '' : 's'}`,
  groups,
  recordsPerGroup,
});

export interface Instance {
  readonly machine: string;
  readonly instanceId: string;
  /** `<machine>/<instanceId>`, the message group id. */
  readonly key: string;
  /** The stream this instance follows. */
  readonly stream: (n: number) => Step;
}

export function instance(machine: string, instanceId: string, stream: (n: number) => Step): Instance {
  return { machine, instanceId, key: `${machine}/${instanceId}`, stream };
}

/** One event of a plan: which instance, which step of its stream, and the SQS sequence number it travels with. */
export interface Planned {
  readonly instance: Instance;
  readonly index: number;
  readonly seq: bigint;
  readonly step: Step;
}

/** A batch: groups (instances) in the order SQS hands them over, each with its records in order. */
export type PlannedBatch = readonly (readonly Planned[])[];

/**
 * Cuts `eventsPerInstance` events of each instance into batches of the given shape, in an order a FIFO
 * queue could deliver them (an instance's events in order, never two batches of one instance at once).
 * Sequence numbers grow across the whole plan, starting after `firstSeq`.
 */
export function plan(instances: readonly Instance[], eventsPerInstance: number, shape: Shape, firstSeq = 0): PlannedBatch[] {
  const batches: PlannedBatch[] = [];
  let seq = firstSeq;
  for (let from = 0; from < eventsPerInstance; from += shape.recordsPerGroup) {
    const to = Math.min(eventsPerInstance, from + shape.recordsPerGroup);
    for (let first = 0; first < instances.length; first += shape.groups) {
      batches.push(
        instances.slice(first, first + shape.groups).map((inst) => {
          const group: Planned[] = [];
          for (let index = from; index < to; index += 1) {
            seq += 1;
            group.push({ instance: inst, index, seq: sequence(seq), step: inst.stream(index) });
          }
          return group;
        }),
      );
    }
  }
  return batches;
}

export function countEvents(batches: readonly PlannedBatch[]): number {
  let events = 0;
  for (const batch of batches) for (const group of batch) events += group.length;
  return events;
}

/** The message body a step travels as: the event itself, or the sweeper's wake-up for a due timer. */
export function bodyOf(step: Step): string {
  // Far ahead: the worker caps it at its own clock plus its tolerance, so "whatever is due now".
  return step.kind === 'event' ? JSON.stringify(step.event) : JSON.stringify({ type: wakeEventType, wakeAt: Number.MAX_SAFE_INTEGER });
}

/** The batches as Lambda-shaped SQS FIFO records (built before timing starts). */
export function toRecords(batches: readonly PlannedBatch[]): SQSRecord[][] {
  return batches.map((batch) => batch.flatMap((group) => group.map((p) => fifoRecord(p.instance.key, p.seq, bodyOf(p.step)))));
}
