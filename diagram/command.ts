/**
 * `settle diagram <machine> [--instance <machine>/<id>] [--out <file>] [--registry <module>]`: a machine of the
 * registry as an SVG statechart, on standard output or in a file; with `--instance`, the states that instance is
 * in are lit (read through {@link SettleClient}, from the stack the other commands use).
 *
 * The registry is `--registry`, or the one a running `settle dev` runs. Bad arguments, no registry, an unknown
 * machine or instance: one line and exit code 2 (cli/output.ts).
 *
 * @example
 * npx settle diagram approval --registry machines/index.ts --out approval.svg
 * npx settle diagram approval --instance approval/doc-17 > doc-17.svg
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { connectionOptionsOf, withConnectionFlags } from '../cli/connection-flags.ts';
import { resolveConnection, type ConnectionOptions } from '../client/connection.ts';
import { instanceKeyOf } from '../client/events.ts';
import { SettleClient } from '../client/settle-client.ts';
import { type CommandOutput, exitCodes, processOutput, reportFailure } from '../cli/output.ts';
import { loadRegistry } from '../cli/registry-module.ts';
import { RequestError } from '../runtime/core/errors.ts';
import { type MachineRegistry, registeredMachine } from '../runtime/core/registry.ts';

export interface DiagramFlags extends ConnectionOptions {
  readonly instance?: string;
  readonly out?: string;
  readonly registry?: string;
}

/** Where the command writes: the SVG, a confirmation, and warnings. */
export interface DiagramOutput extends CommandOutput {
  writeSvg(svg: string): void;
}

const diagramOutput: DiagramOutput = { ...processOutput, writeSvg: (svg) => process.stdout.write(svg) };

/** Adds `settle diagram` to the program. */
export function addDiagramCommand(settle: Command): void {
  withConnectionFlags(settle.command('diagram'), 'for --instance: ')
    .argument('<machine>', 'the machine, by its name in the registry')
    .description('Draw a machine as a statechart (SVG), laid out by ELK; with --instance, the states that instance is in are lit.')
    .option('--instance <key>', '<machine>/<instanceId>: light the states this instance is in')
    .option('--out <file>', 'write the SVG to this file (default: standard output)')
    .option('--registry <module>', "the module that exports your registry (default: a running settle dev's)")
    .action(async (machine: string, flags: DiagramFlags) => {
      process.exitCode = await runDiagram(machine, flags);
    });
}

/** The registry module: `--registry`, or the running `settle dev`'s. */
async function registryModule(flags: DiagramFlags): Promise<string> {
  if (flags.registry !== undefined) {
    if (!existsSync(flags.registry)) throw new RequestError('invalid-option', `--registry ${flags.registry} does not exist.`);
    return resolve(flags.registry);
  }
  const local = await resolveConnection(connectionOptionsOf(flags)).then(
    (connection) => connection.local?.registry,
    () => undefined,
  );
  if (local === undefined) {
    throw new RequestError(
      'not-configured',
      'No registry to draw from: pass --registry <module> (the module that exports your registry), or start settle dev, whose registry is used.',
    );
  }
  return local;
}

async function registryOf(path: string): Promise<MachineRegistry> {
  try {
    return (await loadRegistry(path)).registry;
  } catch (error) {
    throw new RequestError('invalid-option', `Cannot load the registry ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs the command; returns its exit code, having printed its one line on failure. */
export async function runDiagram(machine: string, flags: DiagramFlags, output: DiagramOutput = diagramOutput): Promise<number> {
  let client: SettleClient | undefined;
  try {
    const key = flags.instance === undefined ? undefined : instanceKeyOf(flags.instance);
    if (key && key.machine !== machine) {
      throw new RequestError(
        'invalid-option',
        `--instance ${key.key} is an instance of '${key.machine}', not of '${machine}': write settle diagram ${key.machine} --instance ${key.key}.`,
      );
    }
    const path = await registryModule(flags);
    const registry = await registryOf(path);
    const definition = registeredMachine(registry, machine);
    if (!definition) {
      const known = Object.keys(registry);
      throw new RequestError(
        'invalid-option',
        `No machine '${machine}' in ${path}: ${known.length === 0 ? 'it registers none' : `it has ${known.join(', ')}`}.`,
      );
    }

    // Loaded here, not with the program: ELK is 1.6 MB of JavaScript that the other commands do not need.
    const { machineDiagram, machineLayout } = await import('./index.ts');
    let active: readonly string[] | undefined;
    if (key) {
      client = await SettleClient.connect(connectionOptionsOf(flags));
      const view = await client.get(key.machine, key.instanceId);
      if (!view) {
        throw new RequestError(
          'invalid-option',
          `${key.key} does not exist (no event has created it yet). Check the key, or list instances with settle list --machine ${key.machine}.`,
        );
      }
      active = view.states;
      const { graph } = await machineLayout(definition.machine);
      const unknown = view.states.filter((state) => !graph.states.has(state));
      if (unknown.length > 0) {
        output.warn(
          `settle: ${key.key} is in ${unknown.join(', ')}, which machine '${machine}' (version ${definition.version}) does not have ` +
            `(the instance was saved with version ${view.machineVersion}); those states are not lit.`,
        );
      }
    }

    const svg = await machineDiagram(definition.machine, active === undefined ? {} : { active });
    if (flags.out === undefined) {
      output.writeSvg(`${svg}\n`);
    } else {
      await writeFile(flags.out, `${svg}\n`);
      output.info(`${machine}${key ? ` (${key.key}: ${active?.join(', ') || 'no state'})` : ''} → ${flags.out}`);
    }
    return exitCodes.ok;
  } catch (error) {
    return reportFailure(output, error);
  } finally {
    client?.destroy();
  }
}
