import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { describeError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';

/** Settle's logger port over Powertools' structured Logger: details become attributes, errors `{ name, message }`. */
export function powertoolsLogger(logger: PowertoolsLogger): Logger {
  const attributes = (details: unknown): Record<string, unknown> => {
    if (details === undefined) return {};
    if (details instanceof Error) return { error: describeError(details) };
    if (typeof details === 'object' && details !== null) return details as Record<string, unknown>;
    return { details };
  };
  return {
    info: (message, details) => logger.info(message, attributes(details)),
    warn: (message, details) => logger.warn(message, attributes(details)),
    error: (message, details) => logger.error(message, attributes(details)),
  };
}
