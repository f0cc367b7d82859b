/**
 * Settle's HTTP API (docs/DESIGN.md, "HTTP API"): one handler of API Gateway HTTP API events (payload 2.0), the
 * same behind API Gateway and behind the local server. It sends events and reads instances through
 * {@link SettleClient}, and serves callback links.
 *
 *   POST /instances/{machine}/{id}/events[?wait=<s ≤ 25>]   Idempotency-Key → SQS deduplication id
 *   GET  /instances/{machine}/{id}
 *   GET  /instances?machine=&state=&status=&outcome=&limit=&cursor=
 *   GET  /callbacks/{token}     shows what the link does, changes nothing
 *   POST /callbacks/{token}     does it
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { SettleClient } from '../client/settle-client.ts';
import { CallbackTokenError, type CallbackClaims, verifyCallback } from '../runtime/core/callback-token.ts';
import { PermanentError, RequestError, WaitTimeoutError } from '../runtime/core/errors.ts';
import { parseInstanceKey } from '../runtime/core/instance-key.ts';
import { takesEventNow } from '../runtime/core/machine-events.ts';
import { type MachineRegistry, registeredMachine } from '../runtime/core/registry.ts';
import { callbackPage, decisionPage, type Page } from './pages.ts';

export interface ApiOptions {
  readonly client: SettleClient;
  /** The registry the worker runs: events are checked against it before they are sent. */
  readonly registry: MachineRegistry;
  /** The callback signing key, or what fetches it (once). */
  readonly callbackKey: string | (() => Promise<string>);
  /** @default Date.now */
  readonly now?: () => number;
}

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/** The longest `?wait=`: API Gateway ends an integration after 30 s. */
export const maxWaitSeconds = 25;
/** How long a callback POST waits for the outcome it shows. */
const callbackWaitMs = 20_000;

/** An answer of the API: `{ code, message }` with a 4xx for anything the caller can fix. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The HTTP status of each refusal code: the DLQ's codes where they match. */
const statusOf: Readonly<Record<string, number>> = {
  'invalid-instance-key': 400,
  'invalid-json': 400,
  'invalid-event': 400,
  'reserved-type': 400,
  'invalid-option': 400,
  'event-too-large': 413,
  'payload-refused': 400,
  'unknown-machine': 404,
  'unknown-event': 422,
  'schema-violation': 422,
};

export function createApiHandler(options: ApiOptions): ApiHandler {
  const now = options.now ?? Date.now;
  let key: Promise<string> | undefined;
  const callbackKey = () =>
    (key ??= typeof options.callbackKey === 'string' ? Promise.resolve(options.callbackKey) : options.callbackKey());

  return async (event) => {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath.replace(/\/+$/, '') || '/';
    const wantsHtml = (header(event, 'accept') ?? '').includes('text/html');
    try {
      const segments = path.split('/').slice(1).map(decodeURIComponent);
      if (segments[0] === 'instances' && segments.length === 4 && segments[3] === 'events' && method === 'POST') {
        return await postEvent(options.client, event, `${segments[1]}/${segments[2]}`);
      }
      if (segments[0] === 'instances' && segments.length === 3 && method === 'GET') {
        return await getInstance(options.client, `${segments[1]}/${segments[2]}`);
      }
      if (segments[0] === 'instances' && segments.length === 1 && method === 'GET') {
        return await listInstances(options.client, event);
      }
      if (segments[0] === 'callbacks' && segments.length === 2 && (method === 'GET' || method === 'POST')) {
        const claims = verifyCallback(await callbackKey(), segments[1] ?? '', Math.floor(now() / 1000));
        const page = method === 'GET' ? await showCallback(options, claims, event) : await followCallback(options.client, claims, event);
        return wantsHtml ? html(page.status, page.html) : json(page.status, page.body);
      }
      throw new HttpError(404, 'not-found', `No route ${method} ${path}. See the README's "HTTP API and callback links" for the routes.`);
    } catch (error) {
      const { status, code, message } = refusalOf(error);
      if (wantsHtml && path.startsWith('/callbacks/'))
        return html(status, callbackPage({ status, title: 'This link cannot be used', message }).html);
      return json(status, { code, message });
    }
  };
}

