import { describe, expect, it } from 'vitest';
import { shardOf } from '../../runtime/core/instance-key.ts';
import { listIndexFields, listShardKeys, listShards, sortPrefixesFor, statesWithAncestors } from '../../runtime/core/listing.ts';
import { tableDefinition } from '../../runtime/core/resources.ts';

const updatedAt = '2026-11-23T10:05:00.000Z';
const fields = (states: readonly string[], pk = 'approval/a1', machine = 'approval') => listIndexFields({ pk, machine, states, updatedAt });

/** Whether a listing of `state` would read an instance with these fields: one of the state's prefixes, and the filter. */
const found = (state: string, item: { listSort: string; inStates: readonly string[] }) =>
  sortPrefixesFor(state).some((prefix) => item.listSort.startsWith(prefix)) && item.inStates.includes(state);

describe('listing', () => {
  describe('listShards', () => {
    it('is the shard count of the list index definition', () => {
      expect(listShards).toBe(tableDefinition.listIndex.shards);
      expect(listShards).toBe(8);
    });
  });

  describe('listIndexFields', () => {
    it('puts an instance under its machine and the shard of its key', () => {
      expect(fields(['draft']).listShard).toBe(`approval#${shardOf('approval/a1', listShards)}`);
      expect(fields(['draft'], 'counter/c1', 'counter').listShard).toBe(`counter#${shardOf('counter/c1', listShards)}`);
    });

    it('keeps an instance in one shard whatever its state or update time', () => {
      const shard = fields(['draft']).listShard;

      expect(fields(['review.legal.pending', 'review.finance.signed']).listShard).toBe(shard);
      expect(
        listIndexFields({ pk: 'approval/a1', machine: 'approval', states: ['draft'], updatedAt: '2030-01-01T00:00:00.000Z' }).listShard,
      ).toBe(shard);
    });

    it('sorts a flat state under its name and the update time', () => {
      expect(fields(['draft'])).toEqual({
        listShard: expect.stringMatching(/^approval#[0-7]$/),
        listSort: `draft#${updatedAt}`,
        inStates: ['draft'],
      });
    });

    it('sorts a deep state under its top-level state, and lists every ancestor in inStates', () => {
      expect(fields(['review.legal.pending'])).toMatchObject({
        listSort: `review#${updatedAt}`,
        inStates: ['review', 'review.legal', 'review.legal.pending'],
      });
    });

    it('sorts a parallel state below the root under its top-level state, each region in inStates', () => {
      expect(fields(['review.legal.pending', 'review.finance.signed'])).toMatchObject({
        listSort: `review#${updatedAt}`,
        inStates: ['review', 'review.legal', 'review.legal.pending', 'review.finance', 'review.finance.signed'],
      });
    });

    it('sorts a machine whose root is parallel under the empty top', () => {
      expect(fields(['left.on', 'right.off'], 'lights/l1', 'lights')).toMatchObject({
        listSort: `#${updatedAt}`,
        inStates: ['left', 'left.on', 'right', 'right.off'],
      });
      expect(fields(['a', 'b', 'c']).listSort).toBe(`#${updatedAt}`);
    });

    it('sorts an instance without known states under the empty top, in no state', () => {
      expect(fields([])).toMatchObject({ listSort: `#${updatedAt}`, inStates: [] });
    });

    it('orders the instances of one top-level state by update time, oldest first', () => {
      const times = ['2026-11-23T10:05:00.000Z', '2026-01-02T00:00:00.000Z', '2026-11-23T09:59:59.999Z', '2027-01-01T00:00:00.000Z'];
      const sorts = times.map(
        (time) => listIndexFields({ pk: 'approval/a1', machine: 'approval', states: ['draft'], updatedAt: time }).listSort,
      );

      expect([...sorts].sort()).toEqual([...times].sort().map((time) => `draft#${time}`));
    });
  });

  describe('listShardKeys', () => {
    it('names each of the machine’s shards once, 0 to listShards − 1', () => {
      expect(listShardKeys('approval')).toEqual(Array.from({ length: 8 }, (_, n) => `approval#${n}`));
      expect(new Set(listShardKeys('counter')).size).toBe(listShards);
    });

    it('covers the shard of every instance of the machine', () => {
      const keys = new Set(listShardKeys('counter'));

      for (let i = 0; i < 200; i += 1) {
        expect(keys.has(fields(['idle'], `counter/c${i}`, 'counter').listShard)).toBe(true);
      }
    });

    it("spreads a machine's instances over every shard, none with more than twice its share", () => {
      const count = 4000;
      const perShard = new Map<string, number>();
      for (let i = 0; i < count; i += 1) {
        const { listShard } = fields(['idle'], `counter/order-${i}`, 'counter');
        perShard.set(listShard, (perShard.get(listShard) ?? 0) + 1);
      }

      expect([...perShard.keys()].sort()).toEqual(listShardKeys('counter'));
      for (const n of perShard.values()) {
        expect(n).toBeGreaterThan(count / listShards / 2);
        expect(n).toBeLessThan((count / listShards) * 2);
      }
    });
  });

  describe('sortPrefixesFor', () => {
    it("reads a state's top-level state and the empty top of parallel roots", () => {
      expect(sortPrefixesFor('draft')).toEqual(['draft#', '#']);
      expect(sortPrefixesFor('review.legal')).toEqual(['review#', '#']);
      expect(sortPrefixesFor('review.legal.pending')).toEqual(['review#', '#']);
    });

    it("keeps a top-level state's prefix from matching another that starts with the same letters", () => {
      const [prefix] = sortPrefixesFor('review');

      expect(fields(['reviewer']).listSort.startsWith(prefix ?? '')).toBe(false);
      expect(fields(['review.legal']).listSort.startsWith(prefix ?? '')).toBe(true);
    });

    it('reads the whole shard for the empty state', () => {
      expect(sortPrefixesFor('')).toEqual(['']);
    });

    it('finds, with the inStates filter, exactly the instances in the state, parallel roots included', () => {
      const instances = {
        flat: fields(['draft']),
        deep: fields(['review.legal.pending', 'review.finance.signed']),
        other: fields(['review.legal.signed', 'review.finance.pending']),
        lookalike: fields(['reviewer']),
        parallelRoot: fields(['review.legal', 'audit.open'], 'audited/x', 'audited'),
      };
      const inState = (state: string) =>
        Object.entries(instances)
          .filter(([, item]) => found(state, item))
          .map(([name]) => name);

      expect(inState('draft')).toEqual(['flat']);
      expect(inState('review')).toEqual(['deep', 'other', 'parallelRoot']);
      expect(inState('review.legal')).toEqual(['deep', 'other', 'parallelRoot']);
      expect(inState('review.legal.pending')).toEqual(['deep']);
      expect(inState('audit.open')).toEqual(['parallelRoot']);
      expect(inState('reviewer')).toEqual(['lookalike']);
      expect(inState('review.nowhere')).toEqual([]);
    });
  });

  describe('statesWithAncestors', () => {
    it('lists a path and each of its ancestors, shortest first', () => {
      expect(statesWithAncestors(['a.b.c'])).toEqual(['a', 'a.b', 'a.b.c']);
      expect(statesWithAncestors(['idle'])).toEqual(['idle']);
    });

    it('lists each state once over every region, in first-seen order', () => {
      expect(statesWithAncestors(['a.b.c', 'a.b.d', 'a.e'])).toEqual(['a', 'a.b', 'a.b.c', 'a.b.d', 'a.e']);
      expect(statesWithAncestors(['a.b', 'a.b', 'a'])).toEqual(['a', 'a.b']);
      expect(statesWithAncestors(['x.y', 'z'])).toEqual(['x', 'x.y', 'z']);
    });

    it('lists nothing for no states', () => {
      expect(statesWithAncestors([])).toEqual([]);
    });

    it('does not take a state that merely starts with another for its child', () => {
      expect(statesWithAncestors(['review', 'reviewer.x'])).toEqual(['review', 'reviewer', 'reviewer.x']);
    });
  });
});
