/**
 * The dashboard's server side (docs/DESIGN.md, "Dashboard"): the page and its JSON routes under
 * `/dashboard/api`, over {@link SettleClient}. It runs on the user's machine only — inside `settle dev` next to
 * the HTTP API, or as `settle dashboard --stack <name>` with the user's own AWS credentials — and takes changes
 * only from its own page, so that no web page the user visits can drive it.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { AnyStateMachine } from 'xstate';
import type { InstanceSummary } from '../client/list-query.ts';
import type { DashboardAssets } from './build.ts';
import { header } from '../api/handler.ts';
import type { SettleClient } from '../client/settle-client.ts';
import { PermanentError, RequestError, WaitTimeoutError } from '../runtime/core/errors.ts';
import { parseInstanceKey } from '../runtime/core/instance-key.ts';
import { acceptedEventTypes, eventTypesInStates } from '../runtime/core/machine-events.ts';
import { type MachineRegistry, registeredMachine } from '../runtime/core/registry.ts';
import { statesWithAncestors } from '../runtime/core/listing.ts';

/** Draws a machine (diagram/): its states lit, or counts per state path on it. */
export type DrawMachine = (
  machine: AnyStateMachine,
  options: { readonly active?: readonly string[]; readonly counts?: Readonly<Record<string, StateCount>> },
) => Promise<string>;

export interface StateCount {
  readonly count: number;
  /** The oldest last update among the instances in that state (ISO). */
  readonly oldestUpdatedAt: string;
}

export interface DashboardOptions {
  readonly client: SettleClient;
  /** The machines to show; the current one for each request (settle dev reloads it). */
  readonly registry: () => MachineRegistry;
  readonly draw: DrawMachine;
  readonly assets: () => Promise<DashboardAssets>;
}

export type DashboardHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2 | undefined>;

/** How long `send` waits for the outcome before it answers 202. */
const sendWaitMs = 10_000;
/** The dead-letter listing a refreshing page may reuse: every browse hides every letter while it runs. */
const deadLettersMaxAgeMs = 3000;
/** Fleet counts read at most this many instances per machine. */
const fleetLimit = 100_000;

class DashboardError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Answers the dashboard's paths, and `undefined` for any other (the HTTP API's, in `settle dev`). */
export function createDashboardHandler(options: DashboardOptions): DashboardHandler {
  return async (event) => {
    const path = event.rawPath;
    const method = event.requestContext.http.method.toUpperCase();
    if (path !== '/' && !path.startsWith('/dashboard/')) return undefined;
    try {
      checkOrigin(event, method);
      if (method === 'GET' && path === '/') return asset('text/html; charset=utf-8', (await options.assets()).html);
      if (method === 'GET' && path === '/dashboard/app.js') return asset('text/javascript; charset=utf-8', (await options.assets()).js);
      if (method === 'GET' && path === '/dashboard/app.css') return asset('text/css; charset=utf-8', (await options.assets()).css);
      const query = event.queryStringParameters ?? {};
      const registry = options.registry();
      switch (`${method} ${path}`) {
        case 'GET /dashboard/api/machines':
          return json(200, { machines: await machines(options, registry) });
        case 'GET /dashboard/api/fleet':
          return json(200, await fleet(options, registry, query.machine ?? ''));
        case 'GET /dashboard/api/instances':
          return json(200, await options.client.list({ machine: query.machine ?? '', ...listFilters(query) }));
        case 'GET /dashboard/api/instance':
          return json(200, await instance(options, registry, query.key ?? ''));
        case 'POST /dashboard/api/send':
          return await send(options.client, body(event));
        case 'GET /dashboard/api/dead-letters':
          return json(200, await options.client.deadLetters.list({ maxAgeMs: deadLettersMaxAgeMs }));
        case 'POST /dashboard/api/redrive': {
          const { letterId, force } = body(event) as { letterId?: unknown; force?: unknown };
          if (typeof letterId !== 'string')
            throw new DashboardError(400, 'invalid-option', 'Say which letter to redrive: { "letterId": "…" }.');
          return json(200, { results: await options.client.deadLetters.redrive({ letterIds: [letterId], force: force === true }) });
        }
        default:
          throw new DashboardError(404, 'not-found', `No dashboard route ${method} ${path}.`);
      }
    } catch (error) {
      if (error instanceof DashboardError) return json(error.status, { code: error.code, message: error.message });
      if (error instanceof PermanentError || error instanceof RequestError) {
        return json(error.code === 'unknown-machine' ? 404 : 400, { code: error.code, message: error.message });
      }
      console.error('Settle dashboard: unexpected failure', error);
      return json(500, { code: 'internal-error', message: `The dashboard could not answer: ${(error as Error).message}` });
    }
  };
}