async function postEvent(
  client: SettleClient,
  event: APIGatewayProxyEventV2,
  instance: string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const key = parseInstanceKey(instance);
  const body = jsonBody(event, client.maxEventBytes);
  const wait = waitSeconds(event.queryStringParameters?.wait);
  const idempotencyKey = header(event, 'idempotency-key');
  if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,128}$/.test(idempotencyKey)) {
    throw new HttpError(400, 'invalid-idempotency-key', 'Idempotency-Key must be 1 to 128 printable ASCII characters without spaces.');
  }
  const sendOptions = idempotencyKey === undefined ? {} : { deduplicationId: idempotencyKey };
  const sent = await client.send(key.machine, key.instanceId, body as never, sendOptions);
  if (wait === undefined) return json(202, { instanceKey: sent.instanceKey, sequenceNumber: sent.sequenceNumber });
  try {
    return json(200, await client.waitFor(sent.instanceKey, sent.sequenceNumber, { timeoutMs: wait * 1000 }));
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    return json(202, { instanceKey: sent.instanceKey, sequenceNumber: sent.sequenceNumber, message: error.message });
  }
}

async function getInstance(client: SettleClient, instance: string): Promise<APIGatewayProxyStructuredResultV2> {
  const key = parseInstanceKey(instance);
  const view = await client.get(key.machine, key.instanceId);
  if (!view) throw new HttpError(404, 'unknown-instance', `${key.key} does not exist: no event has created it yet.`);
  return json(200, view);
}

async function listInstances(client: SettleClient, event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const query = event.queryStringParameters ?? {};
  if (!query.machine) throw new HttpError(400, 'invalid-option', 'Name the machine: GET /instances?machine=<name>[&state=<path>].');
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  const page = await client.list({
    machine: query.machine,
    ...(query.state === undefined ? {} : { state: query.state }),
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
    ...(query.updatedBefore === undefined ? {} : { updatedBefore: query.updatedBefore }),
    ...(limit === undefined ? {} : { limit }),
    ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
  });
  return json(200, page);
}

/** GET: what the link will do, and whether the instance can still take it. Changes nothing. */
async function showCallback(options: ApiOptions, claims: CallbackClaims, event: APIGatewayProxyEventV2): Promise<Page> {
  const key = parseInstanceKey(claims.instance);
  const view = await options.client.get(key.machine, key.instanceId);
  const definition = registeredMachine(options.registry, key.machine);
  const open = !view || !definition || takesEventNow(definition.machine, view.value, view.context, claims.event);
  return decisionPage({
    claims,
    state: view?.states ?? [],
    open,
    action: event.rawPath,
  });
}

