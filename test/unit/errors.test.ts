import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  describeError,
  isPermanent,
  PermanentError,
  RetryableError,
  SettleError,
  SettleTimeoutError,
  VersionConflictError,
} from '../../runtime/core/errors.ts';

describe('PermanentError and RetryableError', () => {
  it('carry their kind, code, message, instance key and class name', () => {
    const permanent = new PermanentError('unknown-machine', "No machine named 'invoice'.", { instanceKey: 'invoice/i1' });
    const retryable = new RetryableError('storage-unavailable', 'DynamoDB did not answer.', { instanceKey: 'counter/c1' });

    expect(permanent).toBeInstanceOf(SettleError);
    expect(permanent).toBeInstanceOf(Error);
    expect(permanent).toMatchObject({
      kind: 'permanent',
      code: 'unknown-machine',
      message: "No machine named 'invoice'.",
      instanceKey: 'invoice/i1',
      name: 'PermanentError',
    });
    expect(retryable).toMatchObject({
      kind: 'retryable',
      code: 'storage-unavailable',
      message: 'DynamoDB did not answer.',
      instanceKey: 'counter/c1',
      name: 'RetryableError',
    });
  });

  it('keep the cause they are given, and show none when given none', () => {
    const cause = new Error('socket hang up');

    const withCause = new RetryableError('queue-unavailable', 'SQS did not answer.', { cause });
    const withoutCause = new PermanentError('invalid-event', 'Not an object.');

    expect(withCause.cause).toBe(cause);
    expect(inspect(withCause)).toContain('[cause]: Error: socket hang up');
    expect(withoutCause.instanceKey).toBeUndefined();
    expect('cause' in withoutCause).toBe(false);
    expect(inspect(withoutCause)).not.toContain('[cause]');
  });
});

describe('VersionConflictError', () => {
  it('is a retryable version-conflict naming the instance, the version read, and what frequent conflicts mean', () => {
    const cause = new Error('ConditionalCheckFailedException');

    const error = new VersionConflictError('approval/a1', 3, cause);

    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({
      kind: 'retryable',
      code: 'version-conflict',
      instanceKey: 'approval/a1',
      expectedVersion: 3,
      name: 'VersionConflictError',
    });
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      'Instance approval/a1 was saved by another worker after it was read at version 3; the batch is retried from a fresh read. ' +
        'Frequent conflicts mean two consumers share a message group: check the event source.',
    );
  });

  it("says 'none' for an instance that did not exist when it was read", () => {
    const error = new VersionConflictError('approval/a1', undefined);

    expect(error.expectedVersion).toBeUndefined();
    expect(error.message).toMatch(/^Instance approval\/a1 was saved by another worker after it was read at version none; /);
    expect('cause' in error).toBe(false);
  });
});

describe('SettleTimeoutError', () => {
  it('is a retryable settle-timeout naming the instance, the budget, the event, where the machine rests, and the fixes', () => {
    const error = new SettleTimeoutError('approval/a1', 'SUBMIT', 4_000, { review: { legal: 'pending', finance: 'checking' } });

    expect(error).toMatchObject({ kind: 'retryable', code: 'settle-timeout', instanceKey: 'approval/a1', name: 'SettleTimeoutError' });
    expect(error.message).toContain(
      `Instance approval/a1 did not settle within 4000 ms after event 'SUBMIT' (it rests in {"review":{"legal":"pending","finance":"checking"}}). `,
    );
    expect(error.message).toContain(
      "Tag every state where the machine waits for the outside with 'resolve' or 'reject', make invoked work finish sooner, or raise the ",
    );
    expect(error.message).toMatch(/worker timeout\.$/);
  });
});

describe('describeError', () => {
  it('gives the name and message of an Error, subclass names included', () => {
    expect(describeError(new TypeError('x is not a function'))).toEqual({ name: 'TypeError', message: 'x is not a function' });
    expect(describeError(new PermanentError('machine-error', 'boom'))).toEqual({ name: 'PermanentError', message: 'boom' });
  });

  it('reads name and message from an error-like object, defaulting the name to Error and turning the message into text', () => {
    expect(describeError({ name: 'AbortError', message: 'aborted' })).toEqual({ name: 'AbortError', message: 'aborted' });
    expect(describeError({ message: 'no name' })).toEqual({ name: 'Error', message: 'no name' });
    expect(describeError({ name: 7, message: 42 })).toEqual({ name: 'Error', message: '42' });
  });

  it('calls anything else a NonError: a thrown string as is, other values as JSON, and what JSON cannot show as text', () => {
    expect(describeError('the ledger is closed')).toEqual({ name: 'NonError', message: 'the ledger is closed' });
    expect(describeError(42)).toEqual({ name: 'NonError', message: '42' });
    expect(describeError({ code: 'E_LEDGER', retry: false })).toEqual({ name: 'NonError', message: '{"code":"E_LEDGER","retry":false}' });
    expect(describeError(null)).toEqual({ name: 'NonError', message: 'null' });
    expect(describeError(undefined)).toEqual({ name: 'NonError', message: 'undefined' });
    expect(describeError(Symbol('gone'))).toEqual({ name: 'NonError', message: 'Symbol(gone)' });
  });
});

describe('isPermanent', () => {
  it('is true for a PermanentError only', () => {
    expect(isPermanent(new PermanentError('invalid-json', 'not JSON'))).toBe(true);
    expect(isPermanent(new RetryableError('storage-unavailable', 'down'))).toBe(false);
    expect(isPermanent(new VersionConflictError('counter/c1', 1))).toBe(false);
    expect(isPermanent(new Error('plain'))).toBe(false);
    expect(isPermanent({ kind: 'permanent', code: 'invalid-json', message: 'look-alike' })).toBe(false);
  });
});
