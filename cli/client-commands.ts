/**
 * The `settle` commands over {@link SettleClient}: send (one event, or a file of them), get, history, timers,
 * list, and the dead-letter queue. Each resolves the stack first (`--stack`, the SETTLE_* settings, or a running
 * `settle dev`) and answers with a table, or JSON with `--json`; exit codes in ./output.ts.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { resolveConnection, type ConnectionOptions } from '../client/connection.ts';
import { withConnectionFlags } from './connection-flags.ts';
import { instanceKeyOf } from '../client/events.ts';
import type { InstanceKey } from '../runtime/core/instance-key.ts';
import type { InstanceSummary } from '../client/list-query.ts';
import { SettleClient, type EventResult, type OutgoingEvent, type SendResult } from '../client/settle-client.ts';
import { RequestError } from '../runtime/core/errors.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import type { HistoryEntry } from '../runtime/core/store.ts';
import { parseDuration } from '../runtime/core/duration.ts';
import { exitCodeOf, exitCodes, failureOf, table, when } from './output.ts';
import { loadRegistry } from './registry-module.ts';

interface CommonOptions extends ConnectionOptions {
  readonly json?: boolean;
  /** A registry module to check events against; a local stack's own by default. */
  readonly registry?: string;
}

/** What a command prints, and the exit code it ends with. */
interface Answer {
  readonly exitCode: number;
}

type Print = (line: string) => void;

/** Adds the commands to `settle`. */
export function addClientCommands(settle: Command): void {
  const common = (command: Command) =>
    withConnectionFlags(command)
      .option('--registry <module>', "check events against this registry before sending (default: a running settle dev's)")
      .option('--json', 'answer in JSON, for scripts');

  common(
    settle
      .command('send')
      .argument('[instance]', '<machine>/<instanceId>, e.g. counter/c1')
      .argument('[event]', `the event as JSON, e.g. '{"type":"COUNT"}'`)
      .description('Send an event to an instance (created by its first event); with --wait, answer with the settled outcome.')
      .option('--wait', 'wait until the instance has handled it, and answer with its outcome and state')
      .option('--timeout <duration>', 'how long --wait waits (30s, 2m, 500ms)', '30s')
      .option('--deduplication-id <id>', 'the SQS deduplication id: the same one to retry a send whose answer was lost')
      .option('--file <events.jsonl>', 'send every line of a file: {"instance":"counter/c1","event":{…}} (optional "deduplicationId")'),
  ).action((instance: string | undefined, event: string | undefined, options: SendFlags) => {
    if (options.file) return run(options, (client, print) => sendFile(client, options, print));
    const checked = checkArguments(() => sendArguments(instance, event, options));
    return checked && run(options, (client, print) => sendOne(client, checked, options, print));
  });

  common(
    settle
      .command('link')
      .argument('<instance>', '<machine>/<instanceId>')
      .argument('<event>', `the event the link sends, as JSON, e.g. '{"type":"APPROVE","role":"legal","by":"ana"}'`)
      .description(
        'Make a callback link: GET on it shows what it does, POST sends the event (see the README, "HTTP API and callback links").',
      )
      .option('--expires-in <duration>', 'how long the link works (30m, 12h, 7d; at most 365d)', '7d')
      .option('--data <field...>', 'fields the person following the link may add to the event, e.g. reason'),
  ).action((instance: string, event: string, options: LinkFlags) => {
    const checked = checkArguments(() => ({ key: instanceKeyOf(instance), event: parseJson(event, 'The event') }));
    return (
      checked &&
      run(options, async (client, print) => {
        const link = await client.callbackUrl(checked.key.machine, checked.key.instanceId, checked.event as never, {
          expiresIn: options.expiresIn,
          ...(options.data === undefined ? {} : { data: options.data }),
        });
        print(options.json ? JSON.stringify({ link }) : link);
        return { exitCode: exitCodes.ok };
      })
    );
  });

  common(
    settle
      .command('get')
      .argument('<instance>', '<machine>/<instanceId>')
      .description('Show where an instance stands: state, context, timers, last events.'),
  ).action((instance: string, options: CommonOptions) => run(options, (client, print) => get(client, instance, options, print)));

  common(
    settle
      .command('history')
      .argument('<instance>', '<machine>/<instanceId>')
      .description("An instance's last events and their outcomes, oldest first."),
  ).action((instance: string, options: CommonOptions) => run(options, (client, print) => history(client, instance, options, print)));

  common(
    settle.command('timers').argument('<instance>', '<machine>/<instanceId>').description("An instance's pending durable timers."),
  ).action((instance: string, options: CommonOptions) => run(options, (client, print) => timers(client, instance, options, print)));

  common(
    settle
      .command('list')
      .description('List instances through the list index (no Scan), by state, oldest update first.')
      .option('--machine <name>', 'the machine (default: every machine of the registry, if known)')
      .option('--state <path>', 'a state path: review matches everything inside review, review.legal.signed only that state')
      .option('--status <status>', 'active, done, error or stopped')
      .option('--outcome <outcome>', "the last event's outcome: resolve, reject, done, error, ignored, dead-lettered")
      .option('--updated-before <time>', 'only instances not updated since this ISO time')
      .option('--limit <n>', 'at most this many (per machine)', '50')
      .option('--cursor <cursor>', 'the cursor a previous page printed')
      .option('--all', 'every page'),
  ).action((options: ListFlags) => run(options, (client, print, registry) => list(client, options, print, registry)));

  common(
    settle
      .command('dashboard')
      .description(
        'The dashboard on this machine (127.0.0.1), over a deployed stack (--stack) with your AWS credentials: no hosted UI. settle dev serves the same one.',
      )
      .option('--port <port>', 'the port on 127.0.0.1', '3000'),
  ).action((options: CommonOptions & { readonly port: string }) =>
    run(options, (client, print, registry) => dashboard(client, options, print, registry)),
  );

  const dlq = settle.command('dlq').description('The dead-letter queue: browse it, redrive letters safely.');
  common(
    dlq
      .command('list')
      .description('Every dead letter with its reason, left in the queue.')
      .option('--instance <key>', "only this instance's letters"),
  ).action((options: CommonOptions & { readonly instance?: string }) => run(options, (client, print) => dlqList(client, options, print)));
  common(
    dlq
      .command('redrive')
      .description(
        "Send letters to their instance again, in order, and remove each once sent. Refused, and left in place: a letter whose event the instance already applied (or a redrive of it), one SQS moved without Settle's decision, a malformed event, or one the registry still refuses.",
      )
      .option('--instance <key>', "this instance's letters")
      .option('--letter <id...>', 'these letters (the ids dlq list shows)')
      .option('--all', 'every letter')
      .option('--force', 'redrive letters the checks refuse (not those the registry refuses)'),
  ).action((options: RedriveFlags) => run(options, (client, print) => redrive(client, options, print)));
}

