/**
 * `settle migrate --dry-run --registry <module> [--machine <m>] [--json]`: before deploying a registry, runs its
 * `migrate()` over every stored instance of an older (or newer) version, read-only (analysis/migrate-dry-run.ts),
 * and reports which instances would fail and why, with counts per machine and version. There is no other mode:
 * the worker migrates each instance lazily, on its next event, so `--dry-run` is required.
 *
 * The stack is found as the other client commands find it (`--stack`, the SETTLE_* settings, or a running `settle
 * dev`); its payload bucket is needed for offloaded snapshots. A progress bar goes to stderr (not with `--json`).
 *
 * Exit codes (cli/output.ts): 0 when every instance would migrate; `exitCodes.deadLettered` (5) when some would
 * fail — their next events would be dead-lettered; 2 for bad arguments, no `--dry-run`, a registry that does not
 * load, or an unknown machine; 1 when reading the stack fails.
 *
 * @example
 * npx settle migrate --dry-run --registry src/machines.ts --stack orders-prod
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';
import { connectionOptionsOf, withConnectionFlags } from '../cli/connection-flags.ts';
import { awsCall } from '../client/aws-errors.ts';
import { connectionClients, resolveConnection, type ConnectionOptions } from '../client/connection.ts';
import { SettleClient } from '../client/settle-client.ts';
import { type CommandOutput, exitCodes, processOutput, reportFailure, table } from '../cli/output.ts';
import { loadRegistry } from '../cli/registry-module.ts';
import { RequestError } from '../runtime/core/errors.ts';
import { listShardKeys } from '../runtime/core/listing.ts';
import { tableDefinition } from '../runtime/core/resources.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import {
  dryRunMigrations,
  failureReasons,
  type MigrationFailure,
  type MigrationReport,
  type StoredInstanceReader,
} from './migrate-dry-run.ts';

export interface MigrateFlags extends ConnectionOptions {
  readonly dryRun?: boolean;
  readonly registry?: string;
  readonly machine?: string;
  readonly json?: boolean;
  readonly concurrency?: string;
}

/** Where the command writes: its answer, the one line of a failure, and the progress bar's stream. */
export interface MigrateOutput extends CommandOutput {
  /** The progress bar's stream; `undefined`: no bar. @default process.stderr */
  readonly progress?: NodeJS.WritableStream | undefined;
}

const migrateOutput: MigrateOutput = { ...processOutput, progress: process.stderr };

/** Failures listed by the human answer; `--json` has them all. */
const shownFailures = 50;

/** Adds `settle migrate` to the program. */
export function addMigrateCommand(settle: Command): void {
  withConnectionFlags(settle.command('migrate'))
    .description(
      'Before deploying a registry: run its migrate() over every stored instance of another version, read-only (--dry-run, required), and report which would fail and why. The worker migrates each instance on its next event; nothing here writes. Exit code 0 when all would migrate, 5 when some would fail.',
    )
    .option('--dry-run', 'check only (the only mode): nothing is written, no actor is started')
    .option('--registry <module>', 'the registry you are about to deploy')
    .option('--machine <name>', 'only this machine (default: every machine of the registry)')
    .option('--concurrency <n>', 'instances read at once', '16')
    .option('--json', 'print the report as JSON: { machines, failures, listed, checked, wouldMigrate, wouldFail }')
    .action(async (flags: MigrateFlags) => {
      process.exitCode = await runMigrate(flags);
    });
}

