import { describeError } from '../runtime/core/errors.ts';
import { silentLogger, type Logger } from '../runtime/core/logger.ts';

/** What the local stack reports through: Settle's logger port; tests pass `silentLogger` or their own. */
export type LocalLogger = Logger;
export { silentLogger };

/** Prints to the console: an error as `(name: message)`, other details as JSON. */
export const consoleLogger: Logger = {
  info: (message, details) => console.log(withDetails(message, details)),
  warn: (message, details) => console.warn(withDetails(message, details)),
  error: (message, details) => console.error(withDetails(message, details)),
};

function withDetails(message: string, details: unknown): string {
  if (details === undefined) return message;
  if (details instanceof Error || (typeof details === 'object' && details !== null && 'message' in details && 'name' in details)) {
    const { name, message: text } = describeError(details);
    return `${message} (${name}: ${text})`;
  }
  return `${message} ${JSON.stringify(details)}`;
}
