import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ApiHandler } from './handler.ts';

/**
 * The HTTP API on this machine: a Node server, on loopback only, that hands each request to the same handler
 * API Gateway invokes on AWS, shaped as API Gateway's HTTP API event (payload 2.0).
 */
export interface RunningApi {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

/** API Gateway's HTTP API takes bodies up to 10 MB; the handler refuses events over 256 KiB itself. */
const maxBodyBytes = 10 * 1024 * 1024;

/** Another set of routes served first (the dashboard's); `undefined` hands the request to the API. */
export type ExtraRoutes = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2 | undefined>;

export async function startApiServer(handler: ApiHandler, port = 3000, extra?: ExtraRoutes): Promise<RunningApi> {
  const server: Server = createServer((request, response) => {
    readBody(request)
      .then(async (body) => {
        const event = body === undefined ? undefined : eventOf(request, body);
        const result =
          event === undefined
            ? tooLarge()
            : !isLoopbackHost(event.headers.host)
              ? foreignHost(event.headers.host)
              : ((await extra?.(event)) ?? (await handler(event)));
        response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
        response.end(result.body ?? '');
      })
      .catch((error: unknown) => {
        console.error('Settle API (local): the handler failed', error);
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ code: 'internal-error', message: 'The local API failed; see the settle dev output.' }));
      });
  });
  // Loopback only: the local API has no authentication, as nothing outside this machine can reach it.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The body as text, or `undefined` when it is over the limit. */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Only requests addressed to this loopback server: a web page that reaches 127.0.0.1 through a DNS name it
 * controls (DNS rebinding) sends its own name as Host, and is refused.
 */
function isLoopbackHost(host: string | undefined): boolean {
  return /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host ?? '');
}

function foreignHost(host: string | undefined) {
  return {
    statusCode: 403,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      code: 'forbidden-host',
      message: `This local server answers requests to 127.0.0.1 or localhost only, not to '${host ?? ''}'.`,
    }),
  };
}

function tooLarge() {
  return {
    statusCode: 413,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: 'event-too-large', message: `The body is over ${maxBodyBytes} bytes.` }),
  };
}

function eventOf(request: IncomingMessage, body: string): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const method = request.method ?? 'GET';
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: `local-${now}-${Math.random().toString(36).slice(2)}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(body === '' ? {} : { body }),
    isBase64Encoded: false,
  };
}
