import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../runtime/core/errors.ts';
import { isValidGroupId, maxInstanceKeyLength, parseInstanceKey } from '../../runtime/core/instance-key.ts';

const fix =
  "Send the event with --message-group-id <machine>/<instanceId>, e.g. counter/c1 (machine: lowercase letters, digits and '-'; at most 128 characters in all).";
/** Every punctuation character SQS allows in a MessageGroupId. */
const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** The error `parseInstanceKey` rejects `groupId` with; fails the test if it accepts it. */
function rejectionOf(groupId: string | undefined): PermanentError {
  try {
    parseInstanceKey(groupId);
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
  throw new Error(`parseInstanceKey accepted ${groupId}`);
}

describe('parseInstanceKey', () => {
  it('splits a group id at its first slash into machine and instance id', () => {
    expect(parseInstanceKey('counter/c1')).toEqual({ key: 'counter/c1', machine: 'counter', instanceId: 'c1' });
    expect(parseInstanceKey('order-v2/2026/11/o-17')).toEqual({
      key: 'order-v2/2026/11/o-17',
      machine: 'order-v2',
      instanceId: '2026/11/o-17',
    });
    expect(parseInstanceKey('a/b')).toEqual({ key: 'a/b', machine: 'a', instanceId: 'b' });
  });

  it('accepts every character of the SQS group-id alphabet in the instance id', () => {
    const groupId = `counter/AZaz09${punctuation}`;

    expect(parseInstanceKey(groupId)).toEqual({ key: groupId, machine: 'counter', instanceId: `AZaz09${punctuation}` });
  });

  it.each([undefined, ''])('rejects a message without a group id (%j) as invalid-instance-key, saying how to send one', (groupId) => {
    const error = rejectionOf(groupId);

    expect(error.code).toBe('invalid-instance-key');
    expect(error.message).toBe(`The message has no MessageGroupId, so it names no instance. ${fix}`);
  });

  it('accepts a group id of exactly 128 characters and rejects one of 129, saying how long it is', () => {
    const longest = `counter/${'x'.repeat(maxInstanceKeyLength - 'counter/'.length)}`;
    const tooLong = `${longest}y`;

    expect(maxInstanceKeyLength).toBe(128);
    expect(parseInstanceKey(longest).instanceId).toHaveLength(120);
    expect(rejectionOf(tooLong).message).toBe(`MessageGroupId '${tooLong}' is 129 characters long. ${fix}`);
  });

  it('quotes at most the first 160 characters of a long group id', () => {
    const groupId = `counter/${'x'.repeat(152)}${'TAIL'.repeat(10)}`;

    const error = rejectionOf(groupId);

    expect(error.code).toBe('invalid-instance-key');
    expect(error.message).toBe(`MessageGroupId '${groupId.slice(0, 160)}' is 200 characters long. ${fix}`);
    expect(error.message).not.toContain('TAIL');
  });

  it.each(['counter/c 1', 'counter/cé', 'écounter/c1', 'counter/c1é', 'counter/c1\n'])(
    'rejects %j, with a character outside the SQS alphabet anywhere, as invalid-instance-key',
    (groupId) => {
      const error = rejectionOf(groupId);

      expect(error.code).toBe('invalid-instance-key');
      expect(error.message).toBe(`MessageGroupId '${groupId}' has characters outside the SQS group-id alphabet. ${fix}`);
    },
  );

  it.each(['counter', '/c1', 'counter/', '/'])("rejects %j as not of the form '<machine>/<instanceId>'", (groupId) => {
    const error = rejectionOf(groupId);

    expect(error.code).toBe('invalid-instance-key');
    expect(error.message).toBe(`MessageGroupId '${groupId}' is not of the form '<machine>/<instanceId>'. ${fix}`);
  });

  it.each([
    ['Counter/c1', 'Counter'],
    ['counter_v2/c1', 'counter_v2'],
    ['count.er/c1', 'count.er'],
  ])('rejects %j, whose machine name is not lowercase letters, digits and dashes, naming the machine', (groupId, machine) => {
    const error = rejectionOf(groupId);

    expect(error.code).toBe('invalid-instance-key');
    expect(error.message).toBe(`MessageGroupId '${groupId}' names machine '${machine}', which is not of [a-z0-9-]+. ${fix}`);
  });
});

describe('isValidGroupId', () => {
  it('accepts any text of 1 to 128 characters of the SQS alphabet, instance key or not', () => {
    expect(isValidGroupId('counter/c1')).toBe(true);
    expect(isValidGroupId('x')).toBe(true);
    expect(isValidGroupId('x'.repeat(128))).toBe(true);
    expect(isValidGroupId(`Not_An-Instance.Key${punctuation}`)).toBe(true);
  });

  it('refuses the empty string, 129 characters, and any character outside the alphabet at either end or inside', () => {
    expect(isValidGroupId('')).toBe(false);
    expect(isValidGroupId('x'.repeat(129))).toBe(false);
    expect(isValidGroupId('écounter/c1')).toBe(false);
    expect(isValidGroupId('counter/c1é')).toBe(false);
    expect(isValidGroupId('counter/c 1')).toBe(false);
  });
});
