/**
 * `settle migrate --dry-run`'s core: runs a registry's `migrate()` over every stored instance saved by another
 * version of its machine, as the worker would on that instance's next event, and reports which would fail and
 * why — before the registry is deployed. Read-only: it lists through the list index (never a Scan), reads each
 * instance of another version, and restores the migrated snapshot into an actor it never starts (no invoked actor
 * runs again, no action, no timer); nothing is written or sent. The listing is not a snapshot of the table: an
 * instance the running worker writes meanwhile moves in the index (sorted by state and update time), and may be
 * listed twice (it is checked once) or, moved behind the listing, not at all.
 *
 * The rule is the worker's own (runtime/core/instance.ts): `currentSnapshot` migrates, `restoreActor` checks the
 * result fits the machine, and each failure carries the code and reason the worker would dead-letter the
 * instance's events with (`unknown-machine-version`, `snapshot-mismatch`, or the payload code of a snapshot that
 * cannot be read).
 *
 * @example
 * const reader = stackReader(client, document, tableName, true); // analysis/migrate-command.ts
 * const report = await dryRunMigrations(reader, nextRegistry, { onProgress: (p) => bar.update(p.checked) });
 * if (report.wouldFail > 0) console.log(report.failures);
 */
import { createActor } from 'xstate';
import { PermanentError, type PermanentCode, RequestError, describeError } from '../runtime/core/errors.ts';
import { currentSnapshot, restoreActor } from '../runtime/core/instance.ts';
import type { InstanceKey } from '../runtime/core/instance-key.ts';
import { type InstanceInput, type MachineDefinition, type MachineRegistry, registeredMachine } from '../runtime/core/registry.ts';
import type { InstanceRecord } from '../runtime/core/store.ts';

/** An instance as the list index shows it: its key and the version that saved it. */
export interface ListedInstance {
  readonly key: string;
  readonly id: string;
  /** The version that saved it; an instance without one is read to find out. */
  readonly machineVersion?: number | undefined;
}

/**
 * What the dry run reads through: the CLI's queries the list index for keys and versions and reads records with
 * `SettleClient.record` (analysis/migrate-command.ts, `stackReader`); tests pass a fake. A `SettleClient` is one too,
 * its summaries without a version: then every instance is read to learn it.
 */
export interface StoredInstanceReader {
  /** A page of a machine's instances through the list index; `cursor` goes on from the previous page. */
  list(options: { readonly machine: string; readonly limit: number; readonly cursor?: string }): Promise<{
    readonly items: readonly ListedInstance[];
    readonly cursor: string | undefined;
  }>;
  /** The stored record, snapshot included (`SettleClient.record`); `undefined` when there is none. */
  record(machine: string, id: string): Promise<InstanceRecord | undefined>;
}

/**
 * Why an instance would fail: `migrate()` threw, or returned nothing for its version (declined), or the machine
 * has no `migrate()`; the migrated (or stored) snapshot does not fit the machine; or its offloaded snapshot cannot
 * be read at all.
 */
export type FailureReason = 'migrate-threw' | 'migrate-declined' | 'no-migrate' | 'snapshot-mismatch' | 'unreadable-snapshot';

export const failureReasons: readonly FailureReason[] = [
  'migrate-threw',
  'migrate-declined',
  'no-migrate',
  'snapshot-mismatch',
  'unreadable-snapshot',
];

/** One instance whose next event the worker would dead-letter once the registry is deployed. */
export interface MigrationFailure {
  readonly key: string;
  readonly machine: string;
  readonly id: string;
  /** The version that saved it. */
  readonly fromVersion: number;
  /** The registry's version of the machine. */
  readonly toVersion: number;
  readonly reason: FailureReason;
  /** The `settle-error` code its dead letters would carry. */
  readonly code: PermanentCode;
  /** For `migrate-threw`: what `migrate()` threw. */
  readonly thrown?: { readonly name: string; readonly message: string };
  /** The worker's reason, as its dead letters would carry it. */
  readonly message: string;
}

/** The instances of one machine saved by one other version. */
export interface VersionTally {
  readonly fromVersion: number;
  readonly checked: number;
  readonly wouldMigrate: number;
  readonly wouldFail: number;
  readonly reasons: Readonly<Partial<Record<FailureReason, number>>>;
}