interface SendFlags extends CommonOptions {
  readonly wait?: boolean;
  readonly timeout: string;
  readonly deduplicationId?: string;
  readonly file?: string;
}

interface LinkFlags extends CommonOptions {
  readonly expiresIn: string;
  readonly data?: string[];
}

interface ListFlags extends CommonOptions {
  readonly machine?: string;
  readonly state?: string;
  readonly status?: string;
  readonly outcome?: string;
  readonly updatedBefore?: string;
  readonly limit: string;
  readonly cursor?: string;
  readonly all?: boolean;
}

interface RedriveFlags extends CommonOptions {
  readonly instance?: string;
  readonly letter?: string[];
  readonly all?: boolean;
  readonly force?: boolean;
}

/** Resolves the stack and the registry, runs the command, prints its failure as one line, and sets the exit code. */
async function run(
  options: CommonOptions,
  command: (client: SettleClient, print: Print, registry: MachineRegistry | undefined) => Promise<Answer>,
): Promise<void> {
  let client: SettleClient | undefined;
  try {
    const connection = await resolveConnection(options);
    const registryModule = options.registry ?? connection.local?.registry;
    const registry = registryModule === undefined ? undefined : (await loadRegistry(resolve(registryModule))).registry;
    client = SettleClient.over(connection, registry);
    const answer = await command(client, (line) => console.log(line), registry);
    process.exitCode = answer.exitCode;
  } catch (error) {
    const { code, line } = failureOf(error);
    console.error(line);
    process.exitCode = code;
  } finally {
    client?.destroy();
  }
}

interface SendArguments {
  readonly key: InstanceKey;
  readonly event: unknown;
  readonly timeoutMs: number;
}

/** Checked before the stack is looked up: a mistake in what was typed is named first. */
function sendArguments(instance: string | undefined, eventText: string | undefined, options: SendFlags): SendArguments {
  if (instance === undefined || eventText === undefined) {
    throw new RequestError(
      'invalid-option',
      'Give an instance and an event, e.g. settle send counter/c1 \'{"type":"COUNT"}\', or --file <events.jsonl>.',
    );
  }
  return { key: instanceKeyOf(instance), event: parseJson(eventText, 'The event'), timeoutMs: parseDuration(options.timeout, '--timeout') };
}

