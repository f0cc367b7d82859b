/**
 * Settle's one errors module.
 *
 * A {@link PermanentError} is never retried: the record goes to the dead-letter queue at once
 * with `code` and `message` as its reason, and its group moves on. A {@link RetryableError}
 * fails the record and every later record of its group, so SQS redelivers them in order.
 * Messages say what happened, to which instance and event, and what to do about it.
 */

export type ErrorKind = 'permanent' | 'retryable';

/** Machine-readable reasons, written to the DLQ as the `settle-error` attribute. */
export type PermanentCode =
  | 'invalid-instance-key'
  | 'invalid-sequence-number'
  | 'invalid-json'
  | 'invalid-event'
  | 'reserved-type'
  | 'event-too-large'
  | 'schema-violation'
  | 'unknown-machine'
  | 'unknown-machine-version'
  | 'snapshot-mismatch'
  | 'machine-error'
  | 'inline-actor'
  | 'undurable-timer'
  | 'snapshot-too-large'
  | 'payload-refused'
  | 'payload-missing'
  | 'payload-corrupt'
  | 'retries-exhausted';

export type RetryableCode =
  | 'version-conflict'
  | 'settle-timeout'
  | 'storage-unavailable'
  | 'payload-store-unavailable'
  | 'dead-letter-unavailable'
  | 'queue-unavailable';

export abstract class SettleError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: PermanentCode | RetryableCode;
  /** The instance key (`<machine>/<instanceId>`) the error concerns, when known. */
  readonly instanceKey: string | undefined;

  constructor(message: string, options: { instanceKey?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.instanceKey = options.instanceKey;
  }
}

export class PermanentError extends SettleError {
  readonly kind = 'permanent' as const;
  readonly code: PermanentCode;

  constructor(code: PermanentCode, message: string, options: { instanceKey?: string | undefined; cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
  }
}

export class RetryableError extends SettleError {
  readonly kind = 'retryable' as const;
  readonly code: RetryableCode;

  constructor(code: RetryableCode, message: string, options: { instanceKey?: string | undefined; cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
  }
}

/** Another writer saved the instance after we read it: re-read and apply again, never overwrite. */
export class VersionConflictError extends RetryableError {
  readonly expectedVersion: number | undefined;

  constructor(instanceKey: string, expectedVersion: number | undefined, cause?: unknown) {
    super(
      'version-conflict',
      `Instance ${instanceKey} was saved by another worker after it was read at version ${expectedVersion ?? 'none'}; ` +
        'the batch is retried from a fresh read. Frequent conflicts mean two consumers share a message group: check the event source.',
      { instanceKey, cause },
    );
    this.expectedVersion = expectedVersion;
  }
}

/** The machine did not settle within the time the Lambda had left. */
export class SettleTimeoutError extends RetryableError {
  constructor(instanceKey: string, eventType: string, budgetMs: number, stateValue: unknown) {
    super(
      'settle-timeout',
      `Instance ${instanceKey} did not settle within ${budgetMs} ms after event '${eventType}' (it rests in ${JSON.stringify(stateValue)}). ` +
        "Tag every state where the machine waits for the outside with 'resolve' or 'reject', " +
        'make invoked work finish sooner, or raise the event timeout (SETTLE_EVENT_TIMEOUT_MS) and the worker timeout.',
      { instanceKey },
    );
  }
}

/**
 * Why the client or the `settle` CLI refused a request before sending anything: a setup problem (no stack
 * configured, a stack that does not exist, no credentials) or an option or event it can tell is wrong. The
 * event checks the worker also makes throw {@link PermanentError} with the worker's code instead.
 */
export type RequestCode = 'not-configured' | 'stack-not-found' | 'no-credentials' | 'invalid-option' | 'unknown-event';

export class RequestError extends Error {
  readonly code: RequestCode;

  constructor(code: RequestCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RequestError';
    this.code = code;
  }
}

/** `sendAndWait` ran out of time: the event is queued (or being handled), not lost. */
export class WaitTimeoutError extends Error {
  readonly instanceKey: string;
  readonly sequenceNumber: string;

  constructor(instanceKey: string, sequenceNumber: string, timeoutMs: number, instanceExists = true) {
    super(
      `Instance ${instanceKey} had not handled event ${sequenceNumber} after ${timeoutMs} ms. It is queued, not lost: ` +
        `look later with \`settle history ${instanceKey}\` (or the client's history()), or wait longer (--timeout).` +
        (instanceExists
          ? ''
          : ` ${instanceKey} does not exist yet: if this was its first event, the worker may have refused it before creating it ` +
            `(\`settle dlq list --instance ${instanceKey}\`).`),
    );
    this.name = 'WaitTimeoutError';
    this.instanceKey = instanceKey;
    this.sequenceNumber = sequenceNumber;
  }
}

/** Turns anything thrown into `{ name, message }`: an `Error` JSON-encodes as `{}`. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    return { name: typeof name === 'string' ? name : 'Error', message: String(message) };
  }
  return { name: 'NonError', message: typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error)) };
}

export function isPermanent(error: unknown): error is PermanentError {
  return error instanceof PermanentError;
}
