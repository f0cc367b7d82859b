import { RequestError } from '../runtime/core/errors.ts';

/** What the SDK throws when it finds no credentials, and what AWS answers to missing, unknown or expired ones. */
const credentialsErrorNames = new Set([
  'CredentialsProviderError',
  'TokenProviderError',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'ExpiredTokenException',
]);

const credentialsAdvice = 'configure AWS credentials: aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY';

/** A `no-credentials` {@link RequestError} when `error` says the credentials are missing, invalid or expired. */
export function credentialsError(error: unknown, target: string): RequestError | undefined {
  const { name, message } = nameAndMessage(error);
  if (!credentialsErrorNames.has(name)) return undefined;
  return new RequestError('no-credentials', `No usable AWS credentials to reach ${target} (${name}: ${message}): ${credentialsAdvice}.`, {
    cause: error,
  });
}

/** An error's name and message on one line, whatever was thrown. */
export function nameAndMessage(error: unknown): { name: string; message: string } {
  if (typeof error !== 'object' || error === null) return { name: 'Error', message: String(error) };
  const { name, message } = error as { name?: unknown; message?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    message: String(message ?? '')
      .replace(/\s+/g, ' ')
      .trim(),
  };
}

/**
 * Turns an AWS SDK failure into the one line a person can act on: missing credentials, a queue or table that
 * does not exist. Anything else is returned as it came.
 */
export function explainAwsError(error: unknown, doing: string): unknown {
  const { name, message } = nameAndMessage(error);
  const noCredentials = credentialsError(error, `AWS to ${doing}`);
  if (noCredentials) return noCredentials;
  if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
    return new RequestError(
      'not-configured',
      `Could not ${doing}: the queue does not exist (${message}). Check --stack, or SETTLE_QUEUE_URL and SETTLE_DLQ_URL, and the region.`,
      { cause: error },
    );
  }
  if (name === 'ResourceNotFoundException') {
    return new RequestError(
      'not-configured',
      `Could not ${doing}: the table or its index does not exist (${message}). Check --stack, or SETTLE_TABLE, and the region.`,
      { cause: error },
    );
  }
  return error;
}

/** Runs one SDK call, explaining its failure (see {@link explainAwsError}). */
export async function awsCall<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw explainAwsError(error, doing);
  }
}