/** Runs `check`; on a failure prints its one line, sets the exit code and returns `undefined`. */
function checkArguments<T>(check: () => T): T | undefined {
  try {
    return check();
  } catch (error) {
    const { code, line } = failureOf(error);
    console.error(line);
    process.exitCode = code;
    return undefined;
  }
}

async function sendOne(client: SettleClient, { key, event, timeoutMs }: SendArguments, options: SendFlags, print: Print): Promise<Answer> {
  const sendOptions = options.deduplicationId === undefined ? {} : { deduplicationId: options.deduplicationId };
  const sent = await client.send(key.machine, key.instanceId, event as never, sendOptions);
  if (!options.wait) {
    print(options.json ? JSON.stringify(sent) : `${sent.instanceKey}  sent as ${sent.sequenceNumber}`);
    return { exitCode: exitCodes.ok };
  }
  const result = await client.waitFor(sent.instanceKey, sent.sequenceNumber, { timeoutMs });
  print(options.json ? JSON.stringify(result, null, 2) : describeResult(result));
  return { exitCode: exitCodeOf(result.outcome) };
}

function describeResult(result: EventResult): string {
  const lines = [
    `${result.instanceKey}  ${result.sequenceNumber}  ${result.outcome}`,
    `  states   ${result.states.join(', ')}`,
    `  status   ${result.status}`,
    `  tags     ${result.tags.join(', ') || '-'}`,
    `  context  ${JSON.stringify(result.context)}`,
  ];
  if (result.deadLetter) lines.push(`  error    ${result.deadLetter.code}: ${result.deadLetter.reason}`);
  return lines.join('\n');
}

async function sendFile(client: SettleClient, options: SendFlags, print: Print): Promise<Answer> {
  const path = options.file ?? '';
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new RequestError('invalid-option', `Cannot read --file ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}.`);
  });
  const events: OutgoingEvent[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${path}:${index + 1}`;
    const entry = parseJson(line, `Line ${where}`) as { instance?: unknown; event?: unknown; deduplicationId?: unknown };
    if (typeof entry !== 'object' || entry === null || typeof entry.instance !== 'string' || entry.event === undefined) {
      throw new RequestError('invalid-option', `Line ${where} is not {"instance":"<machine>/<id>","event":{…}}.`);
    }
    const key = instanceKeyOf(entry.instance);
    events.push({
      machine: key.machine,
      id: key.instanceId,
      event: entry.event as never,
      ...(typeof entry.deduplicationId === 'string' ? { deduplicationId: entry.deduplicationId } : {}),
    });
  }
  if (events.length === 0) throw new RequestError('invalid-option', `--file ${path} holds no events.`);
  const started = Date.now();
  const bar = progressBar('sent', options.json === true);
  bar.start(events.length, 0);
  let results: SendResult[];
  try {
    results = await client.sendMany(events, { onProgress: (sent) => bar.update(sent) });
  } finally {
    bar.stop();
  }
  const instances = new Map<string, string>();
  for (const result of results) instances.set(result.instanceKey, result.sequenceNumber);
  const summary = { events: results.length, instances: instances.size, seconds: (Date.now() - started) / 1000 };
  if (!options.wait) {
    print(
      options.json
        ? JSON.stringify(summary)
        : `sent ${summary.events} events to ${summary.instances} instances in ${summary.seconds.toFixed(1)} s`,
    );
    return { exitCode: exitCodes.ok };
  }
  const timeoutMs = parseDuration(options.timeout, '--timeout');
  const waiting = progressBar('handled', options.json === true);
  waiting.start(instances.size, 0);
  let handled = 0;
  const outcomes: Record<string, number> = {};
  try {
    const queue = [...instances];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const result = await client.waitFor(next[0], next[1], { timeoutMs });
          outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
          handled += 1;
          waiting.update(handled);
        }
      }),
    );
  } finally {
    waiting.stop();
  }
  print(
    options.json
      ? JSON.stringify({ ...summary, handled: instances.size, lastOutcomes: outcomes })
      : `sent ${summary.events} events to ${summary.instances} instances; every instance has handled its events (last outcomes: ${Object.entries(
          outcomes,
        )
          .map(([outcome, count]) => `${outcome} ${count}`)
          .join(', ')})`,
  );
  return { exitCode: exitCodes.ok };
}

/** A progress bar on stderr; without a terminal it prints a line every second instead of redrawing. */
function progressBar(label: string, quiet: boolean): Pick<SingleBar, 'start' | 'update' | 'stop'> {
  if (quiet) return { start: () => undefined, update: () => undefined, stop: () => undefined };
  return new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% | {duration}s`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 1000,
    hideCursor: true,
  });
}

