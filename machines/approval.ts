import { assign, fromPromise, setup } from 'xstate';
import { callbackUrl, RequestError, type InstanceInput } from '../runtime/index.ts';

export type Role = 'legal' | 'finance';

type ApprovalEvent =
  | { type: 'SUBMIT'; by: string }
  | { type: 'APPROVE'; role: Role; by: string }
  | { type: 'REJECT'; role: Role; by: string; reason?: string }
  | { type: 'RESUBMIT'; by: string };

/** One sign-off's links: following one sends APPROVE (or REJECT, with a reason) for that role. */
export interface SignOffLinks {
  approve: string;
  reject: string;
}

interface ApprovalContext {
  instanceKey: string;
  submittedBy: string | undefined;
  /** The links each sign-off's owner gets, made on entering review; absent when the stack has no HTTP API. */
  links: Partial<Record<Role, SignOffLinks>>;
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
 * In review, a reminder is due after 2 days and the request expires after 7 (durable timers). Each sign-off
 * first gets its Approve and Reject callback links (`context.links`), which a real deployment would e-mail.
 */
export const approvalMachine = setup({
  types: {
    context: {} as ApprovalContext,
    input: {} as InstanceInput,
    events: {} as ApprovalEvent,
  },
  actors: {
    checkBudget: fromPromise<{ withinBudget: boolean }, { document: string }>(async () => ({ withinBudget: true })),
    /**
     * Makes one sign-off's Approve and Reject links (a week long; Reject takes a reason). A real deployment
     * would e-mail them to the sign-off's owner here, with the event's idempotency key.
     */
    makeSignOffLinks: fromPromise<SignOffLinks | undefined, { instanceKey: string; role: Role }>(async ({ input }) => {
      const by = `${input.role} sign-off link`;
      try {
        const [approve, reject] = await Promise.all([
          callbackUrl(input.instanceKey, { type: 'APPROVE', role: input.role, by }, { expiresIn: '7d' }),
          callbackUrl(input.instanceKey, { type: 'REJECT', role: input.role, by }, { expiresIn: '7d', data: ['reason'] }),
        ]);
        return { approve, reject };
      } catch (error) {
        // Without an HTTP API (SettleService api: false, or a test) the sign-offs come as events only.
        if (error instanceof RequestError && error.code === 'not-configured') return undefined;
        throw error;
      }
    }),
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
    recordLinks: assign({
      links: ({ context, event }, role: Role) => {
        const links = (event as { output?: SignOffLinks }).output;
        return links ? { ...context.links, [role]: links } : context.links;
      },
    }),
    recordRejection: assign({
      rejection: ({ event }) => (event.type === 'REJECT' ? { role: event.role, by: event.by, reason: event.reason } : undefined),
    }),
  },
}).createMachine({
  id: 'approval',
  context: ({ input }) => ({
    instanceKey: input.instanceKey,
    submittedBy: undefined,
    links: {},
    approvals: {},
    rejection: undefined,
    reminders: 0,
  }),
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
      entry: assign({ approvals: {}, rejection: undefined, links: {} }),
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
          initial: 'requestingSignOff',
          states: {
            requestingSignOff: {
              invoke: {
                src: 'makeSignOffLinks',
                input: ({ context }) => ({ instanceKey: context.instanceKey, role: 'legal' as const }),
                onDone: { target: 'pending', actions: { type: 'recordLinks', params: 'legal' as const } },
              },
            },
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
                onDone: { target: 'requestingSignOff' },
                onError: { target: 'requestingSignOff' },
              },
            },
            requestingSignOff: {
              invoke: {
                src: 'makeSignOffLinks',
                input: ({ context }) => ({ instanceKey: context.instanceKey, role: 'finance' as const }),
                onDone: { target: 'pending', actions: { type: 'recordLinks', params: 'finance' as const } },
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
