import { localCredentials } from '../local/clients.ts';
import { appliedLine, readyBanner } from '../local/banner.ts';
import { consoleLogger } from '../local/log.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { loadRegistry, unbumpedChanges, watchFiles } from './registry-module.ts';

export interface DevOptions {
  /** The registry module, TypeScript or JavaScript. */
  readonly registry: string;
  readonly sqsPort: number;
  readonly dynamodbPort: number;
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
    dynamodb: options.dynamodbLocal ? 'dynamodb-local' : 'dynalite',
    onApplied: (event) => log(appliedLine(event)),
    logger: consoleLogger,
  });
  log(readyBanner(stack, Date.now() - started, loaded.registry));

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
  const stop = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // npm and tsx forward the terminal's Ctrl-C, so one press can arrive twice: only a later one forces.
      if (Date.now() - stoppingSince < 1000) return;
      console.error(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    console.log(`\n${signal}: stopping the local stack…`);
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
  // For anything in this process that builds its own SDK client from the standard settings.
  Object.assign(process.env, session.stack.env);
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) {
    process.env.AWS_ACCESS_KEY_ID = localCredentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = localCredentials.secretAccessKey;
  }
}
