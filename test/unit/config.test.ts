import { describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../../runtime/core/config.ts';

const worker = { SETTLE_TABLE: 'settle-instances', SETTLE_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/1/settle-events-dlq.fifo' };

describe('configFromEnvironment', () => {
  it('reads the worker settings, trimming the whitespace a copied value brings along', () => {
    const config = configFromEnvironment({
      SETTLE_TABLE: '  settle-instances\n',
      SETTLE_DLQ_URL: ` ${worker.SETTLE_DLQ_URL} `,
      SETTLE_MAX_RECEIVE_COUNT: ' 3 ',
      SETTLE_MARGIN_MS: '1500',
      SETTLE_WAKE_SHARDS: '16',
      SETTLE_HISTORY_LIMIT: '5',
    });

    expect(config).toMatchObject({
      tableName: 'settle-instances',
      deadLetterQueueUrl: worker.SETTLE_DLQ_URL,
      queueUrl: undefined,
      maxReceiveCount: 3,
      settleMarginMs: 1500,
      wakeShards: 16,
      historyLimit: 5,
    });
  });

  it('takes a variable that holds only whitespace as not set: required ones are missing, numbers keep their default', () => {
    const read = () => configFromEnvironment({ SETTLE_TABLE: '   ', SETTLE_DLQ_URL: worker.SETTLE_DLQ_URL });
    const config = configFromEnvironment({
      ...worker,
      SETTLE_QUEUE_URL: ' ',
      SETTLE_HISTORY_LIMIT: '  ',
      SETTLE_WAKE_SHARDS: '\t',
      SETTLE_MARGIN_MS: ' ',
    });

    expect(read).toThrow(/^The Settle worker is misconfigured: SETTLE_TABLE is not set\. /);
    expect(config).toMatchObject({ queueUrl: undefined, historyLimit: 20, wakeShards: 8, settleMarginMs: 2000, maxReceiveCount: 5 });
  });

  it('accepts each number at its lower bound: 1 receive, no margin, 1 shard, no history', () => {
    const config = configFromEnvironment({
      ...worker,
      SETTLE_MAX_RECEIVE_COUNT: '1',
      SETTLE_MARGIN_MS: '0',
      SETTLE_WAKE_SHARDS: '1',
      SETTLE_HISTORY_LIMIT: '0',
    });

    expect(config).toMatchObject({ maxReceiveCount: 1, settleMarginMs: 0, wakeShards: 1, historyLimit: 0 });
  });

  it('refuses a number below its bound, a fraction or text, quoting the value it got', () => {
    const read = () =>
      configFromEnvironment({
        ...worker,
        SETTLE_MAX_RECEIVE_COUNT: '0',
        SETTLE_MARGIN_MS: '-1',
        SETTLE_WAKE_SHARDS: '2.5',
        SETTLE_HISTORY_LIMIT: 'ten',
      });

    expect(read).toThrow(
      new Error(
        'The Settle worker is misconfigured: ' +
          "SETTLE_MAX_RECEIVE_COUNT must be a whole number ≥ 1, got '0'; " +
          "SETTLE_MARGIN_MS must be a whole number ≥ 0, got '-1'; " +
          "SETTLE_WAKE_SHARDS must be a whole number ≥ 1, got '2.5'; " +
          "SETTLE_HISTORY_LIMIT must be a whole number ≥ 0, got 'ten'. " +
          'The CDK construct sets these variables; for the local stack run `npm start`, which sets them too.',
      ),
    );
  });

  it('gives the worker the events queue URL when it is set, though it does not require it', () => {
    expect(configFromEnvironment({ ...worker, SETTLE_QUEUE_URL: 'https://sqs/q.fifo' }).queueUrl).toBe('https://sqs/q.fifo');
  });
});
