/** Records for the worker core: settle/testing's builder, and sequence numbers as SQS makes them. */
import type { InstanceRecord } from '../../runtime/core/store.ts';

export { sqsRecord as fifoRecord } from '../../testing/index.ts';

/** Sequence numbers as SQS makes them: 20+ digit decimals beyond Number.MAX_SAFE_INTEGER. */
export { sqsSequenceNumber as sequence } from '../../testing/index.ts';

/** A stored instance of the `blob` machine resting in `open`, version 3, for encoding and decoding tests. */
export function instanceRecord(overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    pk: 'blob/b1',
    machine: 'blob',
    machineVersion: 1,
    snapshot: { status: 'active', value: 'open', context: {} },
    status: 'active',
    value: 'open',
    states: ['open'],
    tags: [],
    timers: [],
    version: 3,
    lastSeq: '18000000000000000003',
    outcome: 'resolve',
    wakeAt: undefined,
    wakeShard: undefined,
    history: [],
    letters: [],
    createdAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:05:00.000Z',
    ...overrides,
  };
}
