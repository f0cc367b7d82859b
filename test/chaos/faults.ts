/** Where a chaos worker may SIGKILL itself (see worker-child.ts); shared by the child and the parent. */
export const killPoints = [
  'after-receive', // the batch is in flight, nothing done
  'after-read', // the instance item was read
  'after-effect', // the machine's side effect ran, nothing saved
  'before-write', // the machine settled, the write not sent
  'after-write', // saved, but the records not deleted
  'after-dead-letter', // a poison record is in the DLQ, the group not saved
  'mid-batch', // a timer a few milliseconds into the invocation
] as const;

export type KillPoint = (typeof killPoints)[number];

/** One JSON line a chaos child writes to stdout. */
export type ChildReport =
  | { readonly t: 'ready'; readonly pid: number; readonly point: KillPoint | 'none'; readonly at: number }
  | { readonly t: 'b'; readonly id: string; readonly r: readonly (readonly [string, number])[] }
  | { readonly t: 'ack'; readonly id: string; readonly o: string; readonly d: number; readonly f: number }
  | { readonly t: 'fx'; readonly k: string }
  | { readonly t: 'conflict' }
  | { readonly t: 'retry' }
  | { readonly t: 'dl' }
  | { readonly t: 'kill'; readonly point: KillPoint };