async function get(client: SettleClient, instance: string, options: CommonOptions, print: Print): Promise<Answer> {
  const key = instanceKeyOf(instance);
  const view = await client.get(key.machine, key.instanceId);
  if (!view) return notFound(key.key);
  if (options.json) {
    print(JSON.stringify(view, null, 2));
    return { exitCode: exitCodes.ok };
  }
  print(
    [
      `${view.key}  (machine ${view.machine} v${view.machineVersion}, item version ${view.version})`,
      `  states   ${view.states.join(', ')}`,
      `  status   ${view.status}    last outcome ${view.outcome ?? '-'}    last event ${view.lastSeq}`,
      `  tags     ${view.tags.join(', ') || '-'}`,
      `  context  ${JSON.stringify(view.context)}`,
      `  timers   ${view.timers.map((timer) => `${timer.id} ${when(timer.fireAt)}`).join('; ') || '-'}`,
      `  updated  ${when(view.updatedAt)}    created ${when(view.createdAt)}`,
      '',
      historyTable(view.history.slice(-5)),
    ].join('\n'),
  );
  return { exitCode: exitCodes.ok };
}

async function history(client: SettleClient, instance: string, options: CommonOptions, print: Print): Promise<Answer> {
  const key = instanceKeyOf(instance);
  const view = await client.get(key.machine, key.instanceId);
  if (!view) return notFound(key.key);
  print(options.json ? JSON.stringify(view.history, null, 2) : historyTable(view.history));
  return { exitCode: exitCodes.ok };
}

function historyTable(entries: readonly HistoryEntry[]): string {
  return table(
    ['SEQUENCE NUMBER', 'AT', 'EVENT', 'OUTCOME', 'ERROR'],
    entries.map((entry) => [entry.seq, entry.at, entry.type, entry.outcome, entry.error ? `${entry.error}: ${entry.reason ?? ''}` : '']),
    80,
  );
}

async function timers(client: SettleClient, instance: string, options: CommonOptions, print: Print): Promise<Answer> {
  const key = instanceKeyOf(instance);
  const view = await client.get(key.machine, key.instanceId);
  if (!view) return notFound(key.key);
  print(
    options.json
      ? JSON.stringify(view.timers, null, 2)
      : view.timers.length === 0
        ? `${view.key} has no pending timers.`
        : table(
            ['TIMER', 'EVENT', 'DUE'],
            view.timers.map((timer) => [timer.id, timer.eventType, when(timer.fireAt)]),
            80,
          ),
  );
  return { exitCode: exitCodes.ok };
}

async function list(client: SettleClient, options: ListFlags, print: Print, registry: MachineRegistry | undefined): Promise<Answer> {
  const machines = options.machine !== undefined ? [options.machine] : Object.keys(registry ?? {});
  if (machines.length === 0) {
    throw new RequestError(
      'invalid-option',
      'Name the machine to list (--machine <name>), or give --registry so that settle can list every machine.',
    );
  }
  if (options.cursor !== undefined && machines.length > 1) {
    throw new RequestError('invalid-option', 'A --cursor belongs to one machine: give it with --machine <name>.');
  }
  const limit = Number(options.limit);
  const items: InstanceSummary[] = [];
  /** Where each machine's listing stopped, when it has more. */
  const more: { machine: string; cursor: string }[] = [];
  for (const machine of machines) {
    let next = options.cursor;
    do {
      const page = await client.list({
        machine,
        limit,
        ...(options.state === undefined ? {} : { state: options.state }),
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.outcome === undefined ? {} : { outcome: options.outcome }),
        ...(options.updatedBefore === undefined ? {} : { updatedBefore: options.updatedBefore }),
        ...(next === undefined ? {} : { cursor: next }),
      });
      items.push(...page.items);
      next = page.cursor;
    } while (options.all && next !== undefined);
    if (next !== undefined) more.push({ machine, cursor: next });
  }
  const [only] = more;
  if (options.json) {
    // One machine: its cursor; several: each machine's, to page through with --machine and --cursor.
    const cursors = machines.length === 1 ? (only ? { cursor: only.cursor } : {}) : more.length > 0 ? { cursors: more } : {};
    print(JSON.stringify({ items, ...cursors }, null, 2));
    return { exitCode: exitCodes.ok };
  }
  print(
    table(
      ['INSTANCE', 'STATES', 'STATUS', 'LAST OUTCOME', 'UPDATED'],
      items.map((item) => [item.key, item.states.join(', '), item.status, item.outcome ?? '-', when(item.updatedAt)]),
      70,
    ),
  );
  const count = `${items.length} instance${items.length === 1 ? '' : 's'}`;
  print(
    more.length === 0
      ? count
      : machines.length === 1 && only
        ? `${count}; more with --cursor ${only.cursor} (or --all)`
        : `${count}; more of ${more.map((entry) => entry.machine).join(', ')}: list one with --machine <name> --all`,
  );
  return { exitCode: exitCodes.ok };
}

