import { VersionConflictError } from '../../runtime/core/errors.ts';
import type { InstanceStore } from '../../runtime/core/store.ts';

/**
 * A store over `shared` whose first two reads wait for each other, so two workers read the same version
 * before either writes: one write must win, the other must conflict and re-read. Counts the conflicts.
 */
export function racingStore(shared: InstanceStore): { store: InstanceStore; conflicts: () => number } {
  let reads = 0;
  let conflicts = 0;
  let release!: () => void;
  const bothRead = new Promise<void>((resolve) => (release = resolve));
  const store: InstanceStore = {
    read: async (pk) => {
      const found = await shared.read(pk);
      if (++reads === 2) release();
      if (reads <= 2) await bothRead;
      return found;
    },
    write: (record, expected) =>
      shared.write(record, expected).catch((error: unknown) => {
        if (error instanceof VersionConflictError) conflicts += 1;
        throw error;
      }),
    findDue: (shard, now, limit) => shared.findDue(shard, now, limit),
  };
  return { store, conflicts: () => conflicts };
}