async function machines(options: DashboardOptions, registry: MachineRegistry) {
  return Promise.all(
    Object.entries(registry).map(async ([name, definition]) => ({
      name,
      version: definition.version,
      events: acceptedEventTypes(definition.machine).filter((type) => !type.includes('*')),
      diagram: await options.draw(definition.machine, {}),
    })),
  );
}

/** How many instances rest in each state (every state path and its ancestors), and the oldest update in each. */
async function fleet(options: DashboardOptions, registry: MachineRegistry, machine: string) {
  const definition = definitionOf(registry, machine);
  const counts: Record<string, { count: number; oldestUpdatedAt: string }> = {};
  const instances = await options.client.listAll({ machine }, fleetLimit);
  for (const item of instances) {
    for (const path of statesWithAncestors(item.states)) tally(counts, path, item);
  }
  const total = instances.length;
  return { machine, total, counts, diagram: await options.draw(definition.machine, { counts }) };
}

function tally(counts: Record<string, { count: number; oldestUpdatedAt: string }>, path: string, item: InstanceSummary): void {
  const entry = counts[path];
  if (!entry) counts[path] = { count: 1, oldestUpdatedAt: item.updatedAt };
  else {
    entry.count += 1;
    if (item.updatedAt < entry.oldestUpdatedAt) entry.oldestUpdatedAt = item.updatedAt;
  }
}

async function instance(options: DashboardOptions, registry: MachineRegistry, key: string) {
  const { machine, instanceId } = parseInstanceKey(key);
  const definition = definitionOf(registry, machine);
  const view = await options.client.get(machine, instanceId);
  if (!view) throw new DashboardError(404, 'unknown-instance', `${key} does not exist: no event has created it yet.`);
  const [diagram, letters] = await Promise.all([
    options.draw(definition.machine, { active: view.states }),
    options.client.deadLetters.list({ instance: view.key, maxAgeMs: deadLettersMaxAgeMs }),
  ]);
  return { instance: view, diagram, events: eventTypesInStates(definition.machine, view.states), deadLetters: letters.letters };
}

async function send(client: SettleClient, input: unknown) {
  const { key, event } = (input ?? {}) as { key?: unknown; event?: unknown };
  if (typeof key !== 'string')
    throw new DashboardError(400, 'invalid-option', 'Say which instance: { "key": "<machine>/<id>", "event": {…} }.');
  const { machine, instanceId } = parseInstanceKey(key);
  const sent = await client.send(machine, instanceId, event as never);
  try {
    return json(200, { result: await client.waitFor(sent.instanceKey, sent.sequenceNumber, { timeoutMs: sendWaitMs }) });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    return json(202, { sequenceNumber: sent.sequenceNumber, message: error.message });
  }
}

function definitionOf(registry: MachineRegistry, machine: string) {
  const definition = registeredMachine(registry, machine);
  if (!definition) {
    throw new DashboardError(
      404,
      'unknown-machine',
      `No machine named '${machine}'; known: ${Object.keys(registry).join(', ') || 'none'}.`,
    );
  }
  return definition;
}

function listFilters(query: Record<string, string | undefined>) {
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  return {
    ...(query.state ? { state: query.state } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...(query.outcome ? { outcome: query.outcome } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
    ...(limit === undefined ? {} : { limit }),
  };
}

/**
 * Changes only as same-origin JSON: a page on another site can neither send them (its Origin differs, and a
 * cross-site JSON POST needs a preflight this server never grants) nor read the answers. The local server
 * has already refused any Host but 127.0.0.1 and localhost (api/server.ts).
 */
function checkOrigin(event: APIGatewayProxyEventV2, method: string): void {
  if (method === 'GET') return;
  const origin = header(event, 'origin');
  if (origin !== undefined && origin !== `http://${header(event, 'host') ?? ''}`) {
    throw new DashboardError(403, 'forbidden-origin', `The dashboard takes changes from its own page only, not from ${origin}.`);
  }
  if ((header(event, 'content-type') ?? '').split(';')[0]?.trim() !== 'application/json') {
    throw new DashboardError(415, 'unsupported-media-type', 'Send JSON with Content-Type: application/json.');
  }
}

function body(event: APIGatewayProxyEventV2): unknown {
  try {
    return JSON.parse(event.body ?? '');
  } catch {
    throw new DashboardError(400, 'invalid-json', 'The body is not JSON.');
  }
}

function asset(type: string, body: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 200,
    headers: {
      'content-type': type,
      'cache-control': 'no-store',
      // Everything the page needs comes from this server; diagrams are inline SVG.
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      'x-content-type-options': 'nosniff',
    },
    body,
  };
}

function json(status: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}
