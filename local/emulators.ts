/**
 * The SQS and DynamoDB emulators of the local stack, both in this process and on loopback.
 *
 * SQS is fauxqs (JSON protocol, FIFO groups, deduplication, visibility, redrive, long polling).
 * DynamoDB is dynalite (pure JS, in memory). Both listen on 127.0.0.1 only.
 *
 * @example
 * const emulators = await startEmulators({ sqsPort: 0, dynamodbPort: 0 });
 * // … point SDK clients at emulators.sqsEndpoint / emulators.dynamodbEndpoint …
 * await emulators.stop();
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import dynalite from 'dynalite';
import { buildApp, type BuildAppOptions } from 'fauxqs';
import { localRegion } from './defaults.ts';
import { dispatchToFastify, dispatchToListener, type Dispatch } from './in-process.ts';

export { localRegion };

export const loopback = '127.0.0.1';

/** A running emulator. `stop()` may be called more than once. */
export interface RunningEmulator {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Answers a request in this process, without the socket (./in-process.ts); absent for DynamoDB Local. */
  readonly dispatch?: Dispatch;
  stop(): Promise<void>;
}

export interface EmulatorsOptions {
  /** SQS (fauxqs) port; 0 picks a free one. @default 0 */
  readonly sqsPort?: number;
  /** DynamoDB (dynalite) port; 0 picks a free one. @default 0 */
  readonly dynamodbPort?: number;
  /** How long dynalite keeps a new table CREATING, so provisioning waits as it must on AWS. @default 50 */
  readonly createTableMs?: number;
}

export interface Emulators {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** Stops both; resolves when their ports are closed. */
  stop(): Promise<void>;
}

/** Starts fauxqs and dynalite on 127.0.0.1. If one fails to start, the other is stopped again. */
export async function startEmulators(options: EmulatorsOptions = {}): Promise<Emulators> {
  const [sqs, dynamodb] = await Promise.allSettled([
    startSqsEmulator({ port: options.sqsPort ?? 0 }),
    startDynalite({ port: options.dynamodbPort ?? 0, createTableMs: options.createTableMs }),
  ]);
  if (sqs.status === 'rejected' || dynamodb.status === 'rejected') {
    await Promise.all([sqs, dynamodb].map((started) => (started.status === 'fulfilled' ? started.value.stop() : undefined)));
    throw sqs.status === 'rejected' ? sqs.reason : (dynamodb as PromiseRejectedResult).reason;
  }
  return {
    sqsEndpoint: sqs.value.endpoint,
    dynamodbEndpoint: dynamodb.value.endpoint,
    stop: async () => {
      await Promise.all([sqs.value.stop(), dynamodb.value.stop()]);
    },
  };
}

/**
 * fauxqs on 127.0.0.1 (`startFauxqs` always binds 0.0.0.0, so this builds its app and listens itself).
 *
 * Queue URLs: fauxqs names queues `http://sqs.<region>.localhost:<port>/…` by default, a host Node's
 * resolver does not know here, and SDK v3 sends each request to its `QueueUrl`'s host whenever the
 * endpoint comes from `AWS_ENDPOINT_URL_SQS` — so every call failed with ENOTFOUND. With an empty
 * store host fauxqs builds the URL from the request's own host instead, giving
 * `http://127.0.0.1:<port>/000000000000/<queue>`, which works from the SDK, the CLI and curl alike.
 */
export async function startSqsEmulator(options: { readonly port?: number } = {}): Promise<RunningEmulator> {
  const stores = await storesWithRequestHostUrls();
  const app = buildApp({ logger: false, defaultRegion: localRegion, ...(stores ? { stores } : {}) });
  try {
    await app.listen({ port: options.port ?? 0, host: loopback });
  } catch (error) {
    await app.close();
    throw portError('SQS', 'SETTLE_SQS_PORT / --sqs-port', options.port, error);
  }
  const port = (app.server.address() as AddressInfo).port;
  return {
    endpoint: `http://${loopback}:${port}`,
    port,
    dispatch: dispatchToFastify(app as unknown as Parameters<typeof dispatchToFastify>[0]),
    stop: onceAsync(() => app.close()),
  };
}

/** dynalite in memory on 127.0.0.1. */
export async function startDynalite(
  options: { readonly port?: number; readonly createTableMs?: number | undefined } = {},
): Promise<RunningEmulator> {
  const createTableMs = options.createTableMs ?? 50;
  const server = dynalite({ createTableMs, updateTableMs: createTableMs, deleteTableMs: createTableMs });
  try {
    await listen(server, options.port ?? 0);
  } catch (error) {
    throw portError('DynamoDB', 'SETTLE_DYNAMODB_PORT / --dynamodb-port', options.port, error);
  }
  const port = (server.address() as AddressInfo).port;
  const stop = onceAsync(
    () =>
      new Promise<void>((resolve, reject) => {
        // Keep-alive sockets of SDK clients would hold close() open until they time out.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  );
  const listener = server.listeners('request')[0] as Parameters<typeof dispatchToListener>[0] | undefined;
  return { endpoint: `http://${loopback}:${port}`, port, ...(listener ? { dispatch: dispatchToListener(listener) } : {}), stop };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, loopback, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

type Stores = NonNullable<BuildAppOptions['stores']>;

/**
 * fauxqs 1.9.2 keeps the queue-URL host on its `SqsStore`, which its package exports do not
 * expose; the class is loaded from its file. `undefined` if a later fauxqs moved it: the stack
 * still works (it gives its own clients an explicit endpoint), but queue URLs then carry
 * `sqs.<region>.localhost`, and SDK clients configured only by environment need
 * `useQueueUrlAsEndpoint: false`. test/local/emulators.test.ts pins the URL shape.
 */
async function storesWithRequestHostUrls(): Promise<Stores | undefined> {
  const require = createRequire(import.meta.url);
  const folders = require.resolve.paths('fauxqs') ?? [];
  const file = folders.map((folder) => join(folder, 'fauxqs', 'dist', 'sqs', 'sqsStore.js')).find((path) => existsSync(path));
  if (!file) return undefined;
  const module = (await import(pathToFileURL(file).href)) as { SqsStore?: new () => { host: string } };
  if (typeof module.SqsStore !== 'function') return undefined;
  const sqsStore = new module.SqsStore();
  sqsStore.host = '';
  // buildApp creates the SNS and S3 stores itself when they are absent.
  return { sqsStore } as unknown as Stores;
}

function portError(service: string, setting: string, port: number | undefined, error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') {
    return new Error(
      `The local ${service} emulator cannot listen on ${loopback}:${port}: the port is in use. Stop what holds it or choose another port with ${setting}.`,
      {
        cause: error,
      },
    );
  }
  return new Error(`The local ${service} emulator failed to start on ${loopback}:${port ?? 0}.`, { cause: error });
}

/** Wraps a stop function so that calling it again returns the first call's promise. */
export function onceAsync(action: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= action());
}
