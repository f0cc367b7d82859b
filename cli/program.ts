/**
 * The `settle` command's arguments and subcommands; `bin.ts` runs it.
 *
 * @example
 * npx settle dev --registry ./src/machines.ts
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { addCheckCommand } from '../analysis/check-command.ts';
import { addExplainCommand } from '../analysis/explain-command.ts';
import { addMigrateCommand } from '../analysis/migrate-command.ts';
import { addDiagramCommand } from '../diagram/command.ts';
import { addClientCommands } from './client-commands.ts';
import { runDev, type DevOptions } from './dev.ts';

/** Where `settle dev` looks for the registry when `--registry` is not given. */
export const defaultRegistryModules = ['machines/index.ts', 'src/machines.ts', 'machines.ts'] as const;

interface RawDevOptions {
  readonly registry?: string;
  readonly sqsPort?: string;
  readonly dynamodbPort?: string;
  readonly apiPort?: string;
  readonly dynamodbLocal?: boolean;
  readonly watch?: boolean;
}

/** `settle dev`'s flags over the environment (flags win), checked at once, naming every problem. */
export function devOptions(raw: RawDevOptions, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): DevOptions {
  const problems: string[] = [];
  const port = (flag: string, given: string | undefined, variable: string, fallback: number): number => {
    const text = given ?? env[variable]?.trim();
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || value > 65_535) {
      problems.push(`${given === undefined ? variable : flag} must be a port from 0 to 65535, got '${text}'`);
    }
    return value;
  };
  const sqsPort = port('--sqs-port', raw.sqsPort, 'SETTLE_SQS_PORT', 9324);
  const dynamodbPort = port('--dynamodb-port', raw.dynamodbPort, 'SETTLE_DYNAMODB_PORT', 8000);
  const apiPort = port('--api-port', raw.apiPort, 'SETTLE_API_PORT', 3000);
  const registry = raw.registry ?? defaultRegistryModules.find((path) => exists(path));
  if (registry === undefined) {
    problems.push(`no registry module: pass --registry <module> (looked for ${defaultRegistryModules.join(', ')})`);
  } else if (!exists(registry)) {
    problems.push(`--registry ${registry} does not exist`);
  }
  if (problems.length > 0) throw new Error(`settle dev: ${problems.join('; ')}.`);
  return {
    registry: registry as string,
    sqsPort,
    dynamodbPort,
    apiPort,
    dynamodbLocal: raw.dynamodbLocal === true,
    watch: raw.watch !== false,
  };
}

export function program(): Command {
  // exitOverride before the subcommands, so that they inherit it: bin.ts maps usage errors to exit code 2.
  const settle = new Command('settle').description('Durable XState machines on AWS serverless.').exitOverride();
  settle
    .command('dev')
    .description(
      'Run your machines on the local stack: SQS and DynamoDB emulators on 127.0.0.1, the worker, the timer sweeper and the HTTP API. ' +
        'The worker reloads when a file of the registry changes; the instances stay.',
    )
    .option('--registry <module>', `the module that exports your registry (default: the first of ${defaultRegistryModules.join(', ')})`)
    .option('--sqs-port <port>', 'SQS (fauxqs) port, 0 for a free one (env SETTLE_SQS_PORT, default 9324)')
    .option('--dynamodb-port <port>', 'DynamoDB port, 0 for a free one (env SETTLE_DYNAMODB_PORT, default 8000)')
    .option('--api-port <port>', 'the HTTP API and callback links, on 127.0.0.1; 0 for a free one (env SETTLE_API_PORT, default 3000)')
    .option('--dynamodb-local', "Amazon's DynamoDB Local (Java 17) instead of dynalite")
    .option('--no-watch', 'do not reload when the registry changes')
    .action(async (raw: RawDevOptions) => runDev(devOptions(raw, process.env)));
  addClientCommands(settle);
  addDiagramCommand(settle);
  addCheckCommand(settle);
  addExplainCommand(settle);
  addMigrateCommand(settle);
  return settle;
}
