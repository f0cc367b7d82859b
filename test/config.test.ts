import { describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../runtime/core/config.ts';

describe('configFromEnvironment', () => {
  it('names every missing or malformed setting at once, and where they come from', () => {
    const read = () => configFromEnvironment({ SETTLE_MAX_RECEIVE_COUNT: 'five', SETTLE_WAKE_SHARDS: '0' });

    expect(read).toThrow(
      /The Settle worker is misconfigured: SETTLE_TABLE is not set; SETTLE_DLQ_URL is not set; SETTLE_MAX_RECEIVE_COUNT must be a whole number ≥ 1, got 'five'; SETTLE_WAKE_SHARDS must be a whole number ≥ 1, got '0'\. The CDK construct sets these variables/,
    );
  });

  it('asks the sweeper for the events queue and not for the dead-letter queue', () => {
    expect(() => configFromEnvironment({ SETTLE_TABLE: 't' }, 'sweeper')).toThrow(
      /sweeper is misconfigured: SETTLE_QUEUE_URL is not set\./,
    );
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

describe('configFromEnvironment numbers', () => {
  it('takes decimal digits only: not hexadecimal, exponents or fractions', () => {
    // Bug: Number('0x10') is 16 and Number('1e3') is 1000, so both passed as whole numbers.
    const read = () =>
      configFromEnvironment({
        SETTLE_TABLE: 't',
        SETTLE_DLQ_URL: 'd',
        SETTLE_WAKE_SHARDS: '0x10',
        SETTLE_HISTORY_LIMIT: '1e3',
        SETTLE_MARGIN_MS: '2.0',
      });

    expect(read).toThrow(
      /SETTLE_MARGIN_MS must be a whole number ≥ 0, got '2\.0'; SETTLE_WAKE_SHARDS must be a whole number ≥ 1, got '0x10'; SETTLE_HISTORY_LIMIT must be a whole number ≥ 0, got '1e3'/,
    );
  });
});
