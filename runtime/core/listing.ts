import { shardOf } from './instance-key.ts';
import { tableDefinition } from './resources.ts';

/**
 * The list index (docs/DESIGN.md, "Listing"): how an instance is found by machine and state without a Scan.
 * Pure functions shared by the item encoding (which writes the fields) and the client (which queries them).
 *
 * - `listShard` = `<machine>#<n>`: the machine's instances spread over {@link listShards} partitions, so a
 *   busy machine is not capped by one partition's write rate.
 * - `listSort` = `<top state>#<updatedAt>`: a state query reads only the instances under its top-level state,
 *   oldest update first. A machine whose root is parallel has several top-level states at once; its
 *   instances sort under the empty top (`#<updatedAt>`), which every state query also reads.
 * - `inStates`: every active state path and its ancestors (`review`, `review.legal`, `review.legal.signed`),
 *   the set XState's `matches` tests; a query filters on it, so the sort key's prefix never decides alone.
 */

export const listShards = tableDefinition.listIndex.shards;

/** The fields the list index is built from, as written on every item. */
export interface ListIndexFields {
  readonly listShard: string;
  readonly listSort: string;
  readonly inStates: readonly string[];
}

export function listIndexFields(record: {
  readonly pk: string;
  readonly machine: string;
  readonly states: readonly string[];
  readonly updatedAt: string;
}): ListIndexFields {
  return {
    listShard: `${record.machine}#${shardOf(record.pk, listShards)}`,
    listSort: `${topStateOf(record.states)}#${record.updatedAt}`,
    inStates: statesWithAncestors(record.states),
  };
}

/** The index partitions of one machine, one per shard. */
export function listShardKeys(machine: string): string[] {
  return Array.from({ length: listShards }, (_, shard) => `${machine}#${shard}`);
}

/**
 * The sort-key prefixes under which instances in `state` can be: its top-level state's, and the empty top of
 * machines with a parallel root.
 */
export function sortPrefixesFor(state: string): string[] {
  const top = state.split('.')[0] ?? '';
  return top === '' ? [''] : [`${top}#`, '#'];
}

/** `a.b.c` → `a`, `a.b`, `a.b.c`, over every region, without repeats. */
export function statesWithAncestors(states: readonly string[]): string[] {
  const all = new Set<string>();
  for (const path of states) {
    const parts = path.split('.');
    for (let depth = 1; depth <= parts.length; depth += 1) all.add(parts.slice(0, depth).join('.'));
  }
  return [...all];
}

/** The one top-level state all regions share; empty when the root itself is parallel (or no state is known). */
function topStateOf(states: readonly string[]): string {
  const [top, ...others] = new Set(states.map((path) => path.split('.')[0] ?? ''));
  return top !== undefined && others.length === 0 ? top : '';
}
