/**
 * `settle check [--registry <module>] [--json]`: the registry's machines checked without running them
 * (analysis/check.ts). Prints each finding on one line, grouped by machine, then a summary; `--json` prints
 * `{ machines, errors, warnings, findings }`.
 *
 * Exit codes (cli/output.ts): 0 when there is no error (warnings alone pass), `exitCodes.checkFailed` (8) when there
 * is one, 2 when the registry cannot be found or loaded.
 *
 * @example
 * npx settle check --registry src/machines.ts
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { type CommandOutput, exitCodes, processOutput, reportFailure } from '../cli/output.ts';
import { defaultRegistryModules } from '../cli/program.ts';
import { loadRegistry } from '../cli/registry-module.ts';
import { RequestError } from '../runtime/core/errors.ts';
import { checkRegistry, findingLines, findingsSummary } from './check.ts';

export interface CheckFlags {
  readonly registry?: string;
  readonly json?: boolean;
}

/** Adds `settle check` to the program. */
export function addCheckCommand(settle: Command): void {
  settle
    .command('check')
    .description(
      "Check the registry's machines without running them: states where an instance cannot settle, actors that cannot be restored, " +
        'reserved event types, timers that are not durable or too long. Exit code 0 without errors (warnings pass), 8 with errors.',
    )
    .option('--registry <module>', `the module that exports your registry (default: the first of ${defaultRegistryModules.join(', ')})`)
    .option('--json', 'print { machines, errors, warnings, findings } as JSON')
    .action(async (flags: CheckFlags) => {
      process.exitCode = await runCheck(flags);
    });
}

/** The registry module: `--registry`, or the first of the default modules in the working folder. */
function registryModule(flags: CheckFlags): string {
  if (flags.registry !== undefined) {
    if (!existsSync(flags.registry)) throw new RequestError('invalid-option', `--registry ${flags.registry} does not exist.`);
    return resolve(flags.registry);
  }
  const found = defaultRegistryModules.find((path) => existsSync(path));
  if (found === undefined) {
    throw new RequestError(
      'not-configured',
      `No registry to check: pass --registry <module> (the module that exports your registry); looked for ${defaultRegistryModules.join(', ')}.`,
    );
  }
  return resolve(found);
}

/** Runs the command; returns its exit code, having printed its answer (or its one line on failure). */
export async function runCheck(flags: CheckFlags, output: CommandOutput = processOutput): Promise<number> {
  try {
    const path = registryModule(flags);
    const registry = await loadRegistry(path).then(
      (loaded) => loaded.registry,
      (error: unknown) => {
        throw new RequestError('invalid-option', `Cannot load the registry ${path}: ${(error as Error).message}`, { cause: error });
      },
    );
    const findings = checkRegistry(registry);
    const machines = Object.keys(registry);
    const errors = findings.filter((finding) => finding.severity === 'error').length;
    if (flags.json === true) {
      output.info(JSON.stringify({ machines, errors, warnings: findings.length - errors, findings }, null, 2));
    } else {
      for (const line of findingLines(findings)) output.info(line);
      output.info(findingsSummary(findings, machines));
    }
    return errors > 0 ? exitCodes.checkFailed : exitCodes.ok;
  } catch (error) {
    return reportFailure(output, error);
  }
}
