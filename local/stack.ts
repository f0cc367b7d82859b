/**
 * The whole local stack in this process: emulators, provisioned resources, the worker behind a
 * Lambda-like SQS poller, and the timer sweeper every second. `npm start` runs it on fixed ports;
 * tests and benchmarks run it on port 0 with their own options.
 *
 * The stack never touches `process.env`: `stack.env` holds the variables an SDK client or the
 * worker would read, for `main.ts` (or a child process) to apply.
 *
 * @example
 * const stack = await startLocalStack({ onApplied: (e) => applied.push(e) });
 * await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrl, … }));
 * await stack.stop();
 */
import { randomBytes } from 'node:crypto';
import { configureCallbacks } from '../api/callbacks.ts';
import { type ApiHandler, createApiHandler } from '../api/handler.ts';
import { startApiServer } from '../api/server.ts';
import type { DashboardHandler } from '../dashboard/routes.ts';
import { SettleClient } from '../client/settle-client.ts';
import { S3PayloadStore } from '../runtime/aws/s3-payloads.ts';
import { createWorkerHandler, type AppliedEvent } from '../runtime/aws/worker.ts';
import type { PayloadStore } from '../runtime/core/payloads.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { configFromEnvironment, environmentVariables, type SettleConfig } from '../runtime/core/config.ts';
import { maxReceiveCount } from '../runtime/core/resources.ts';
import { createLocalClients, type LocalClients } from './clients.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { localRegion, startDynalite, startSqsEmulator, type RunningEmulator } from './emulators.ts';
import { consoleLogger, type LocalLogger } from './log.ts';
import { startPoller, type Poller, type PollerOptions, type SqsBatchHandler } from './poller.ts';
import { localWorkerTimeoutSeconds, provision, provisionBucket } from './provision.ts';

export type { AppliedEvent };

/** What a handler or sweeper factory gets to build with. */
export interface StackDependencies {
  readonly config: SettleConfig;
  readonly clients: LocalClients;
  /** The payload bucket on the local S3. */
  readonly payloads: PayloadStore;
  readonly now: () => number;
  readonly logger: LocalLogger;
  readonly onApplied: ((event: AppliedEvent) => void) | undefined;
  /** How often the sweep loop runs. */
  readonly sweepIntervalMs: number;
}

export interface Sweeper {
  sweep(): Promise<{ woken: number }>;
}

export interface LocalStackOptions {
  /** 0 picks a free port. @default 0 */
  readonly sqsPort?: number;
  /** 0 picks a free port. @default 0 */
  readonly dynamodbPort?: number;
  /** `dynamodb-local` runs Amazon's DynamoDB Local (Java, 2–4 s start) instead of dynalite. @default 'dynalite' */
  readonly dynamodb?: 'dynalite' | 'dynamodb-local';
  /** The worker's timeout; also sets the queue's visibility timeout (× 6). @default localWorkerTimeoutSeconds */
  readonly workerTimeoutSeconds?: number;
  /** The machines the default worker runs; required unless `handler` builds a worker of its own. */
  readonly registry?: MachineRegistry;
  /** Builds what the poller invokes. @default the worker, `createWorkerHandler` over `registry` */
  readonly handler?: (dependencies: StackDependencies) => SqsBatchHandler | Promise<SqsBatchHandler>;
  /** Builds the sweeper; `null` runs none. @default `createSweeper` of functions/sweeper.ts */
  readonly sweeper?: ((dependencies: StackDependencies) => Sweeper | Promise<Sweeper>) | null;
  /** @default 1000 */
  readonly sweepIntervalMs?: number;
  /** Passed to the default worker. */
  readonly onApplied?: (event: AppliedEvent) => void;
  /** The clock of the default worker and sweeper. @default Date.now */
  readonly now?: () => number;
  /** Poller settings besides its queue, client and handler. @default waitTimeSeconds 20, concurrency 2 */
  readonly poller?: Omit<PollerOptions, 'sqs' | 'queueUrl' | 'queueArn' | 'handler' | 'workerTimeoutSeconds' | 'logger'>;
  /** Extra SETTLE_* settings, e.g. `{ SETTLE_MARGIN_MS: '500' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  /** @default consoleLogger */
  readonly logger?: LocalLogger;
  /**
   * Serves the HTTP API on 127.0.0.1 at this port (0 picks a free one), with callback links signed by a key of
   * this stack; `undefined` serves none. Needs `registry`.
   */
  readonly apiPort?: number;
  /** Serves the dashboard at `/` on the API's server (needs `apiPort`). @default false */
  readonly dashboard?: boolean;
}

