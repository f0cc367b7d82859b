/**
 * The dashboard's JSON routes (same origin, under /dashboard/api), typed by contract.ts. Every failure is an
 * {@link ApiError}: the server's `{ code, message }`, or `network` when it did not answer.
 */
import type {
  DeadLetters,
  EventResult,
  Fleet,
  InstanceDetail,
  ListFilters,
  ListPage,
  MachineInfo,
  RedriveResult,
  SendAnswer,
} from './contract.ts';

export type * from './contract.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const base = '/dashboard/api';

async function call<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { ...init, headers: { accept: 'application/json', ...init.headers } });
  } catch (error) {
    throw new ApiError(0, 'network', `The dashboard server did not answer (${(error as Error).message}). Is settle still running?`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status, 'invalid-answer', `The dashboard server answered ${response.status} without JSON.`);
  }
  if (!response.ok) {
    const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
    throw new ApiError(
      response.status,
      typeof code === 'string' ? code : 'error',
      typeof message === 'string' ? message : `The dashboard server answered ${response.status}.`,
    );
  }
  return { status: response.status, body: body as T };
}

const get = async <T>(path: string, signal?: AbortSignal): Promise<T> => (await call<T>(path, signal ? { signal } : {})).body;

const post = <T>(path: string, payload: unknown) =>
  call<T>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });

const query = (parameters: Record<string, string | number | undefined>) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
};

const redriveAttempts = 4;
let redriving = 0;

/** True while a redrive runs: views that browse the dead-letter queue hold their refresh, so as not to hide its letter. */
export const redriveRunning = () => redriving > 0;

export const api = {
  machines: (signal?: AbortSignal) => get<{ machines: MachineInfo[] }>('/machines', signal).then((answer) => answer.machines),
  fleet: (machine: string, signal?: AbortSignal) => get<Fleet>(`/fleet${query({ machine })}`, signal),
  instances: (machine: string, filters: ListFilters, cursor: string | undefined, limit: number, signal?: AbortSignal) =>
    get<ListPage>(`/instances${query({ machine, ...filters, cursor, limit })}`, signal),
  instance: (key: string, signal?: AbortSignal) => get<InstanceDetail>(`/instance${query({ key })}`, signal),
  deadLetters: (signal?: AbortSignal) => get<DeadLetters>('/dead-letters', signal),
  async send(key: string, event: Record<string, unknown>): Promise<SendAnswer> {
    const { status, body } = await post<{ result?: EventResult; sequenceNumber?: string; message?: string }>('/send', { key, event });
    if (status === 202 || !body.result) return { kind: 'queued', sequenceNumber: body.sequenceNumber ?? '', message: body.message ?? '' };
    return { kind: 'settled', result: body.result };
  },
  /**
   * Redrives one letter. A browse of the queue (another view's refresh, another person's) holds every letter out
   * of sight for a moment, so a letter not found is looked for again a few times before the answer is empty.
   */
  async redrive(letterId: string, force = false): Promise<RedriveResult[]> {
    redriving += 1;
    try {
      for (let attempt = 1; ; attempt += 1) {
        const { results } = (await post<{ results: RedriveResult[] }>('/redrive', { letterId, ...(force ? { force: true } : {}) })).body;
        if (results.length > 0 || attempt === redriveAttempts) return results;
        await new Promise((resolve) => window.setTimeout(resolve, 1000));
      }
    } finally {
      redriving -= 1;
    }
  },
};
