/**
 * The JSON the dashboard server answers under /dashboard/api (dashboard/routes.ts), built from the client's types.
 * Types only, no DOM: the app, its tests and the benchmark share them.
 */
import type { DeadLetterView, RedriveResult } from '../../client/dead-letter-box.ts';
import type { InstanceSummary } from '../../client/list-query.ts';
import type { EventResult, InstanceView } from '../../client/settle-client.ts';

export type { DeadLetterView, EventResult, InstanceSummary, InstanceView, RedriveResult };

export interface MachineInfo {
  readonly name: string;
  readonly version: number;
  /** Every event type some state of the machine takes. */
  readonly events: readonly string[];
  /** The machine's diagram (SVG). */
  readonly diagram: string;
}

export interface StateCount {
  readonly count: number;
  /** The oldest last update among the instances in that state (ISO). */
  readonly oldestUpdatedAt: string;
}

export interface Fleet {
  readonly machine: string;
  readonly total: number;
  /** By state path, ancestors included (`review` counts everything inside review). */
  readonly counts: Readonly<Record<string, StateCount>>;
  /** The diagram with a count on each state (SVG). */
  readonly diagram: string;
}

export interface ListPage {
  readonly items: readonly InstanceSummary[];
  readonly cursor?: string | undefined;
}

export interface InstanceDetail {
  readonly instance: InstanceView;
  /** The diagram with the instance's current states lit (SVG). */
  readonly diagram: string;
  /** The event types its current states have transitions for. */
  readonly events: readonly string[];
  readonly deadLetters: readonly DeadLetterView[];
}

export interface DeadLetters {
  readonly letters: readonly DeadLetterView[];
  /** Letters the browse could not read. */
  readonly unread: number;
}

/** What a send answered: the settled outcome, or (202) that it is queued and not handled yet. */
export type SendAnswer =
  | { readonly kind: 'settled'; readonly result: EventResult }
  | { readonly kind: 'queued'; readonly sequenceNumber: string; readonly message: string };

export interface ListFilters {
  readonly state?: string | undefined;
  readonly status?: string | undefined;
  readonly outcome?: string | undefined;
}
