/**
 * Sample data for the dashboard's screenshots: approvals in every stage (one with a refused APPROVE in the
 * dead-letter queue), counters, payments waiting on their timers, and a malformed event dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SettleClient } from '../../client/settle-client.ts';
import type { LocalStack } from '../../local/stack.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';

/** The approval the instance screenshot shows: legal signed, finance pending, a refused APPROVE in its history and letters. */
export const sampleInstance = 'approval/doc-42';

/** A client over the stack's own SDK clients (which the stack destroys when it stops). */
export function clientOf(stack: LocalStack, registry: MachineRegistry): SettleClient {
  return stack.client(registry);
}

/** Sends a body straight to the queue, as any SQS producer can: the worker, not the client, decides on it. */
async function sendRaw(stack: LocalStack, group: string, body: string): Promise<string> {
  const sent = await stack.clients.sqs.send(
    new SendMessageCommand({ QueueUrl: stack.queueUrl, MessageGroupId: group, MessageDeduplicationId: randomUUID(), MessageBody: body }),
  );
  return sent.SequenceNumber ?? '';
}

export async function seedSample(stack: LocalStack, registry: MachineRegistry): Promise<void> {
  const client = clientOf(stack, registry);
  const send = (key: string, event: Record<string, unknown>) => {
    const [machine = '', id = ''] = key.split('/');
    return client.sendAndWait(machine, id, event as never, { timeoutMs: 20_000 });
  };
  for (let n = 1; n <= 11; n += 1) {
    const key = `approval/doc-${n}`;
    await send(key, { type: 'SUBMIT', by: 'eve' });
    if (n % 3 === 0) await send(key, { type: 'APPROVE', role: 'legal', by: 'ana' });
    if (n % 4 === 0) await send(key, { type: 'APPROVE', role: 'finance', by: 'bo' });
    if (n === 6) await send(key, { type: 'APPROVE', role: 'finance', by: 'bo' });
    if (n === 10) await send(key, { type: 'REJECT', role: 'finance', by: 'bo', reason: 'over budget' });
  }
  // A draft whose first event it does not take: ignored.
  await send('approval/doc-12', { type: 'RESUBMIT', by: 'eve' });
  await send(sampleInstance, { type: 'SUBMIT', by: 'eve' });
  await send(sampleInstance, { type: 'APPROVE', role: 'legal', by: 'ana' });
  // A producer that does not check: the worker refuses the role and dead-letters the event with its reason.
  const refused = await sendRaw(stack, sampleInstance, JSON.stringify({ type: 'APPROVE', role: 'sales', by: 'sam' }));
  await client.waitFor(sampleInstance, refused, { timeoutMs: 20_000 });
  for (const n of [1, 2, 3]) await send(`counter/c${n}`, { type: 'COUNT' });
  await send('counter/c2', { type: 'COUNT' });
  for (const n of [1, 2, 3]) await send(`payment/p${n}`, { type: 'CHECKOUT', amount: 40 + n, windowSeconds: 600 * n });
  await send('payment/p3', { type: 'PAID', reference: 'tx-3' });
  const malformed = await sendRaw(stack, 'counter/c1', JSON.stringify({ type: 'xstate.init' }));
  await client.waitFor('counter/c1', malformed, { timeoutMs: 20_000 });
}
