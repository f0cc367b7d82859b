import { describeError } from '../runtime/errors.ts';

/** What the local stack reports; tests pass `silentLogger` or their own. */
export interface LocalLogger {
  info(message: string): void;
  warn(message: string, error?: unknown): void;
  error(message: string, error?: unknown): void;
}

export const consoleLogger: LocalLogger = {
  info: (message) => console.log(message),
  warn: (message, error) => console.warn(withError(message, error)),
  error: (message, error) => console.error(withError(message, error)),
};

export const silentLogger: LocalLogger = { info: () => {}, warn: () => {}, error: () => {} };

function withError(message: string, error: unknown): string {
  if (error === undefined) return message;
  const { name, message: text } = describeError(error);
  return `${message} (${name}: ${text})`;
}
