import { describe, expect, it } from 'vitest';
import { appliedLine, readyBanner, stateText } from '../../local/banner.ts';
import type { LocalStack } from '../../local/stack.ts';
import { registry } from '../../machines/index.ts';

describe('applied line', () => {
  it('prints instance, event, from → to, outcome and whole milliseconds', () => {
    const line = appliedLine({
      instanceKey: 'counter/c1',
      eventType: 'COUNT',
      sequenceNumber: '1',
      from: 'even',
      to: 'even',
      outcome: 'resolve',
      durationMs: 3.4,
    });
    expect(line).toBe('counter/c1  COUNT  even → even  resolve  3 ms');
  });

  it('writes nested and parallel state values readably', () => {
    expect(stateText({ review: 'pending' })).toBe('review.pending');
    expect(stateText({ checks: { identity: 'waiting', payment: { card: 'authorized' } } })).toBe(
      'checks.(identity.waiting | payment.card.authorized)',
    );
    expect(
      appliedLine({
        instanceKey: 'a/b',
        eventType: 'GO',
        sequenceNumber: '2',
        from: { step: 'one' },
        to: 'done',
        outcome: 'done',
        durationMs: 12.6,
      }),
    ).toBe('a/b  GO  step.one → done  done  13 ms');
  });
});

describe('ready banner', () => {
  it('lists the registered machines with their versions, and example commands for the first one', () => {
    const stack = {
      endpoints: { sqs: 'http://127.0.0.1:9324', dynamodb: 'http://127.0.0.1:8000' },
      queueUrl: 'http://127.0.0.1:9324/000000000000/settle-events.fifo',
      deadLetterQueueUrl: 'http://127.0.0.1:9324/000000000000/settle-events-dlq.fifo',
      tableName: 'settle-instances',
    } as LocalStack;

    const banner = readyBanner(stack, 412, registry);

    expect(banner).toContain('ready in 412 ms');
    expect(banner).toContain('Machines  counter v1, approval v1, signup v1, payment v1');
    expect(banner).toContain(
      `--message-group-id counter/c1 --message-deduplication-id "$(date +%s)-$RANDOM" --message-body '{"type":"COUNT"}'`,
    );
    expect(banner).toContain(`--key '{"pk":{"S":"counter/c1"}}'`);
    expect(banner).toContain(`npx settle send counter/c1 '{"type":"COUNT"}' --wait`);
    expect(banner).not.toContain('HTTP API');
  });

  it('shows the HTTP API and curl commands for it when the stack serves one', () => {
    const stack = {
      endpoints: { sqs: 'http://s', dynamodb: 'http://d' },
      queueUrl: 'q',
      deadLetterQueueUrl: 'd',
      tableName: 't',
      api: { url: 'http://127.0.0.1:3000', callbackKey: 'k' },
    } as LocalStack;

    const banner = readyBanner(stack, 1, registry);

    expect(banner).toContain('  HTTP API  http://127.0.0.1:3000');
    expect(banner).toContain(
      `  curl -s -X POST 'http://127.0.0.1:3000/instances/counter/c1/events?wait=5' -H 'content-type: application/json' -d '{"type":"COUNT"}'`,
    );
    expect(banner).not.toContain("'k'");
  });

  it("takes the example event from any state of the first machine, not only the root's compound children", () => {
    const stack = {
      endpoints: { sqs: 'http://s', dynamodb: 'http://d' },
      queueUrl: 'q',
      deadLetterQueueUrl: 'd',
      tableName: 't',
    } as LocalStack;
    const { approval } = registry;

    // XState's root.events leaves out the events of atomic states below the root; the approval's SUBMIT is one.
    expect(readyBanner(stack, 1, { approval })).toContain(`npx settle send approval/demo-1 '{"type":"APPROVE"}' --wait`);
  });
});
