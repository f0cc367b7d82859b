/**
 * The local stack's region and dummy credentials: plain values in a module of their own, so that the client can
 * reach a `settle dev` stack without loading the emulators.
 */
export const localRegion = 'us-east-1';

/** Dummy credentials for the emulators. DynamoDB Local accepts only alphanumeric access keys. */
export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
