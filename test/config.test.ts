import { describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../functions/runtime/config.ts';

describe('configFromEnvironment', () => {
  it('names every missing or malformed setting at once, and where they come from', () => {
    const read = () => configFromEnvironment({ SETTLE_MAX_RECEIVE_COUNT: 'five', SETTLE_WAKE_SHARDS: '0' });

    expect(read).toThrow(
      /The Settle worker is misconfigured: SETTLE_TABLE is not set; SETTLE_DLQ_URL is not set; SETTLE_MAX_RECEIVE_COUNT must be a whole number ≥ 1, got 'five'; SETTLE_WAKE_SHARDS must be a whole number ≥ 1, got '0'\. The CDK construct sets these variables/,
    );
  });

  it('asks the sweeper for the events queue and not for the dead-letter queue', () => {
    expect(() => configFromEnvironment({ SETTLE_TABLE: 't' }, 'sweeper')).toThrow(/sweeper is misconfigured: SETTLE_QUEUE_URL is not set\./);
    expect(configFromEnvironment({ SETTLE_TABLE: 't', SETTLE_QUEUE_URL: 'q' }, 'sweeper')).toMatchObject({
      tableName: 't',
      queueUrl: 'q',
      deadLetterQueueUrl: '',
      maxReceiveCount: 5,
      settleMarginMs: 2000,
      wakeShards: 8,
      historyLimit: 20,
    });
  });
});
