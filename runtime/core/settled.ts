import { getStateNodes, type AnyMachineSnapshot, type AnyStateNode } from 'xstate';

export const resolveTag = 'resolve';
export const rejectTag = 'reject';

/** How an event ended for its instance. */
export type Outcome = 'resolve' | 'reject' | 'done' | 'error' | 'ignored';

const leavesOf = new WeakMap<AnyMachineSnapshot, AnyStateNode[]>();

/** The active leaves: one per active region. Snapshots are immutable, so they are computed once each. */
function activeLeaves(snapshot: AnyMachineSnapshot): AnyStateNode[] {
  let leaves = leavesOf.get(snapshot);
  if (!leaves) {
    leaves = getStateNodes(snapshot.machine.root, snapshot.value).filter((node) => node.type === 'atomic' || node.type === 'final');
    leavesOf.set(snapshot, leaves);
  }
  return leaves;
}

function carries(node: AnyStateNode, tag: string): boolean {
  for (let current: AnyStateNode | undefined = node; current; current = current.parent) {
    if (current.tags.includes(tag)) return true;
  }
  return false;
}

/**
 * I6: done, failed, or every active region rests in a state that carries (itself or through an
 * ancestor) a `resolve` or `reject` tag. A final state inside a region counts as resting.
 * `hasTag` will not do: it is a union over regions and turns true when the first region rests.
 */
export function isSettled(snapshot: AnyMachineSnapshot): boolean {
  if (snapshot.status !== 'active') return true;
  return activeLeaves(snapshot).every((leaf) => leaf.type === 'final' || carries(leaf, resolveTag) || carries(leaf, rejectTag));
}

/** The outcome of a settled snapshot: `reject` when any region rests in a `reject` state. */
export function settledOutcome(snapshot: AnyMachineSnapshot): Exclude<Outcome, 'ignored'> {
  if (snapshot.status === 'done') return 'done';
  if (snapshot.status === 'error') return 'error';
  return activeLeaves(snapshot).some((leaf) => carries(leaf, rejectTag)) ? 'reject' : 'resolve';
}

/**
 * Every active state as a dot path from the root (`review.legal.approved`), one per region: what a reader of
 * the item needs when `value` is a map (parallel states).
 */
export function activeStatePaths(snapshot: AnyMachineSnapshot): string[] {
  return activeLeaves(snapshot).map((leaf) => leaf.path.join('.'));
}
