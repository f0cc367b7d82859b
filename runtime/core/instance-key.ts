import { PermanentError } from './errors.ts';

/** `<machine>/<instanceId>`: the SQS message group and the DynamoDB `pk` of one instance. */
export interface InstanceKey {
  readonly key: string;
  readonly machine: string;
  readonly instanceId: string;
}

const machineName = /^[a-z0-9-]+$/;
export const maxInstanceKeyLength = 128;
// SQS MessageGroupId alphabet: alphanumerics and punctuation !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
const groupIdAlphabet = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]+$/;

/** True if SQS accepts `groupId` as a MessageGroupId (any content, not only instance keys). */
export function isValidGroupId(groupId: string): boolean {
  return groupId.length >= 1 && groupId.length <= maxInstanceKeyLength && groupIdAlphabet.test(groupId);
}

export function parseInstanceKey(groupId: string | undefined): InstanceKey {
  const fix =
    'Send the event with --message-group-id <machine>/<instanceId>, e.g. counter/c1 ' +
    `(machine: lowercase letters, digits and '-'; at most ${maxInstanceKeyLength} characters in all).`;
  if (!groupId) {
    throw new PermanentError('invalid-instance-key', `The message has no MessageGroupId, so it names no instance. ${fix}`);
  }
  const slash = groupId.indexOf('/');
  const machine = slash > 0 ? groupId.slice(0, slash) : '';
  const instanceId = slash > 0 ? groupId.slice(slash + 1) : '';
  const problem =
    groupId.length > maxInstanceKeyLength
      ? `is ${groupId.length} characters long`
      : !groupIdAlphabet.test(groupId)
        ? 'has characters outside the SQS group-id alphabet'
        : !machine || !instanceId
          ? "is not of the form '<machine>/<instanceId>'"
          : !machineName.test(machine)
            ? `names machine '${machine}', which is not of [a-z0-9-]+`
            : undefined;
  if (problem) {
    throw new PermanentError('invalid-instance-key', `MessageGroupId '${groupId.slice(0, 160)}' ${problem}. ${fix}`);
  }
  return { key: groupId, machine, instanceId };
}

/** Spreads instance keys evenly over `shards` index partitions (FNV-1a): the due index and the list index. */
export function shardOf(key: string, shards: number): number {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i += 1) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
  return (hash >>> 0) % shards;
}