/** Checked before the stack is looked up: a mistake in what was typed is named first. */
async function checkedArguments(flags: MigrateFlags): Promise<{ registry: MachineRegistry; path: string; concurrency: number }> {
  if (flags.dryRun !== true) {
    throw new RequestError(
      'invalid-option',
      'migrate has only a dry run: pass --dry-run (the worker migrates each instance itself, on its next event, once the registry is deployed).',
    );
  }
  if (flags.registry === undefined) {
    throw new RequestError('invalid-option', 'Give the registry you are about to deploy: settle migrate --dry-run --registry <module>.');
  }
  if (!existsSync(flags.registry)) throw new RequestError('invalid-option', `--registry ${flags.registry} does not exist.`);
  const concurrency = Number(flags.concurrency ?? '16');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new RequestError('invalid-option', `--concurrency must be a whole number from 1 to 256, got '${flags.concurrency}'.`);
  }
  const path = resolve(flags.registry);
  const registry = await loadRegistry(path).then(
    (loaded) => loaded.registry,
    (error: unknown) => {
      throw new RequestError('invalid-option', `Cannot load the registry ${path}: ${(error as Error).message}`, { cause: error });
    },
  );
  return { registry, path, concurrency };
}

/** Runs the command; returns its exit code, having printed its answer (or its one line on failure). */
export async function runMigrate(flags: MigrateFlags, output: MigrateOutput = migrateOutput): Promise<number> {
  let client: SettleClient | undefined;
  let bar: SingleBar | undefined;
  try {
    const { registry, concurrency } = await checkedArguments(flags);
    const connection = await resolveConnection(connectionOptionsOf(flags));
    const { sqs, dynamodb, payloads } = connectionClients(connection);
    client = new SettleClient({ ...connection, sqs, dynamodb, payloads });
    const reader = stackReader(client, dynamodb, connection.tableName, connection.bucketName !== undefined);

    const report = await dryRunMigrations(reader, registry, {
      concurrency,
      ...(flags.machine === undefined ? {} : { machine: flags.machine }),
      onProgress: (progress) => {
        // Started at the first progress, once the options have passed: a refusal is one line, with no bar before it.
        if (!bar && flags.json !== true && output.progress) {
          bar = new SingleBar({
            format: 'checked [{bar}] {value}/{total} {percentage}% | listed {listed} | would fail {failing} | {duration}s',
            stream: output.progress,
            noTTYOutput: true,
            notTTYSchedule: 1000,
            hideCursor: true,
          });
          bar.start(progress.toCheck, progress.checked, { listed: progress.listed, failing: progress.wouldFail });
        }
        bar?.setTotal(progress.toCheck);
        bar?.update(progress.checked, { listed: progress.listed, failing: progress.wouldFail });
      },
    });
    bar?.stop();
    bar = undefined;

    if (flags.json === true) output.info(JSON.stringify(report, null, 2));
    else for (const line of reportLines(report)) output.info(line);
    return report.wouldFail > 0 ? exitCodes.deadLettered : exitCodes.ok;
  } catch (error) {
    bar?.stop();
    return reportFailure(output, error);
  } finally {
    client?.destroy();
  }
}

/**
 * The dry run's reader over a stack. Keys and versions come from the list index (docs/DESIGN.md, "Listing"), shard by
 * shard, each page as DynamoDB pages it, with only `pk` and `machineVersion` projected: every instance is read from
 * the index once (`SettleClient.list`'s summaries carry no version, and its ordered merge re-reads each shard per
 * page). Records come from {@link SettleClient.record}. Without a payload bucket an offloaded snapshot cannot be
 * read: that is this command's configuration, not the instance's failure, so the run stops and says what to pass.
 */
