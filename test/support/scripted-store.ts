import type { InstanceRecord, InstanceStore } from '../../runtime/core/store.ts';

/** Decides, per call (counted from 1), whether a store call fails: return the error to throw, or undefined. */
export type Script<T> = (call: number, subject: T) => Error | undefined;

/**
 * A store over `inner` whose reads and writes fail as the script says, without reaching `inner`;
 * `lands` writes first and then throws (DynamoDB applied it, the response was lost). Counts the calls.
 */
export function scriptedStore(
  inner: InstanceStore,
  script: { read?: Script<string>; write?: Script<InstanceRecord>; lands?: Script<InstanceRecord> },
): { store: InstanceStore; calls: { read: number; write: number } } {
  const calls = { read: 0, write: 0 };
  const store: InstanceStore = {
    read: async (pk) => {
      calls.read += 1;
      const error = script.read?.(calls.read, pk);
      if (error) throw error;
      return inner.read(pk);
    },
    write: async (record, expected) => {
      calls.write += 1;
      const error = script.write?.(calls.write, record);
      if (error) throw error;
      const saved = await inner.write(record, expected);
      const lost = script.lands?.(calls.write, record);
      if (lost) throw lost;
      return saved;
    },
    findDue: (shard, now, limit) => inner.findDue(shard, now, limit),
  };
  return { store, calls };
}
