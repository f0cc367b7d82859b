/**
 * `settle/client`: send events to Settle instances, wait for their outcome, read and list them, browse and
 * redrive dead letters — over the AWS SDK, against a deployed stack or the local one (docs/DESIGN.md, "Client").
 *
 * @example
 * import { SettleClient, resolveConnection } from 'settle/client';
 * const client = await SettleClient.connect({ stack: 'orders-prod' }, registry);
 * const { outcome, states } = await client.sendAndWait('approval', 'doc-17', { type: 'SUBMIT', by: 'eve' });
 */
export { SettleClient } from './settle-client.ts';
export type {
  EventOutcome,
  EventResult,
  InstanceView,
  SendOptions,
  SendResult,
  SettleClientOptions,
  SettledState,
  TimerView,
  WaitOptions,
} from './settle-client.ts';
export type { EventOf, MachineName } from './events.ts';
export type { InstanceSummary, ListFilter, ListOptions, ListPage } from './list-query.ts';
export type { DeadLetterBox, DeadLetterListing, DeadLetterView, RedriveOptions, RedriveResult } from './dead-letter-box.ts';
export { resolveConnection } from './connection.ts';
export type { ConnectionOptions, SettleConnection } from './connection.ts';
export { RequestError, WaitTimeoutError, PermanentError } from '../runtime/core/errors.ts';
export type { RequestCode, PermanentCode } from '../runtime/core/errors.ts';
export type { HistoryEntry } from '../runtime/core/store.ts';
