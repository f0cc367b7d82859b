import type { AnyStateMachine, AnyStateNode, EventObject, StateValue } from 'xstate';

/**
 * The event types a machine can ever take from the outside: every transition's event descriptor in every
 * state node, less XState's own (`xstate.*`: delays, done and error events). A descriptor may be a wildcard:
 * `*` takes any type, `order.*` any type starting with `order.`.
 */
export function acceptedEventTypes(machine: AnyStateMachine): string[] {
  const descriptors = new Set<string>();
  const visit = (node: AnyStateNode): void => {
    for (const descriptor of node.transitions.keys()) {
      if (!descriptor.startsWith('xstate.')) descriptors.add(descriptor);
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return [...descriptors].sort();
}

/** True if some state of the machine has a transition for `type` (a wildcard counts). */
export function acceptsEventType(accepted: readonly string[], type: string): boolean {
  return accepted.some(
    (descriptor) => descriptor === type || descriptor === '*' || (descriptor.endsWith('.*') && type.startsWith(descriptor.slice(0, -1))),
  );
}

/**
 * True if an instance resting in `value` with `context` would take `event` now: a transition whose guards pass
 * (XState's `can`, which runs guards but no actions). False when the state value no longer fits the machine.
 */
export function takesEventNow(machine: AnyStateMachine, value: StateValue, context: unknown, event: EventObject): boolean {
  try {
    return machine.resolveState({ value, context }).can(event);
  } catch {
    return false;
  }
}

/**
 * The event types an instance resting in `states` (active paths, one per region) has transitions for, in any
 * of those states or their ancestors: what a form offers to send. Guards are not run; wildcards are left out.
 */
export function eventTypesInStates(machine: AnyStateMachine, states: readonly string[]): string[] {
  const types = new Set<string>();
  for (const path of states) {
    let node: AnyStateNode | undefined = machine.root;
    const chain: AnyStateNode[] = [machine.root];
    for (const name of path.split('.')) {
      node = node?.states[name];
      if (node) chain.push(node);
    }
    for (const candidate of chain) {
      for (const descriptor of candidate.transitions.keys()) {
        if (!descriptor.startsWith('xstate.') && !descriptor.includes('*')) types.add(descriptor);
      }
    }
  }
  return [...types].sort();
}