export interface LocalStack {
  /** S3 is served on the SQS emulator's port. */
  readonly endpoints: { readonly sqs: string; readonly dynamodb: string; readonly s3: string };
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  /** The payload bucket: large events, snapshots and dead letters (docs/DESIGN.md, "Large payloads"). */
  readonly bucketName: string;
  readonly payloads: PayloadStore;
  readonly config: SettleConfig;
  /** AWS_REGION, AWS_ENDPOINT_URL_SQS / _DYNAMODB and the SETTLE_* variables of this stack. */
  readonly env: Readonly<Record<string, string>>;
  /** Clients pointed at the emulators, shared with the worker and sweeper. */
  readonly clients: LocalClients;
  /** The HTTP API, when `apiPort` was given: its URL and the key that signs this stack's callback links. */
  readonly api: { readonly url: string; readonly callbackKey: string } | undefined;
  /**
   * A {@link SettleClient} of this stack (its links too, with `apiPort`), checking events against `registry` if
   * given. It shares the stack's SDK clients: the stack closes them when it stops, so do not `destroy()` it.
   */
  client<R extends MachineRegistry = MachineRegistry>(registry?: R): SettleClient<R>;
  /**
   * Runs the default worker over another registry from the next batch on; the emulators, and so the
   * instances, stay. Batches in flight finish on the registry they started with.
   */
  useRegistry(registry: MachineRegistry): void;
  /** Stops the sweeps, then the poller (waiting for batches in flight), then the emulators. */
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  if (!options.handler && !options.registry) {
    throw new Error('startLocalStack needs the machines to run: pass `registry` (made with defineRegistry), or a `handler` of your own.');
  }
  const logger = options.logger ?? consoleLogger;
  const now = options.now ?? Date.now;
  const workerTimeoutSeconds = options.workerTimeoutSeconds ?? localWorkerTimeoutSeconds;
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn('local stack: a part did not stop cleanly', error);
      }
    }
  };

  try {
    const [sqsEmulator, dynamodbEmulator] = await startAll(options, cleanups);
    const clients = createLocalClients({
      sqsEndpoint: sqsEmulator.endpoint,
      dynamodbEndpoint: dynamodbEmulator.endpoint,
      sqsDispatch: sqsEmulator.dispatch,
      dynamodbDispatch: dynamodbEmulator.dispatch,
    });
    cleanups.push(() => clients.destroy());
    const resources = await provision({ sqs: clients.sqs, dynamodb: clients.dynamodb, workerTimeoutSeconds });
    const bucketName = await provisionBucket(clients.s3);
    // No tags on the local S3 (fauxqs), and no lifecycle rules to act on them.
    const payloads = new S3PayloadStore(bucketName, { client: clients.s3, tagging: false });

    const env: Record<string, string> = {
      AWS_REGION: localRegion,
      AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEmulator.endpoint,
      AWS_ENDPOINT_URL_S3: sqsEmulator.endpoint,
      [environmentVariables.tableName]: resources.tableName,
      [environmentVariables.bucketName]: bucketName,
      [environmentVariables.deadLetterQueueUrl]: resources.deadLetterQueueUrl,
      [environmentVariables.queueUrl]: resources.queueUrl,
      [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
      ...options.settings,
    };
    const config = configFromEnvironment(env);
    const sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    const dependencies: StackDependencies = { config, clients, payloads, now, logger, onApplied: options.onApplied, sweepIntervalMs };

    let registry = options.registry;
    let worker: SqsBatchHandler | undefined;
    const handler: SqsBatchHandler = options.handler
      ? await options.handler(dependencies)
      : (event, context) => {
          if (!registry) throw new Error('No registry to run: pass `registry` to startLocalStack.');
          worker ??= defaultWorker(dependencies, registry);
          return worker(event, context);
        };

    const sweeperFactory = options.sweeper === undefined ? defaultSweeper : options.sweeper;
    const sweeper = sweeperFactory ? await sweeperFactory(dependencies) : undefined;

    const poller: Poller = await startPoller({
      ...options.poller,
      sqs: clients.sqs,
      queueUrl: resources.queueUrl,
      queueArn: resources.queueArn,
      handler,
      workerTimeoutSeconds,
      logger,
    });
    cleanups.push(() => poller.stop());
    if (sweeper) {
      const loop = startSweepLoop(sweeper, sweepIntervalMs, logger);
      cleanups.push(() => loop.stop());
    }
    const api =
      options.apiPort === undefined
        ? undefined
        : await startApi(options.apiPort, dependencies, () => registry, cleanups, options.dashboard === true);
    if (api) Object.assign(env, { [environmentVariables.apiUrl]: api.url, [environmentVariables.callbackKey]: api.callbackKey });

    let stopped: Promise<void> | undefined;
    return {
      endpoints: { sqs: sqsEmulator.endpoint, dynamodb: dynamodbEmulator.endpoint, s3: sqsEmulator.endpoint },
      queueUrl: resources.queueUrl,
      queueArn: resources.queueArn,
      deadLetterQueueUrl: resources.deadLetterQueueUrl,
      tableName: resources.tableName,
      bucketName,
      payloads,
      config,
      env,
      clients,
      api,
      client: (clientRegistry) => stackClient(resources, clients, payloads, api, clientRegistry),
      useRegistry: (next) => {
        if (options.handler)
          throw new Error('useRegistry works with the default worker only; this stack was started with its own handler.');
        registry = next;
        worker = undefined;
      },
      stop: () => (stopped ??= cleanUp()),
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

async function startAll(options: LocalStackOptions, cleanups: (() => Promise<void> | void)[]): Promise<[RunningEmulator, RunningEmulator]> {
  const started = await Promise.allSettled([
    startSqsEmulator({ port: options.sqsPort ?? 0 }),
    options.dynamodb === 'dynamodb-local'
      ? startDynamoDbLocal({ port: options.dynamodbPort ?? 0 })
      : startDynalite({ port: options.dynamodbPort ?? 0 }),
  ]);
  for (const result of started) if (result.status === 'fulfilled') cleanups.push(result.value.stop);
  const [sqs, dynamodb] = started;
  if (sqs.status === 'rejected') throw sqs.reason;
  if (dynamodb.status === 'rejected') throw dynamodb.reason;
  return [sqs.value, dynamodb.value];
}

/**
 * The HTTP API over this stack, with a fresh callback key: links made by this stack's machines (in this
 * process: `configureCallbacks`) and by `settle` commands (the discovery file) work until it stops.
 */
async function startApi(
  port: number,
  dependencies: StackDependencies,
  registry: () => MachineRegistry | undefined,
  cleanups: (() => Promise<void> | void)[],
  withDashboard: boolean,
): Promise<{ url: string; callbackKey: string }> {
  const current = registry();
  if (!current) throw new Error('The local HTTP API checks events against the registry: pass `registry` with `apiPort`.');
  const callbackKey = randomBytes(32).toString('base64url');
  const { config, clients, payloads } = dependencies;
  const client = stackClient(
    { queueUrl: config.queueUrl ?? '', deadLetterQueueUrl: config.deadLetterQueueUrl, tableName: config.tableName },
    clients,
    payloads,
    undefined,
    current,
  );
  // The registry may be replaced (settle dev reloads it): the handler is rebuilt for each request over the current one.
  const handle = (event: Parameters<ApiHandler>[0]) =>
    createApiHandler({ client: client.withRegistry(registry() ?? current), registry: registry() ?? current, callbackKey })(event);
  const dashboard = withDashboard ? await localDashboard(client, () => registry() ?? current) : undefined;
  const server = await startApiServer(handle, port, dashboard);
  cleanups.push(() => server.stop());
  configureCallbacks({ apiUrl: server.url, key: callbackKey });
  cleanups.push(() => configureCallbacks(undefined));
  return { url: server.url, callbackKey };
}

function stackClient<R extends MachineRegistry>(
  resources: { readonly queueUrl: string; readonly deadLetterQueueUrl: string; readonly tableName: string },
  clients: LocalClients,
  payloads: PayloadStore,
  api: { readonly url: string; readonly callbackKey: string } | undefined,
  registry: R | undefined,
): SettleClient<R> {
  return new SettleClient<R>({
    queueUrl: resources.queueUrl,
    deadLetterQueueUrl: resources.deadLetterQueueUrl,
    tableName: resources.tableName,
    sqs: clients.sqs,
    dynamodb: clients.document,
    payloads,
    ...(api ? { api: { url: api.url, callbackKey: api.callbackKey } } : {}),
    ...(registry ? { registry } : {}),
  });
}

/** The dashboard over this stack; its diagram engine and app are loaded only when it is asked for. */
async function localDashboard(client: SettleClient, registry: () => MachineRegistry): Promise<DashboardHandler> {
  const [{ createDashboardHandler }, { machineDiagram }, { dashboardAssets }] = await Promise.all([
    import('../dashboard/routes.ts'),
    import('../diagram/index.ts'),
    import('../dashboard/build.ts'),
  ]);
  // Like the API's, rebuilt per request over the current registry (settle dev reloads it).
  return (event) =>
    createDashboardHandler({ client: client.withRegistry(registry()), registry, draw: machineDiagram, assets: dashboardAssets })(event);
}

function defaultWorker(dependencies: StackDependencies, registry: MachineRegistry): SqsBatchHandler {
  const { logger } = dependencies;
  return createWorkerHandler({
    config: dependencies.config,
    registry,
    sqs: dependencies.clients.sqs,
    dynamo: dependencies.clients.document,
    payloads: dependencies.payloads,
    now: dependencies.now,
    onApplied: dependencies.onApplied,
    logger: {
      info: (message, details) => logger.info(`worker: ${message}`, details),
      warn: (message, details) => logger.warn(`worker: ${message}`, details),
      error: (message, details) => logger.error(`worker: ${message}`, details),
    },
  });
}

async function defaultSweeper(dependencies: StackDependencies): Promise<Sweeper> {
  const { createSweeper } = await import('../runtime/aws/sweeper.ts');
  return createSweeper({
    config: dependencies.config,
    sqs: dependencies.clients.sqs,
    dynamo: dependencies.clients.document,
    now: dependencies.now,
    intervalMs: dependencies.sweepIntervalMs,
  });
}

/** Sweeps every `intervalMs` (never two at once); an error is logged and the next sweep runs anyway. */
function startSweepLoop(sweeper: Sweeper, intervalMs: number, logger: LocalLogger): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopping = false;
  const tick = () => {
    running = sweeper
      .sweep()
      .then(
        ({ woken }) => {
          if (woken > 0) logger.info(`sweeper: woke ${woken} instance${woken === 1 ? '' : 's'} with timers due`);
        },
        (error: unknown) => logger.error('sweeper: sweep failed; trying again in the next sweep', error),
      )
      .finally(() => {
        if (!stopping) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      await running;
    },
  };
}