/** POST: sends the link's event (its nonce the deduplication id) and answers with the outcome. */
async function followCallback(client: SettleClient, claims: CallbackClaims, event: APIGatewayProxyEventV2): Promise<Page> {
  const key = parseInstanceKey(claims.instance);
  const data = callerData(event, claims.data);
  const before = await client.get(key.machine, key.instanceId);
  const sent = await client.send(key.machine, key.instanceId, { ...claims.event, ...data } as never, { deduplicationId: claims.nonce });
  if (before && BigInt(sent.sequenceNumber) <= BigInt(before.lastSeq)) {
    // SQS dropped the send as a repeat of this link's: it was followed before, and the instance has handled it.
    const earlier = before.history.find((entry) => entry.seq === sent.sequenceNumber);
    return callbackPage({
      status: 200,
      title: 'This link was already used',
      message: `${key.key} took this ${claims.event.type} before${earlier ? ` (${earlier.at}, ${earlier.outcome})` : ''}; nothing changed now.`,
      body: { decision: 'already-used', instanceKey: key.key, sequenceNumber: sent.sequenceNumber, states: before.states },
    });
  }
  try {
    const result = await client.waitFor(sent.instanceKey, sent.sequenceNumber, { timeoutMs: callbackWaitMs });
    if (result.outcome === 'ignored') {
      return callbackPage({
        status: 200,
        title: 'Already decided',
        message: `${key.key} no longer takes ${claims.event.type}: it is in ${result.states.join(', ')}. Nothing changed.`,
        body: { decision: 'already-decided', ...result },
      });
    }
    if (result.outcome === 'dead-lettered') {
      return callbackPage({
        status: 422,
        title: 'This could not be done',
        message: `${key.key} refused ${claims.event.type}: ${result.deadLetter?.reason ?? result.deadLetter?.code ?? 'unknown reason'}`,
        body: { decision: 'dead-lettered', ...result },
      });
    }
    return callbackPage({
      status: 200,
      title: 'Done',
      message: `${key.key} took ${claims.event.type}: it is now in ${result.states.join(', ')}.`,
      body: { decision: 'done', ...result },
    });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    return callbackPage({
      status: 202,
      title: 'Received',
      message: `${key.key} has ${claims.event.type} queued; it is taken in order. You can close this page.`,
      body: { decision: 'queued', instanceKey: key.key, sequenceNumber: sent.sequenceNumber },
    });
  }
}

/** The fields the link lets the caller add, from a JSON or form body: strings only, 2,000 characters each. */
function callerData(event: APIGatewayProxyEventV2, allowed: readonly string[]): Record<string, string> {
  if (allowed.length === 0 || !event.body) return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const type = header(event, 'content-type') ?? '';
  let fields: Record<string, unknown>;
  if (type.startsWith('application/x-www-form-urlencoded')) {
    fields = Object.fromEntries(new URLSearchParams(text));
  } else {
    try {
      fields = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new HttpError(
        400,
        'invalid-json',
        'The body is neither a form nor JSON: send the fields the link takes as a form or a JSON object.',
      );
    }
  }
  const data: Record<string, string> = {};
  for (const name of allowed) {
    const value = fields?.[name];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string' || value.length > 2000) {
      throw new HttpError(400, 'invalid-event', `"${name}" must be a string of at most 2,000 characters.`);
    }
    data[name] = value;
  }
  return data;
}

function jsonBody(event: APIGatewayProxyEventV2, maxEventBytes: number): unknown {
  const type = (header(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(
      415,
      'unsupported-media-type',
      `Send the event as JSON with Content-Type: application/json (got ${type || 'none'}).`,
    );
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  const size = Buffer.byteLength(text);
  if (size > maxEventBytes) {
    throw new HttpError(
      413,
      'event-too-large',
      `The event is ${size} bytes, over the ${maxEventBytes}-byte limit. Send a reference instead of the payload.`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      'invalid-json',
      `The body is not JSON (${(error as Error).message}). Send the event as a JSON object, e.g. {"type":"APPROVE"}.`,
    );
  }
}

function waitSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > maxWaitSeconds) {
    throw new HttpError(400, 'invalid-wait', `wait must be a number of seconds above 0 and at most ${maxWaitSeconds}, got '${text}'.`);
  }
  return value;
}

function refusalOf(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof CallbackTokenError)
    return { status: error.code === 'expired-token' ? 410 : 403, code: error.code, message: error.message };
  if (error instanceof PermanentError || error instanceof RequestError) {
    return { status: statusOf[error.code] ?? 400, code: error.code, message: error.message };
  }
  console.error('Settle API: unexpected failure', error);
  return { status: 500, code: 'internal-error', message: 'Settle could not answer; the error is in the API function log. Try again.' };
}

/** A request header by its lower-case name (API Gateway and the local server send them lower-cased; others may not). */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

function json(status: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  // One line per answer, ending in a newline, so that answers read well in a terminal (curl) and in logs.
  return { statusCode: status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: `${JSON.stringify(body)}\n` };
}

function html(status: number, body: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // The page runs no script and loads nothing; forms post only back to this API.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    },
    body,
  };
}
