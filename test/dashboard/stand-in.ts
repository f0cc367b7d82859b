/**
 * A stand-in for the dashboard server, for the app's own tests: a node:http server on 127.0.0.1 that serves the
 * built app and answers the JSON routes from fixture data the test changes as it goes, recording each request.
 * The acceptance tests run against the real `settle dev` (test/dashboard/dashboard.test.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeadLetters, Fleet, InstanceDetail, InstanceSummary, MachineInfo, RedriveResult } from '../../dashboard/app/contract.ts';
import { dashboardAssets } from '../../dashboard/build.ts';

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface StandInData {
  machines: MachineInfo[];
  fleets: Record<string, Fleet>;
  instances: InstanceSummary[];
  details: Record<string, InstanceDetail>;
  deadLetters: DeadLetters;
  /** The answer to POST /send. */
  send: (body: { key: string; event: Record<string, unknown> }) => { status: number; body: unknown };
  /** The answer to POST /redrive. */
  redrive: (body: { letterId: string; force?: boolean }) => { status: number; body: unknown };
}

export interface StandIn {
  readonly url: string;
  readonly data: StandInData;
  readonly requests: Recorded[];
  /** Answers every API route with 503 while true. */
  down: boolean;
  stop(): Promise<void>;
}

/** A diagram the way diagram/ draws one, reduced: a group per state with `data-state`, lit ones `data-active`. */
export function fixtureDiagram(
  paths: readonly string[],
  options: { active?: readonly string[]; counts?: Readonly<Record<string, number>> } = {},
): string {
  const rows = paths.map((path, index) => {
    const depth = path.split('.').length - 1;
    const active = options.active?.includes(path) ? ' data-active="true"' : '';
    const count = options.counts?.[path];
    return (
      `<g data-state="${path}"${active}><rect x="${10 + depth * 20}" y="${10 + index * 30}" width="${260 - depth * 20}" height="24" ` +
      `fill="${active ? '#d9f2e1' : '#fff'}" stroke="#333"/><text x="${16 + depth * 20}" y="${27 + index * 30}">${path}${
        count === undefined ? '' : ` (${count})`
      }</text></g>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 ${20 + paths.length * 30}" width="300">${rows.join('')}</svg>`;
}

export const approvalPaths = [
  'draft',
  'review',
  'review.legal',
  'review.legal.pending',
  'review.legal.signed',
  'review.finance',
  'review.finance.pending',
  'review.finance.signed',
  'approved',
  'rejected',
];

export function summary(key: string, states: readonly string[], updatedAt: string, extra: Partial<InstanceSummary> = {}): InstanceSummary {
  const [machine = '', id = ''] = key.split('/');
  return {
    key,
    machine,
    id,
    states,
    status: 'active',
    outcome: 'resolve',
    tags: ['resolve'],
    lastSeq: '10000000000000000001',
    wakeAt: undefined,
    createdAt: updatedAt,
    updatedAt,
    ...extra,
  };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

function send(response: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

export async function startStandIn(data: StandInData): Promise<StandIn> {
  const assets = await dashboardAssets();
  const requests: Recorded[] = [];
  const state = { down: false };
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const query = Object.fromEntries(url.searchParams);
      const method = request.method ?? 'GET';
      const body = method === 'POST' ? await readJson(request) : undefined;
      if (url.pathname === '/') return send(response, 200, assets.html, 'text/html; charset=utf-8');
      if (url.pathname === '/dashboard/app.js') return send(response, 200, assets.js, 'text/javascript; charset=utf-8');
      if (url.pathname === '/dashboard/app.css') return send(response, 200, assets.css, 'text/css; charset=utf-8');
      requests.push({ method, path: url.pathname.replace('/dashboard/api', ''), query, body });
      if (state.down) return send(response, 503, { code: 'unavailable', message: 'The stand-in is down.' });
      switch (`${method} ${url.pathname}`) {
        case 'GET /dashboard/api/machines':
          return send(response, 200, { machines: data.machines });
        case 'GET /dashboard/api/fleet': {
          const fleet = data.fleets[query.machine ?? ''];
          return fleet
            ? send(response, 200, fleet)
            : send(response, 404, { code: 'unknown-machine', message: `No machine ${query.machine}.` });
        }
        case 'GET /dashboard/api/instances': {
          const matching = data.instances.filter(
            (item) =>
              item.machine === query.machine &&
              (!query.state || item.states.some((s) => s === query.state || s.startsWith(`${query.state}.`))) &&
              (!query.status || item.status === query.status) &&
              (!query.outcome || item.outcome === query.outcome),
          );
          const start = Number(query.cursor ?? 0);
          const limit = Number(query.limit ?? 50);
          const items = matching.slice(start, start + limit);
          return send(response, 200, { items, ...(start + limit < matching.length ? { cursor: String(start + limit) } : {}) });
        }
        case 'GET /dashboard/api/instance': {
          const detail = data.details[query.key ?? ''];
          return detail
            ? send(response, 200, detail)
            : send(response, 404, { code: 'unknown-instance', message: `${query.key} does not exist: no event has created it yet.` });
        }
        case 'GET /dashboard/api/dead-letters':
          return send(response, 200, data.deadLetters);
        case 'POST /dashboard/api/send': {
          const answer = data.send(body as { key: string; event: Record<string, unknown> });
          return send(response, answer.status, answer.body);
        }
        case 'POST /dashboard/api/redrive': {
          const answer = data.redrive(body as { letterId: string; force?: boolean });
          return send(response, answer.status, answer.body);
        }
        default:
          return send(response, 404, { code: 'not-found', message: `No route ${method} ${url.pathname}.` });
      }
    })().catch((error: unknown) => send(response, 500, { code: 'internal-error', message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    data,
    requests,
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type { RedriveResult };
