/** What `settle dev` prints: the ready banner with ready-to-paste settle and AWS CLI commands, and one line per applied event. */
import { acceptedEventTypes } from '../runtime/core/machine-events.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import type { AppliedEvent, LocalStack } from './stack.ts';
import { localCredentials, localRegion } from './defaults.ts';

export function readyBanner(stack: LocalStack, startedInMs: number, registry: MachineRegistry): string {
  const sqs = `aws --endpoint-url ${stack.endpoints.sqs} sqs`;
  const dynamodb = `aws --endpoint-url ${stack.endpoints.dynamodb} dynamodb`;
  const [machine, type] = exampleOf(registry);
  const instance = `${machine}/${machine === 'counter' ? 'c1' : 'demo-1'}`;
  return [
    `Settle local stack ready in ${startedInMs} ms (Ctrl-C stops it).`,
    `  Machines  ${
      Object.entries(registry)
        .map(([name, definition]) => `${name} v${definition.version}`)
        .join(', ') || 'none'
    }`,
    `  SQS       ${stack.endpoints.sqs}`,
    `    events  ${stack.queueUrl}`,
    `    DLQ     ${stack.deadLetterQueueUrl}`,
    `  DynamoDB  ${stack.endpoints.dynamodb}   table ${stack.tableName}`,
    ...(stack.api ? [`  HTTP API  ${stack.api.url}   (loopback only; callback links signed with this stack's key)`] : []),
    '',
    'Try it with settle, in another terminal (it finds this stack by itself):',
    `  npx settle send ${instance} '{"type":"${type}"}' --wait`,
    `  npx settle get ${instance}`,
    `  npx settle list --machine ${machine}`,
    '  npx settle dlq list',
    '',
    ...(stack.api
      ? [
          'Try the HTTP API:',
          `  curl -s -X POST '${stack.api.url}/instances/${instance}/events?wait=5' -H 'content-type: application/json' -d '{"type":"${type}"}'`,
          `  curl -s ${stack.api.url}/instances/${instance}`,
          '',
        ]
      : []),
    'Try it with the AWS CLI (any credentials work; these are dummies):',
    `  export AWS_ACCESS_KEY_ID=${localCredentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${localCredentials.secretAccessKey} AWS_DEFAULT_REGION=${localRegion} AWS_REGION=${localRegion}`,
    '',
    `  # send an event to instance ${instance}. SQS drops a repeat of a --message-deduplication-id`,
    '  # seen in the last 5 minutes, so every event needs its own:',
    `  ${sqs} send-message --queue-url ${stack.queueUrl} --message-group-id ${instance} --message-deduplication-id "$(date +%s)-$RANDOM" --message-body '{"type":"${type}"}'`,
    '',
    '  # the instance, whole:',
    `  ${dynamodb} get-item --table-name ${stack.tableName} --key '{"pk":{"S":"${instance}"}}' --consistent-read`,
    '',
    '  # events that failed, with their reason (settle-error / settle-reason attributes); visibility 0 leaves them there:',
    `  ${sqs} receive-message --queue-url ${stack.deadLetterQueueUrl} --attribute-names All --message-attribute-names All --max-number-of-messages 10 --visibility-timeout 0`,
    '',
    'From the SDK or another process:',
    `  export AWS_ENDPOINT_URL_SQS=${stack.endpoints.sqs} AWS_ENDPOINT_URL_DYNAMODB=${stack.endpoints.dynamodb}`,
    '',
  ].join('\n');
}

/** The first machine of the registry and an event type it takes, for the banner's example commands. */
function exampleOf(registry: MachineRegistry): [string, string] {
  const [name, definition] = Object.entries(registry)[0] ?? ['my-machine', undefined];
  const type = (definition && acceptedEventTypes(definition.machine).find((event) => !event.includes('*'))) ?? 'MY_EVENT';
  return [name, type];
}

/** `counter/c1  COUNT  idle → idle  resolve  3 ms` */
export function appliedLine(event: AppliedEvent): string {
  return `${event.instanceKey}  ${event.eventType}  ${stateText(event.from)} → ${stateText(event.to)}  ${event.outcome}  ${Math.round(event.durationMs)} ms`;
}

/** An XState state value, readable: `review.pending`, parallel regions as `(a.x | b.y)`. */
export function stateText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([key, child]) =>
      child && typeof child === 'object' && Object.keys(child).length === 0 ? key : `${key}.${stateText(child)}`,
    );
    return parts.length === 1 ? (parts[0] ?? '') : `(${parts.join(' | ')})`;
  }
  return JSON.stringify(value) ?? String(value);
}
