import { describe, expectTypeOf, it } from 'vitest';
import { SettleClient } from '../../client/index.ts';
import type { EventOf } from '../../client/index.ts';
import { registry } from '../../machines/index.ts';

/**
 * The client is typed by the registry: these lines are checked by `npm run typecheck` (tsc over test/), where
 * each `@ts-expect-error` fails the build if the line below it compiles. Nothing here is sent anywhere.
 */
type Examples = typeof registry;

describe('SettleClient types', () => {
  it('takes exactly the events a machine declares', () => {
    expectTypeOf<EventOf<Examples, 'counter'>>().toEqualTypeOf<{ type: 'COUNT' }>();
    expectTypeOf<EventOf<Examples, 'approval'>>().toMatchTypeOf<{ type: 'SUBMIT' | 'APPROVE' | 'REJECT' | 'RESUBMIT' }>();
    expectTypeOf<{ type: 'APPROVE'; role: 'legal'; by: string }>().toMatchTypeOf<EventOf<Examples, 'approval'>>();
    expectTypeOf<{ type: 'APPROVE'; role: 'sales'; by: string }>().not.toMatchTypeOf<EventOf<Examples, 'approval'>>();
    expectTypeOf<{ type: 'APPROVE' }>().not.toMatchTypeOf<EventOf<Examples, 'approval'>>();
    expectTypeOf<{ type: 'COUNT' }>().not.toMatchTypeOf<EventOf<Examples, 'approval'>>();
  });

  it('refuses at compile time a wrong event shape, a wrong type and an unknown machine in send', () => {
    const client = new SettleClient<Examples>({ queueUrl: 'q', deadLetterQueueUrl: 'd', tableName: 't', registry });
    const compileOnly = (_send: () => unknown) => undefined; // the calls are type-checked, never run

    compileOnly(() => client.send('approval', 'doc-1', { type: 'APPROVE', role: 'legal', by: 'ana' }));
    compileOnly(() => client.sendAndWait('counter', 'c1', { type: 'COUNT' }, { timeoutMs: 1000 }));
    // @ts-expect-error: `role` must be 'legal' or 'finance'
    compileOnly(() => client.send('approval', 'doc-1', { type: 'APPROVE', role: 'sales', by: 'ana' }));
    // @ts-expect-error: APPROVE needs `role` and `by`
    compileOnly(() => client.send('approval', 'doc-1', { type: 'APPROVE' }));
    // @ts-expect-error: the counter takes only COUNT
    compileOnly(() => client.sendAndWait('counter', 'c1', { type: 'SUBMIT', by: 'eve' }));
    // @ts-expect-error: no machine 'invoice' in the registry
    compileOnly(() => client.send('invoice', 'i1', { type: 'COUNT' }));
    // @ts-expect-error: Settle fills in `settle` itself
    compileOnly(() => client.send('counter', 'c1', { type: 'COUNT', settle: { idempotencyKey: 'x' } }));
  });

  it('types the context an instance is read with', () => {
    const client = new SettleClient<Examples>({ queueUrl: 'q', deadLetterQueueUrl: 'd', tableName: 't' });
    type Counter = Awaited<ReturnType<typeof client.get<'counter'>>>;
    expectTypeOf<NonNullable<Counter>['context']>().toHaveProperty('count');
  });

  it('takes any { type } object without a typed registry', () => {
    const client = new SettleClient({ queueUrl: 'q', deadLetterQueueUrl: 'd', tableName: 't' });
    expectTypeOf(client.send).parameter(2).toMatchTypeOf<{ type: string }>();
  });
});
