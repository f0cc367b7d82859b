import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EventObject } from 'xstate';

/**
 * Callback tokens (docs/DESIGN.md, "Callback links"): the only authority a callback route takes. A token binds
 * an instance, an event (plus the names of the fields a caller may add to it), an expiry and a nonce, signed
 * with HMAC-SHA256. Its claims are readable by whoever holds the link — put no secret in the event — but
 * cannot be changed without the key.
 */

export interface CallbackClaims {
  /** The instance key, `<machine>/<instanceId>`. */
  readonly instance: string;
  /** The event the link sends, as it will be sent (with `data` fields added from the caller). */
  readonly event: EventObject & Record<string, unknown>;
  /** Fields the caller may add to the event (e.g. `reason` for a rejection), strings only. */
  readonly data: readonly string[];
  /** Expiry, epoch seconds. */
  readonly expiresAt: number;
  /** Unique per link: the SQS deduplication id, so a second click within 5 minutes is dropped. */
  readonly nonce: string;
}

/** Why a token was refused; the route answers 403 for `invalid-token`, 410 for `expired-token`. */
export class CallbackTokenError extends Error {
  readonly code: 'invalid-token' | 'expired-token';

  constructor(code: 'invalid-token' | 'expired-token', message: string) {
    super(message);
    this.name = 'CallbackTokenError';
    this.code = code;
  }
}

const version = 'v1';

/** Signs `claims` without a nonce (a fresh one is drawn) into a URL-safe token. */
export function signCallback(key: string, claims: Omit<CallbackClaims, 'nonce'>): string {
  const body = {
    v: version,
    i: claims.instance,
    e: claims.event,
    ...(claims.data.length > 0 ? { d: claims.data } : {}),
    x: claims.expiresAt,
    n: randomBytes(16).toString('base64url'),
  };
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  return `${payload}.${signature(key, payload)}`;
}

/** The token's claims if its signature holds and it has not expired at `nowSeconds`; throws otherwise. */
export function verifyCallback(key: string, token: string, nowSeconds: number): CallbackClaims {
  const tampered = new CallbackTokenError(
    'invalid-token',
    'This link is not valid: it was changed or cut short, or it was made for another Settle stack. Ask for a new link.',
  );
  const [payload, given, ...rest] = token.split('.');
  if (!payload || !given || rest.length > 0) throw tampered;
  const expected = Buffer.from(signature(key, payload), 'base64url');
  const actual = Buffer.from(given, 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw tampered;
  let body: { v?: unknown; i?: unknown; e?: unknown; d?: unknown; x?: unknown; n?: unknown };
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof body;
  } catch {
    throw tampered;
  }
  const { v, i, e, d, x, n } = body;
  const event = e as { type?: unknown } | null;
  const data = d ?? [];
  if (
    v !== version ||
    typeof i !== 'string' ||
    typeof event !== 'object' ||
    event === null ||
    typeof event.type !== 'string' ||
    !Array.isArray(data) ||
    !data.every((field) => typeof field === 'string') ||
    typeof x !== 'number' ||
    typeof n !== 'string'
  ) {
    throw tampered;
  }
  if (nowSeconds >= x) {
    throw new CallbackTokenError(
      'expired-token',
      `This link expired on ${new Date(x * 1000).toISOString()}: it no longer acts on ${i}. Ask for a new link.`,
    );
  }
  return { instance: i, event: event as EventObject & Record<string, unknown>, data: data as string[], expiresAt: x, nonce: n };
}

function signature(key: string, payload: string): string {
  return createHmac('sha256', key).update(`settle-callback.${payload}`).digest('base64url');
}
