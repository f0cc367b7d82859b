import { assign, fromPromise, setup } from 'xstate';
import type { InstanceInput } from '../runtime/index.ts';

export type Role = 'legal' | 'finance';

type ApprovalEvent =
  | { type: 'SUBMIT'; by: string }
  | { type: 'APPROVE'; role: Role; by: string }
  | { type: 'REJECT'; role: Role; by: string; reason?: string }
  | { type: 'RESUBMIT'; by: string };

interface ApprovalContext {
  submittedBy: string | undefined;
  approvals: Partial<Record<Role, string>>;
  rejection: { role: Role; by: string; reason: string | undefined } | undefined;
  reminders: number;
}

const day = 24 * 60 * 60 * 1000;

/**
 * A document approval: `draft` → `SUBMIT` → `review`, where two parallel sign-off regions (legal and
 * finance) each wait in a `resolve`-tagged state. Both approvals → `approved` (final). Any rejection →
 * `rejected` (tagged `reject`), which accepts `RESUBMIT`. Finance first checks the budget (an invoked
 * step), so `review` is not settled until that check is done, even while legal already waits.
 * In review, a reminder is due after 2 days and the request expires after 7 (durable timers).
 */
export const approvalMachine = setup({
  types: {
    context: {} as ApprovalContext,
    input: {} as InstanceInput,
    events: {} as ApprovalEvent,
  },
  actors: {
    checkBudget: fromPromise<{ withinBudget: boolean }, { document: string }>(async () => ({ withinBudget: true })),
  },
  delays: {
    reminder: 2 * day,
    expiry: 7 * day,
  },
  guards: {
    isLegal: ({ event }) => 'role' in event && event.role === 'legal',
    isFinance: ({ event }) => 'role' in event && event.role === 'finance',
  },
  actions: {
    recordApproval: assign({
      approvals: ({ context, event }) => (event.type === 'APPROVE' ? { ...context.approvals, [event.role]: event.by } : context.approvals),
    }),
    recordRejection: assign({
      rejection: ({ event }) => (event.type === 'REJECT' ? { role: event.role, by: event.by, reason: event.reason } : undefined),
    }),
  },
}).createMachine({
  id: 'approval',
  context: { submittedBy: undefined, approvals: {}, rejection: undefined, reminders: 0 },
  initial: 'draft',
  states: {
    draft: {
      tags: ['resolve'],
      on: {
        SUBMIT: { target: 'review', actions: assign({ submittedBy: ({ event }) => event.by }) },
      },
    },
    review: {
      type: 'parallel',
      entry: assign({ approvals: {}, rejection: undefined }),
      after: {
        reminder: { actions: assign({ reminders: ({ context }) => context.reminders + 1 }) },
        expiry: { target: 'expired' },
      },
      onDone: { target: 'approved' },
      on: {
        REJECT: { target: 'rejected', actions: 'recordRejection' },
      },
      states: {
        legal: {
          initial: 'pending',
          states: {
            pending: {
              tags: ['resolve'],
              on: { APPROVE: { guard: 'isLegal', target: 'signed', actions: 'recordApproval' } },
            },
            signed: { type: 'final' },
          },
        },
        finance: {
          initial: 'checkingBudget',
          states: {
            checkingBudget: {
              invoke: {
                src: 'checkBudget',
                input: ({ context }) => ({ document: context.submittedBy ?? '' }),
                onDone: { target: 'pending' },
                onError: { target: 'pending' },
              },
            },
            pending: {
              tags: ['resolve'],
              on: { APPROVE: { guard: 'isFinance', target: 'signed', actions: 'recordApproval' } },
            },
            signed: { type: 'final' },
          },
        },
      },
    },
    approved: { type: 'final' },
    rejected: {
      tags: ['reject'],
      on: { RESUBMIT: { target: 'review' } },
    },
    expired: { type: 'final' },
  },
});