export interface MachineTally {
  readonly machine: string;
  /** The registry's version. */
  readonly version: number;
  /** Instances the list index holds. */
  readonly listed: number;
  /** Of those, already at the registry's version: nothing to migrate (not checked). */
  readonly current: number;
  /** Listed, but gone when read. */
  readonly gone: number;
  /** One per older (or newer) version found, by version. */
  readonly versions: readonly VersionTally[];
}

export interface MigrationReport {
  readonly machines: readonly MachineTally[];
  /** Every instance that would fail, by machine, version and key. */
  readonly failures: readonly MigrationFailure[];
  readonly listed: number;
  /** Instances of another version, read and migrated. */
  readonly checked: number;
  readonly wouldMigrate: number;
  readonly wouldFail: number;
}

export interface DryRunProgress {
  /** The machine being listed. */
  readonly machine: string;
  /** Instances listed so far, every machine. */
  readonly listed: number;
  /** Of those, of another version than the registry's: to be read (or read). */
  readonly toCheck: number;
  readonly checked: number;
  readonly wouldFail: number;
}

export interface DryRunOptions {
  /** Only this machine (it must be in the registry). @default every machine of the registry */
  readonly machine?: string;
  /** Instances read at once. @default 16 */
  readonly concurrency?: number;
  /** Instances per page of the list index (1–1,000). @default 1000 */
  readonly pageSize?: number;
  /** Called as pages are listed and instances checked. */
  readonly onProgress?: (progress: DryRunProgress) => void;
}

/** What the dry run finds for one stored instance. */
export type InstanceVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: FailureReason;
      readonly error: PermanentError;
      readonly thrown?: { readonly name: string; readonly message: string };
    };

const defaultConcurrency = 16;
const defaultPageSize = 1000;

/**
 * Checks one stored record against `definition` as `InstanceSession.open` does — migrate, then restore — without
 * starting the actor. Pure: no I/O; `migrate()` is the registry's own code, and runs as it would in the worker.
 */
export function checkMigration(definition: MachineDefinition, key: InstanceKey, record: InstanceRecord): InstanceVerdict {
  if (record.unreadableSnapshot) return { ok: false, reason: 'unreadable-snapshot', error: record.unreadableSnapshot };
  let called = false;
  let thrown: { name: string; message: string } | undefined;
  const { migrate } = definition;
  // The same definition, its migrate() watched: the worker's errors say what happened, this says which case it was.
  const watched: MachineDefinition = migrate
    ? {
        ...definition,
        migrate: (snapshot, fromVersion) => {
          called = true;
          try {
            return migrate.call(definition, snapshot, fromVersion);
          } catch (error) {
            thrown = describeError(error);
            throw error;
          }
        },
      }
    : definition;
  try {
    const snapshot = currentSnapshot(record, watched, key);
    const input: InstanceInput = { instanceId: key.instanceId, instanceKey: key.key };
    // Created from the snapshot and checked, never started: starting would run its invoked actors again.
    restoreActor(definition, key, snapshot, (restored) => createActor(definition.machine, { input, snapshot: restored }));
    return { ok: true };
  } catch (error) {
    if (!(error instanceof PermanentError)) throw error;
    if (error.code === 'unknown-machine-version') {
      if (thrown) return { ok: false, reason: 'migrate-threw', error, thrown };
      return { ok: false, reason: called ? 'migrate-declined' : 'no-migrate', error };
    }
    return { ok: false, reason: 'snapshot-mismatch', error };
  }
}

/**
 * Lists every instance of the registry's machines (or `options.machine`) through the list index, page by page,
 * reads those saved by another version than the registry's (`options.concurrency` at once), and checks each with
 * {@link checkMigration}. Nothing is written. Throws a {@link RequestError} for bad options; a failed read (an AWS
 * error) stops the run and is thrown.
 */
