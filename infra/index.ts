/**
 * `settle/cdk`: the SettleService construct — the events queue and its DLQ, the instance table, the payload bucket,
 * the worker and the sweeper, the HTTP API with its function and the callback signing key, alarms — for your own CDK app.
 *
 * @example
 * const settle = new SettleService(this, 'Settle', { workerEntry: 'src/worker.ts' });
 * settle.queue.grantSendMessages(myApiFunction);
 */
export { SettleService, workerBatchSize, sweepInterval, apiRoutes } from './settle-service.ts';
export type { ApiRouteName } from './settle-service.ts';
export type { SettleServiceProps, SettleApiProps, SettleApiJwtProps, LogLevel } from './props.ts';
