/**
 * Settle's public API (the package entry `settle`): what a machine, a registry and a Lambda entry point
 * need. Everything not exported here is internal (docs/DESIGN.md, "Public API").
 *
 * @example
 * // src/machines.ts
 * export const registry = defineRegistry({ orders: { machine: orderMachine, version: 1 } });
 * // src/worker.ts, the SettleService's workerEntry
 * export const handler = lambdaHandler(registry);
 */
export { defineRegistry } from './core/registry.ts';
export type { InstanceInput, MachineDefinition, MachineRegistry, PersistedSnapshot } from './core/registry.ts';
export { idempotencyKeyOf } from './core/event.ts';
export type { DeliveredEvent, SettleEventMeta } from './core/event.ts';
export { PermanentError, RequestError, RetryableError, SettleError, WaitTimeoutError } from './core/errors.ts';
export type { ErrorKind, PermanentCode, RequestCode, RetryableCode } from './core/errors.ts';
export type { Outcome } from './core/settled.ts';
export type { HistoryEntry, InstanceRecord, PendingLetter } from './core/store.ts';
export type { StoredTimer } from './core/timers.ts';
export type { DeadLetter } from './core/dead-letters.ts';
export type { Logger } from './core/logger.ts';
export { defaults, environmentVariables, configFromEnvironment } from './core/config.ts';
export type { SettleConfig } from './core/config.ts';
export { deadLetterAttributes } from './core/resources.ts';
export type { AppliedEvent } from './core/process-batch.ts';
export { createWorkerHandler } from './aws/worker.ts';
export { lambdaHandler } from '../api/lambda.ts';
export type { SettleLambdaEvent, SettleLambdaHandler } from '../api/lambda.ts';
export { callbackUrl } from '../api/callbacks.ts';
export type { CallbackOptions } from '../api/callbacks.ts';
export type { WorkerContext, WorkerHandler, WorkerOptions } from './aws/worker.ts';
export { createSweeper, sweeperHandler } from './aws/sweeper.ts';
export type { Sweeper, SweeperOptions } from './aws/sweeper.ts';