export async function dryRunMigrations(
  reader: StoredInstanceReader,
  registry: MachineRegistry,
  options: DryRunOptions = {},
): Promise<MigrationReport> {
  const concurrency = options.concurrency ?? defaultConcurrency;
  const pageSize = options.pageSize ?? defaultPageSize;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new RequestError('invalid-option', `concurrency must be a whole number from 1 to 256, got ${concurrency}.`);
  }
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    throw new RequestError('invalid-option', `pageSize must be a whole number from 1 to 1000, got ${pageSize}.`);
  }
  const machines = options.machine === undefined ? Object.keys(registry).sort() : [options.machine];
  if (options.machine !== undefined && !registeredMachine(registry, options.machine)) {
    const known = Object.keys(registry);
    throw new RequestError(
      'invalid-option',
      `No machine '${options.machine}' in the registry: ${known.length === 0 ? 'it registers none' : `it has ${known.join(', ')}`}.`,
    );
  }

  const totals = { listed: 0, toCheck: 0, checked: 0, wouldFail: 0 };
  const failures: MigrationFailure[] = [];
  const tallies: MachineTally[] = [];
  for (const machine of machines) {
    const definition = registeredMachine(registry, machine) as MachineDefinition;
    const tally = { listed: 0, current: 0, gone: 0 };
    const versions = new Map<number, { checked: number; wouldFail: number; reasons: Partial<Record<FailureReason, number>> }>();
    /** Keys already taken: an instance updated while the listing runs moves in the index and may be listed again. */
    const seen = new Set<string>();
    const progress = () => options.onProgress?.({ machine, ...totals });

    const check = async (listed: ListedInstance): Promise<void> => {
      const record = await reader.record(machine, listed.id);
      if (!record) {
        tally.gone += 1;
      } else if (record.machineVersion === definition.version) {
        tally.current += 1; // migrated since it was listed (the index lags its item), or listed without a version
      } else {
        const key: InstanceKey = { key: record.pk, machine, instanceId: listed.id };
        const verdict = checkMigration(definition, key, record);
        const entry = versions.get(record.machineVersion) ?? { checked: 0, wouldFail: 0, reasons: {} };
        versions.set(record.machineVersion, entry);
        entry.checked += 1;
        totals.checked += 1;
        if (!verdict.ok) {
          entry.wouldFail += 1;
          entry.reasons[verdict.reason] = (entry.reasons[verdict.reason] ?? 0) + 1;
          totals.wouldFail += 1;
          failures.push({
            key: record.pk,
            machine,
            id: listed.id,
            fromVersion: record.machineVersion,
            toVersion: definition.version,
            reason: verdict.reason,
            code: verdict.error.code,
            ...(verdict.thrown ? { thrown: verdict.thrown } : {}),
            message: verdict.error.message,
          });
        }
      }
      progress();
    };

    let page = await reader.list({ machine, limit: pageSize });
    for (;;) {
      const candidates: ListedInstance[] = [];
      for (const item of page.items) {
        if (seen.has(item.key)) continue;
        seen.add(item.key);
        tally.listed += 1;
        totals.listed += 1;
        if (item.machineVersion === definition.version) tally.current += 1;
        else candidates.push(item);
      }
      totals.toCheck += candidates.length;
      progress();
      // The next page is listed while this one's instances are read.
      const cursor = page.cursor;
      const next = cursor === undefined ? undefined : reader.list({ machine, limit: pageSize, cursor });
      next?.catch(() => undefined); // awaited below; a failure of this page's reads must not leave it unhandled
      await inParallel(candidates, concurrency, check);
      if (!next) break;
      page = await next;
    }

    tallies.push({
      machine,
      version: definition.version,
      listed: tally.listed,
      current: tally.current,
      gone: tally.gone,
      versions: [...versions.entries()]
        .sort(([a], [b]) => a - b)
        .map(([fromVersion, entry]) => ({
          fromVersion,
          checked: entry.checked,
          wouldMigrate: entry.checked - entry.wouldFail,
          wouldFail: entry.wouldFail,
          reasons: entry.reasons,
        })),
    });
  }

  failures.sort((a, b) =>
    a.machine !== b.machine
      ? a.machine < b.machine
        ? -1
        : 1
      : a.fromVersion !== b.fromVersion
        ? a.fromVersion - b.fromVersion
        : a.key < b.key
          ? -1
          : a.key > b.key
            ? 1
            : 0,
  );
  return {
    machines: tallies,
    failures,
    listed: totals.listed,
    checked: totals.checked,
    wouldMigrate: totals.checked - totals.wouldFail,
    wouldFail: totals.wouldFail,
  };
}

/** Runs `work` over `items`, at most `limit` at once; the first failure stops taking new items and is thrown. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
