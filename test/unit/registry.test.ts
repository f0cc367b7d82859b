import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { defineRegistry } from '../../runtime/core/registry.ts';

const machine = createMachine({ id: 'm', initial: 'idle', states: { idle: { tags: ['resolve'] } } });

describe('defineRegistry', () => {
  it('returns a valid registry as it is: lowercase names with digits and dashes, whole versions from 1', () => {
    const registry = { counter: { machine, version: 1 }, 'order-v2': { machine, version: 7 }, a: { machine, version: 2 ** 53 - 1 } };

    expect(defineRegistry(registry)).toBe(registry);
  });

  it('names every problem in one error: each bad name and each bad version, in order', () => {
    const define = () =>
      defineRegistry({
        Counter: { machine, version: 1 },
        counter_v2: { machine, version: 2 },
        zero: { machine, version: 0 },
        half: { machine, version: 1.5 },
        'do not': { machine, version: -1 },
      });

    expect(define).toThrow(
      new Error(
        'The machine registry is invalid: ' +
          "'Counter' is not a valid machine name ([a-z0-9-]+, used in message group ids); " +
          "'counter_v2' is not a valid machine name ([a-z0-9-]+, used in message group ids); " +
          "'zero' has version 0; use a whole number ≥ 1; " +
          "'half' has version 1.5; use a whole number ≥ 1; " +
          "'do not' is not a valid machine name ([a-z0-9-]+, used in message group ids); " +
          "'do not' has version -1; use a whole number ≥ 1.",
      ),
    );
  });

  it('refuses versions that are not safe whole numbers', () => {
    for (const version of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => defineRegistry({ counter: { machine, version } })).toThrow(`'counter' has version ${version}; use a whole number ≥ 1`);
    }
  });

  it('accepts an empty registry', () => {
    expect(defineRegistry({})).toEqual({});
  });
});
