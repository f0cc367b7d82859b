/**
 * `settle/cdk`: the SettleService construct — the events queue and its DLQ, the instance table, the worker
 * and the sweeper, alarms — for your own CDK app.
 *
 * @example
 * const settle = new SettleService(this, 'Settle', { workerEntry: 'src/worker.ts' });
 * settle.queue.grantSendMessages(myApiFunction);
 */
export { SettleService, workerBatchSize, sweepInterval } from './settle-service.ts';
export type { SettleServiceProps, LogLevel } from './props.ts';
