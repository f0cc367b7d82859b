/**
 * SDK request handlers that hand a request to an emulator of this process directly, instead of through a
 * loopback socket: the same emulator code answers it (dynalite's request handler, fauxqs's Fastify app) with
 * the same status, headers and body, without Node's HTTP client and server on both ends. The emulators keep
 * listening on their ports for everything else (the CLI, other processes, curl).
 *
 * A request aborted by its signal rejects at once with an `AbortError`, as the SDK's own handler does; the
 * emulator finishes it unseen (a long poll then keeps what it received invisible until its visibility
 * timeout, as a dropped connection does).
 */
import { EventEmitter } from 'node:events';

/** What an SDK request handler gets: the HttpRequest fields this file reads. */
export interface InProcessRequest {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

export interface InProcessResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/** One request to an emulator, answered in this process. */
export type Dispatch = (request: {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The SDK's JSON bodies are strings and stay strings: the emulators read them as they read bytes. */
  body: Buffer | string;
}) => Promise<InProcessResponse>;

/** An SDK v3 `requestHandler` over a {@link Dispatch}. */
export class InProcessHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(private readonly dispatch: Dispatch) {}

  async handle(request: InProcessRequest, options: { readonly abortSignal?: unknown } = {}): Promise<{ response: InProcessResponse }> {
    const signal = options.abortSignal as AbortSignalLike | undefined;
    if (signal?.aborted) throw abortError();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
    const body = bodyOf(request.body);
    if (!('content-length' in headers))
      headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    const answer = this.dispatch({ method: request.method, url: urlOf(request), headers, body });
    if (!signal) return { response: await answer };
    return {
      response: await new Promise<InProcessResponse>((resolve, reject) => {
        const onAbort = () => reject(abortError());
        if (typeof signal.addEventListener === 'function') signal.addEventListener('abort', onAbort, { once: true });
        else signal.onabort = onAbort;
        answer.then(resolve, reject).finally(() => {
          if (typeof signal.removeEventListener === 'function') signal.removeEventListener('abort', onAbort);
        });
      }),
    };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}

interface AbortSignalLike {
  readonly aborted: boolean;
  onabort?: ((this: unknown, event: unknown) => unknown) | null;
  addEventListener?: (type: 'abort', listener: () => void, options?: { once?: boolean }) => void;
  removeEventListener?: (type: 'abort', listener: () => void) => void;
}

function abortError(): Error {
  const error = new Error('Request aborted');
  error.name = 'AbortError';
  return error;
}

function bodyOf(body: unknown): Buffer | string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('The in-process handler takes string or byte bodies; stream bodies go over HTTP.');
}

function urlOf(request: InProcessRequest): string {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(request.query ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      pairs.push(one === null ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${encodeURIComponent(one)}`);
    }
  }
  return pairs.length > 0 ? `${request.path}?${pairs.join('&')}` : request.path;
}

type NodeRequestListener = (req: EventEmitter, res: unknown) => void;

/**
 * dynalite's own request listener, called with a minimal request and response: it reads `headers`, `method`
 * and `url`, the `data` and `end` events, and answers with `statusCode`, `setHeader` and `end`.
 */
export function dispatchToListener(listener: NodeRequestListener): Dispatch {
  return (request) =>
    new Promise((resolve) => {
      const req = Object.assign(new EventEmitter(), { headers: request.headers, method: request.method, url: request.url });
      const headers: Record<string, string> = {};
      const res = {
        statusCode: 200,
        contentType: undefined as string | undefined,
        setHeader(name: string, value: unknown) {
          headers[name.toLowerCase()] = String(value);
        },
        end(body?: string | Buffer) {
          const bytes = body === undefined ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body) : body;
          resolve({ statusCode: res.statusCode, headers, body: bytes });
        },
      };
      listener(req, res);
      // dynalite reads the whole body with toString(), so a string chunk reads the same; a large one goes as bytes,
      // as dynalite's 16 MB request limit counts them.
      const body = typeof request.body === 'string' && request.body.length > 1 << 20 ? Buffer.from(request.body) : request.body;
      if (body.length > 0) req.emit('data', body);
      req.emit('end');
    });
}

/** Fastify's `inject` (fauxqs): its full request pipeline, without a socket. */
export function dispatchToFastify(app: {
  inject(options: { method: string; url: string; headers: Record<string, string>; payload: Buffer | string }): PromiseLike<{
    statusCode: number;
    headers: Record<string, unknown>;
    rawPayload: Buffer;
  }>;
}): Dispatch {
  return async (request) => {
    const response = await app.inject({ method: request.method, url: request.url, headers: request.headers, payload: request.body });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { statusCode: response.statusCode, headers, body: response.rawPayload };
  };
}
