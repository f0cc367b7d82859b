/**
 * Settle's one logger port. The worker core, the local stack and the CLI log through it; the Lambda
 * handlers adapt Powertools' Logger to it, the local stack prints to the console.
 */
export interface Logger {
  info(message: string, details?: unknown): void;
  warn(message: string, details?: unknown): void;
  error(message: string, details?: unknown): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