async function dlqList(client: SettleClient, options: CommonOptions & { readonly instance?: string }, print: Print): Promise<Answer> {
  if (options.instance !== undefined) instanceKeyOf(options.instance);
  const { letters, unread } = await client.deadLetters.list(options.instance === undefined ? {} : { instance: options.instance });
  if (options.json) {
    print(JSON.stringify({ letters, unread }, null, 2));
    return { exitCode: exitCodes.ok };
  }
  print(
    table(
      ['LETTER', 'INSTANCE', 'SEQUENCE NUMBER', 'ERROR', 'REASON', 'SENT'],
      letters.map((letter) => [
        letter.letterId,
        letter.instanceKey,
        letter.sequenceNumber ?? '-',
        letter.code ?? '(moved by SQS)',
        letter.reason ?? '-',
        letter.sentAt,
      ]),
      70,
    ),
  );
  print(
    `${letters.length} letter${letters.length === 1 ? '' : 's'}${unread > 0 ? `; about ${unread} more could not be read now (held behind others of their group): run it again` : ''}`,
  );
  return { exitCode: exitCodes.ok };
}

async function redrive(client: SettleClient, options: RedriveFlags, print: Print): Promise<Answer> {
  if (!options.all && options.instance === undefined && options.letter === undefined) {
    throw new RequestError(
      'invalid-option',
      'Choose the letters to redrive: --instance <key>, --letter <id…> (see settle dlq list), or --all.',
    );
  }
  const results = await client.deadLetters.redrive({
    ...(options.instance === undefined ? {} : { instance: instanceKeyOf(options.instance).key }),
    ...(options.letter === undefined ? {} : { letterIds: options.letter }),
    force: options.force === true,
  });
  if (options.json) {
    print(JSON.stringify(results, null, 2));
  } else {
    print(
      results.length === 0
        ? 'No letter matched.'
        : table(
            ['LETTER', 'INSTANCE', 'RESULT', 'DETAIL'],
            results.map((result) => [result.letter.letterId, result.letter.instanceKey, result.status, result.message]),
            200,
          ),
    );
  }
  return { exitCode: results.every((result) => result.status === 'redriven') ? exitCodes.ok : exitCodes.notRedriven };
}

/** Serves the dashboard until Ctrl-C. */
async function dashboard(
  client: SettleClient,
  options: { readonly port: string },
  print: Print,
  registry: MachineRegistry | undefined,
): Promise<Answer> {
  if (!registry) {
    throw new RequestError(
      'invalid-option',
      'The dashboard draws your machines: give --registry <module>, the registry your worker is built with.',
    );
  }
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new RequestError('invalid-option', `--port must be a port from 0 to 65535, got '${options.port}'.`);
  const [{ createDashboardHandler }, { machineDiagram }, { dashboardAssets }, { startApiServer }] = await Promise.all([
    import('../dashboard/routes.ts'),
    import('../diagram/index.ts'),
    import('../dashboard/build.ts'),
    import('../api/server.ts'),
  ]);
  const routes = createDashboardHandler({ client, registry: () => registry, draw: machineDiagram, assets: dashboardAssets });
  const notHere = async () => ({
    statusCode: 404,
    body: JSON.stringify({ code: 'not-found', message: 'This server is the dashboard only.' }),
  });
  const server = await startApiServer(notHere, port, routes);
  print(`Settle dashboard on ${server.url}/ (Ctrl-C stops it)`);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
  return { exitCode: exitCodes.ok };
}

function notFound(key: string): Answer {
  console.error(
    `settle: ${key} does not exist (no event has created it yet). Check the key, or list instances with settle list --machine ${key.split('/')[0]}.`,
  );
  return { exitCode: exitCodes.usage };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(
      'invalid-option',
      `${what} is not JSON (${(error as Error).message}): write it as '{"type":"COUNT"}', in single quotes in a shell.`,
    );
  }
}
