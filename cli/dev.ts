import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { devDiscoveryFile, type DevDiscovery } from '../client/connection.ts';
import { localCredentials } from '../local/clients.ts';
import { appliedLine, readyBanner } from '../local/banner.ts';
import { localRegion } from '../local/emulators.ts';
import { consoleLogger } from '../local/log.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { checkLines } from '../analysis/check.ts';
import { loadRegistry, unbumpedChanges, watchFiles } from './registry-module.ts';

/** Where `runDev` tells other terminals about its stack (`SETTLE_DEV_FILE`, or settle-dev.json in the temporary folder). */
export { devDiscoveryFile };

export interface DevOptions {
  /** The registry module, TypeScript or JavaScript. */
  readonly registry: string;
  readonly sqsPort: number;
  readonly dynamodbPort: number;
  /** The HTTP API's port on 127.0.0.1; `undefined` serves none. */
  readonly apiPort?: number;
  readonly dynamodbLocal: boolean;
  /** Reload the worker when a file of the registry changes. @default true */
  readonly watch?: boolean;
}

export interface DevSession {
  readonly stack: LocalStack;
  /** The registry the worker runs now. */
  registry(): MachineRegistry;
  /** Resolves after the next reload attempt (for tests), with the problems it called out. */
  nextReload(): Promise<{ readonly ok: boolean; readonly notes: readonly string[] }>;
  stop(): Promise<void>;
}

/**
 * `settle dev`: the local stack over the user's registry. When a file of the registry changes the worker
 * reloads it while the emulators keep running, so instances survive the edit; a registry that fails to load
 * is reported and the previous one keeps running.
 */
export async function startDev(options: DevOptions, log: (line: string) => void = console.log): Promise<DevSession> {
  const started = Date.now();
  let loaded = await loadRegistry(options.registry);
  const stack = await startLocalStack({
    registry: loaded.registry,
    sqsPort: options.sqsPort,
    dynamodbPort: options.dynamodbPort,
    ...(options.apiPort === undefined ? {} : { apiPort: options.apiPort, dashboard: true }),
    dynamodb: options.dynamodbLocal ? 'dynamodb-local' : 'dynalite',
    onApplied: (event) => log(appliedLine(event)),
    logger: consoleLogger,
  });
  log(readyBanner(stack, Date.now() - started, loaded.registry));
  // What `settle check` finds, shown on every (re)load; the stack runs whatever it finds.
  for (const line of checkLines(loaded.registry)) log(`settle dev: ${line}`);

  let waiting: ((result: { ok: boolean; notes: readonly string[] }) => void)[] = [];
  const settleWaiters = (result: { ok: boolean; notes: readonly string[] }) => {
    for (const resolve of waiting.splice(0)) resolve(result);
  };
  let stopWatching = () => {};
  const reload = async () => {
    try {
      const next = await loadRegistry(options.registry);
      const notes = unbumpedChanges(loaded.registry, next.registry);
      stack.useRegistry(next.registry);
      loaded = next;
      log(`settle dev: reloaded ${options.registry}: ${machineList(next.registry)}`);
      for (const note of notes) log(`settle dev: note: ${note}`);
      for (const line of checkLines(next.registry)) log(`settle dev: ${line}`);
      settleWaiters({ ok: true, notes });
    } catch (error) {
      log(`settle dev: ${options.registry} did not load; the worker keeps the previous machines. ${(error as Error).message}`);
      settleWaiters({ ok: false, notes: [] });
    }
    if (options.watch !== false) {
      stopWatching();
      stopWatching = watchFiles(loaded.files, () => void reload());
    }
  };
  if (options.watch !== false) stopWatching = watchFiles(loaded.files, () => void reload());

  return {
    stack,
    registry: () => loaded.registry,
    nextReload: () => new Promise((resolve) => waiting.push(resolve)),
    stop: async () => {
      stopWatching();
      waiting = [];
      await stack.stop();
    },
  };
}

export function machineList(registry: MachineRegistry): string {
  return Object.entries(registry)
    .map(([name, definition]) => `${name} v${definition.version}`)
    .join(', ');
}

/** Runs `settle dev` until Ctrl-C: one press stops the stack cleanly, a second one later forces the exit. */
export async function runDev(options: DevOptions): Promise<void> {
  // Handlers first: a Ctrl-C that comes as soon as the banner shows must stop the stack, not kill the process.
  const starting = startDev(options);
  let stoppingSince: number | undefined;
  /** Removes the discovery file, once it is written. */
  let unpublish = () => {};
  const stop = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // npm and tsx forward the terminal's Ctrl-C, so one press can arrive twice: only a later one forces.
      if (Date.now() - stoppingSince < 1000) return;
      console.error(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    console.log(`\n${signal}: stopping the local stack…`);
    unpublish();
    starting
      .then((session) => session.stop())
      .then(
        () => {
          console.log('Stopped.');
          process.exitCode = 0;
          // Let the event loop drain; if something still holds it, do not hang the terminal.
          setTimeout(() => process.exit(0), 2000).unref();
        },
        (error: unknown) => {
          consoleLogger.error('The local stack did not stop cleanly', error);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const session = await starting;
  // `settle` commands in other terminals find the stack through the discovery file, until it stops.
  if (stoppingSince === undefined) unpublish = publishDiscovery(session.stack, options.registry);
  // For anything in this process that builds its own SDK client from the standard settings.
  Object.assign(process.env, session.stack.env);
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) {
    process.env.AWS_ACCESS_KEY_ID = localCredentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = localCredentials.secretAccessKey;
  }
}

/** Writes the discovery file; returns what removes it again. */
function publishDiscovery(stack: LocalStack, registry: string): () => void {
  const file = devDiscoveryFile();
  try {
    writeDiscovery(file, {
      pid: process.pid,
      sqsEndpoint: stack.endpoints.sqs,
      dynamodbEndpoint: stack.endpoints.dynamodb,
      region: localRegion,
      queueUrl: stack.queueUrl,
      deadLetterQueueUrl: stack.deadLetterQueueUrl,
      tableName: stack.tableName,
      bucketName: stack.bucketName,
      registry: resolve(registry),
      ...(stack.api ? { api: stack.api } : {}),
    });
  } catch (error) {
    consoleLogger.warn(`settle dev: could not write ${file}; \`settle\` commands in other terminals will not find this stack`, error);
    return () => {};
  }
  const unpublish = () => {
    process.off('exit', unpublish);
    removeDiscovery(file);
  };
  // A forced exit (a second Ctrl-C) or a crash removes it too; a killed process leaves it behind, and readers ignore it.
  process.on('exit', unpublish);
  return unpublish;
}

/** Writes the discovery file whole or not at all (a reader never sees half of it), readable by this user only. */
function writeDiscovery(file: string, discovery: DevDiscovery): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(discovery, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** Removes the discovery file if it still describes this process's stack: a later `settle dev` may have replaced it. */
function removeDiscovery(file: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
    if (pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Gone already, or not ours: nothing to remove.
  }
}
