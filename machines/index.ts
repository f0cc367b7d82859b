import { defineRegistry } from '../runtime/index.ts';
import { approvalMachine } from './approval.ts';
import { counterMachine } from './counter.ts';
import { paymentMachine } from './payment.ts';
import { signupMachine } from './signup.ts';

/**
 * The machines this deployment runs, by the name used in message group ids (`<name>/<instanceId>`).
 * Add yours here. Bump `version` when a stored snapshot would no longer fit the machine, and give a
 * `migrate` for the versions still stored (see README, "Changing a machine").
 */
export const registry = defineRegistry({
  counter: { machine: counterMachine, version: 1 },
  approval: {
    machine: approvalMachine,
    version: 1,
    validateEvent: (event) =>
      (event.type === 'APPROVE' || event.type === 'REJECT') && event.role !== 'legal' && event.role !== 'finance'
        ? `"role" must be "legal" or "finance", got ${JSON.stringify(event.role)}`
        : typeof event.by !== 'string'
          ? '"by" (who acts) must be a string'
          : undefined,
  },
  signup: {
    machine: signupMachine,
    version: 1,
    validateEvent: (event) => (event.type === 'REGISTER' && typeof event.email !== 'string' ? '"email" must be a string' : undefined),
  },
  payment: {
    machine: paymentMachine,
    version: 1,
    validateEvent: (event) =>
      event.type !== 'CHECKOUT'
        ? undefined
        : !(typeof event.amount === 'number' && event.amount > 0)
          ? '"amount" must be a positive number'
          : event.windowSeconds !== undefined && !(Number.isInteger(event.windowSeconds) && (event.windowSeconds as number) >= 1)
            ? '"windowSeconds" must be a whole number of seconds ≥ 1'
            : undefined,
  },
});
