import { RequestError } from '../runtime/core/errors.ts';

/** SDK error names that mean: no usable credentials. */
const credentialErrors = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
]);

const fixCredentials = 'configure AWS credentials: `aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';

/**
 * Turns an AWS SDK failure into the one line a person can act on: missing credentials, a queue or table that
 * does not exist. Anything else is returned as it came.
 */
export function explainAwsError(error: unknown, doing: string): unknown {
  const name = (error as { name?: unknown } | undefined)?.name;
  const message = (error as { message?: unknown } | undefined)?.message;
  if (typeof name !== 'string') return error;
  if (credentialErrors.has(name)) {
    return new RequestError('no-credentials', `Could not ${doing}: no valid AWS credentials (${name}). To fix it, ${fixCredentials}.`, {
      cause: error,
    });
  }
  if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
    return new RequestError(
      'not-configured',
      `Could not ${doing}: the queue does not exist (${String(message)}). Check --stack, or SETTLE_QUEUE_URL and SETTLE_DLQ_URL, and the region.`,
      { cause: error },
    );
  }
  if (name === 'ResourceNotFoundException') {
    return new RequestError(
      'not-configured',
      `Could not ${doing}: the table or its index does not exist (${String(message)}). Check --stack, or SETTLE_TABLE, and the region.`,
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
