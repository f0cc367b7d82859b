import { describe, expect, it } from 'vitest';
import { parseArguments } from '../../functions/local/arguments.ts';
import { appliedLine, stateText } from '../../functions/local/banner.ts';

describe('npm start arguments', () => {
  it('defaults to SQS on 9324 and DynamoDB on 8000 with dynalite', () => {
    expect(parseArguments([], {})).toEqual({ sqsPort: 9324, dynamodbPort: 8000, dynamodbLocal: false });
  });

  it('reads ports from the environment, and flags win over it', () => {
    const env = { SETTLE_SQS_PORT: '9400', SETTLE_DYNAMODB_PORT: '8100' };
    expect(parseArguments([], env)).toEqual({ sqsPort: 9400, dynamodbPort: 8100, dynamodbLocal: false });
    expect(parseArguments(['--sqs-port', '0', '--dynamodb-port=0', '--dynamodb-local'], env)).toEqual({ sqsPort: 0, dynamodbPort: 0, dynamodbLocal: true });
  });

  it('names every bad argument at once', () => {
    expect(() => parseArguments(['--sqs-port', 'x', '--verbose'], { SETTLE_DYNAMODB_PORT: '70000' })).toThrow(
      /unknown argument '--verbose'; --sqs-port must be a port from 0 to 65535, got 'x'; SETTLE_DYNAMODB_PORT must be a port from 0 to 65535, got '70000'/,
    );
  });
});

describe('applied line', () => {
  it('prints instance, event, from → to, outcome and whole milliseconds', () => {
    const line = appliedLine({ instanceKey: 'counter/c1', eventType: 'COUNT', sequenceNumber: '1', from: 'even', to: 'even', outcome: 'resolve', durationMs: 3.4 });
    expect(line).toBe('counter/c1  COUNT  even → even  resolve  3 ms');
  });

  it('writes nested and parallel state values readably', () => {
    expect(stateText({ review: 'pending' })).toBe('review.pending');
    expect(stateText({ checks: { identity: 'waiting', payment: { card: 'authorized' } } })).toBe('checks.(identity.waiting | payment.card.authorized)');
    expect(appliedLine({ instanceKey: 'a/b', eventType: 'GO', sequenceNumber: '2', from: { step: 'one' }, to: 'done', outcome: 'done', durationMs: 12.6 })).toBe(
      'a/b  GO  step.one → done  done  13 ms',
    );
  });
});