export function stackReader(
  client: SettleClient,
  document: DynamoDBDocumentClient,
  tableName: string,
  hasBucket: boolean,
): StoredInstanceReader {
  const { listIndex } = tableDefinition;
  return {
    list: async ({ machine, limit, cursor }) => {
      const shards = listShardKeys(machine);
      const at = cursor === undefined ? { shard: 0 } : (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as IndexCursor);
      const page = await awsCall(`list the instances of ${machine}`, () =>
        document.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: listIndex.name,
            KeyConditionExpression: '#shard = :shard',
            ProjectionExpression: 'pk, #version',
            ExpressionAttributeNames: { '#shard': listIndex.partitionKey.name, '#version': 'machineVersion' },
            ExpressionAttributeValues: { ':shard': shards[at.shard] },
            ...(at.startKey === undefined ? {} : { ExclusiveStartKey: at.startKey }),
            Limit: limit,
          }),
        ),
      );
      const items = (page.Items ?? []).map((item) => {
        const key = String(item.pk);
        const version = item.machineVersion;
        return { key, id: key.slice(key.indexOf('/') + 1), ...(typeof version === 'number' ? { machineVersion: version } : {}) };
      });
      const next: IndexCursor | undefined =
        page.LastEvaluatedKey !== undefined
          ? { shard: at.shard, startKey: page.LastEvaluatedKey }
          : at.shard + 1 < shards.length
            ? { shard: at.shard + 1 }
            : undefined;
      return { items, cursor: next === undefined ? undefined : Buffer.from(JSON.stringify(next)).toString('base64url') };
    },
    record: async (machine, id) => {
      const record = await client.record(machine, id);
      if (record?.snapshotRef && record.unreadableSnapshot && !hasBucket) {
        throw new RequestError(
          'not-configured',
          `The snapshot of ${record.pk} is in the payload bucket, and no bucket was given: pass --bucket <name> (or SETTLE_BUCKET), or connect with --stack.`,
        );
      }
      return record;
    },
  };
}

/** Where a listing goes on from: a shard of the machine's, and where in it. */
interface IndexCursor {
  readonly shard: number;
  readonly startKey?: Record<string, unknown>;
}

/** The human answer: a table per machine and version, the first failures, and a last line with the totals. */
export function reportLines(report: MigrationReport): string[] {
  const lines: string[] = [];
  const rows = report.machines.flatMap((machine) => [
    [machine.machine, `v${machine.version}`, 'current', String(machine.current), '-', '-', ''],
    ...machine.versions.map((version) => [
      machine.machine,
      `v${machine.version}`,
      `v${version.fromVersion}`,
      String(version.checked),
      String(version.wouldMigrate),
      String(version.wouldFail),
      failureReasons
        .filter((reason) => (version.reasons[reason] ?? 0) > 0)
        .map((reason) => `${reason} ${version.reasons[reason]}`)
        .join(', '),
    ]),
    ...(machine.gone > 0 ? [[machine.machine, `v${machine.version}`, 'gone', String(machine.gone), '-', '-', 'deleted since listed']] : []),
  ]);
  lines.push(table(['MACHINE', 'REGISTRY', 'SAVED BY', 'INSTANCES', 'WOULD MIGRATE', 'WOULD FAIL', 'REASONS'], rows, 80));
  if (report.failures.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['INSTANCE', 'FROM', 'REASON', 'CODE', 'DETAIL'],
        report.failures
          .slice(0, shownFailures)
          .map((failure) => [failure.key, `v${failure.fromVersion}`, failure.reason, failure.code, detailOf(failure)]),
        100,
      ),
    );
    if (report.failures.length > shownFailures) {
      lines.push(`… and ${report.failures.length - shownFailures} more (--json lists them all)`);
    }
  }
  lines.push('');
  const instances = (count: number) => `${count} instance${count === 1 ? '' : 's'}`;
  lines.push(
    report.checked === 0
      ? `${instances(report.listed)} listed, all at the registry's version: nothing to migrate.`
      : `${instances(report.listed)} listed; ${instances(report.checked)} of another version checked: ${report.wouldMigrate} would migrate, ` +
          `${report.wouldFail} would fail${report.wouldFail > 0 ? ' (their next events would be dead-lettered with the code shown)' : ''}. Nothing was written.`,
  );
  return lines;
}

/** A failure's detail in a table cell: what migrate() threw, or the worker's reason without the part the row shows. */
function detailOf(failure: MigrationFailure): string {
  switch (failure.reason) {
    case 'migrate-threw':
      return `${failure.thrown?.name}: ${failure.thrown?.message}`;
    case 'migrate-declined':
      return `migrate() returned nothing for version ${failure.fromVersion}`;
    case 'no-migrate':
      return `machine '${failure.machine}' has no migrate()`;
    default:
      return failure.message.replace(/^The stored snapshot of \S+ does not fit machine '[^']+' version \d+: /, '');
  }
}
