import type { AnyStateMachine, EventObject } from 'xstate';
import { PermanentError, describeError } from './errors.ts';
import { shownType } from './event.ts';
import type { InstanceKey } from './instance-key.ts';

/** What a machine gets as `input` when Settle creates an instance on its first event. */
export interface InstanceInput {
  readonly instanceId: string;
  readonly instanceKey: string;
}

/** A persisted XState snapshot as stored: plain JSON (`undefined` keys are gone after a round trip). */
export interface PersistedSnapshot {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly [key: string]: unknown;
}

export interface MachineDefinition {
  /** The statechart. Tag each state where it waits for the outside with `resolve` or `reject`. */
  readonly machine: AnyStateMachine;
  /**
   * The version of the machine's states and context. Bump it when a stored snapshot would no longer
   * fit (a state removed or renamed, context reshaped), and give `migrate` for the versions still stored.
   */
  readonly version: number;
  /**
   * Turns a snapshot saved by version `fromVersion` into one for `version`. Return `undefined` when it
   * cannot: the event then goes to the dead-letter queue instead of restoring into a broken state.
   */
  readonly migrate?: (snapshot: PersistedSnapshot, fromVersion: number) => PersistedSnapshot | undefined;
  /**
   * Checks an event at the boundary, before the machine sees it. Return a message saying what is wrong
   * to reject the event to the dead-letter queue, or `undefined` to accept it. Plug a schema library here.
   */
  readonly validateEvent?: (event: EventObject & Record<string, unknown>) => string | undefined;
}

export type MachineRegistry = Readonly<Record<string, MachineDefinition>>;

const machineName = /^[a-z0-9-]+$/;

/** Checks a registry once, naming every problem, and returns it unchanged. */
export function defineRegistry<R extends MachineRegistry>(registry: R): R {
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(registry)) {
    if (!machineName.test(name)) problems.push(`'${name}' is not a valid machine name ([a-z0-9-]+, used in message group ids)`);
    if (!Number.isSafeInteger(definition.version) || definition.version < 1) {
      problems.push(`'${name}' has version ${definition.version}; use a whole number ≥ 1`);
    }
  }
  if (problems.length > 0) throw new Error(`The machine registry is invalid: ${problems.join('; ')}.`);
  return registry;
}

/** The machine registered under `name`, if any: an own entry only, so `constructor` or `__proto__` is no machine. */
export function registeredMachine(registry: MachineRegistry, name: string): MachineDefinition | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}

/** The machine an instance runs, or `unknown-machine`: checked by the worker, and by the client before it sends. */
export function definitionOf(registry: MachineRegistry, key: InstanceKey): MachineDefinition {
  const definition = registeredMachine(registry, key.machine);
  if (definition) return definition;
  throw new PermanentError(
    'unknown-machine',
    `No machine named '${key.machine}' is registered (instance ${key.key}); known machines: ${Object.keys(registry).join(', ') || 'none'}. ` +
      'Fix the message group id, or add the machine to the registry your worker is built with and deploy.',
    { instanceKey: key.key },
  );
}

/** Runs the machine's `validateEvent`; a message it returns, or anything it throws, is a `schema-violation`. */
export function checkEventSchema(definition: MachineDefinition, key: InstanceKey, event: EventObject & Record<string, unknown>): void {
  const type = shownType(event.type);
  let problem: string | undefined;
  try {
    problem = definition.validateEvent?.(event);
  } catch (error) {
    const { name, message: text } = describeError(error);
    throw new PermanentError(
      'schema-violation',
      `validateEvent of machine '${key.machine}' threw ${name}: ${text} on event '${type}' for instance ${key.key}. ` +
        'Make it return a message for bad input instead of throwing, then redrive the event from the DLQ.',
      { instanceKey: key.key, cause: error },
    );
  }
  if (problem !== undefined) {
    throw new PermanentError(
      'schema-violation',
      `Event '${type}' for instance ${key.key} does not match machine '${key.machine}': ${problem}.`,
      { instanceKey: key.key },
    );
  }
}
