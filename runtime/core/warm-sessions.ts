import type { InstanceSession } from './instance.ts';
import type { MachineDefinition } from './registry.ts';
import type { InstanceRecord } from './store.ts';

/** What a warm Lambda may keep: how many instances, and how large a snapshot each (by its JSON's upper bound). */
export interface WarmLimits {
  /** 0 keeps none: every batch restores its instances from their items. */
  readonly maxInstances: number;
  /** A session whose snapshot's JSON may be larger is never kept: restoring it costs little next to reading it. */
  readonly maxSnapshotBytes: number;
}

interface Kept {
  readonly session: InstanceSession;
  readonly definition: MachineDefinition;
  readonly version: number;
  readonly updatedAt: string;
}

/**
 * Settled sessions kept from one batch to the next in a warm worker (docs/DESIGN.md, "Warm instances"), as a
 * workflow engine keeps a sticky cache: an instance whose item still holds exactly what this worker wrote —
 * the same `version` and `updatedAt`, saved by the same machine definition — goes on with its live actor
 * instead of restoring one from the snapshot. The item is still read first, so a write by another worker, a
 * migration or a failed write is always seen, and the session is dropped. Only sessions that hold no children
 * are kept (a child's promise or callback would run between batches, outside any write).
 *
 * Least recently kept first out; a session is handed to one group at a time (taking it removes it).
 */
export class WarmSessions {
  private readonly kept = new Map<string, Kept>();

  constructor(readonly limits: WarmLimits) {}

  /** The session kept for `key`, if `stored` is still the item it wrote; otherwise none, and a stale one is stopped. */
  take(key: string, stored: InstanceRecord | undefined, definition: MachineDefinition): InstanceSession | undefined {
    const kept = this.kept.get(key);
    if (!kept) return undefined;
    this.kept.delete(key);
    if (
      stored !== undefined &&
      stored.unreadableSnapshot === undefined &&
      kept.definition === definition &&
      kept.version === stored.version &&
      kept.updatedAt === stored.updatedAt
    ) {
      return kept.session;
    }
    kept.session.stop();
    return undefined;
  }

  /**
   * Keeps `session` after the write that saved it as `written`, if it may be kept. Returns false when it was not
   * (the caller stops it).
   */
  keep(key: string, written: InstanceRecord, definition: MachineDefinition, session: InstanceSession): boolean {
    if (this.limits.maxInstances === 0 || !session.keepable(this.limits.maxSnapshotBytes)) return false;
    this.kept.set(key, { session, definition, version: written.version, updatedAt: written.updatedAt });
    if (this.kept.size > this.limits.maxInstances) {
      for (const [oldest, { session: evicted }] of this.kept) {
        this.kept.delete(oldest);
        evicted.stop();
        break;
      }
    }
    return true;
  }

  get size(): number {
    return this.kept.size;
  }

  /** Stops every kept session (a registry reload, a test's end). */
  clear(): void {
    for (const { session } of this.kept.values()) session.stop();
    this.kept.clear();
  }
}
