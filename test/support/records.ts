/** Records for the worker core: settle/testing's builder, and sequence numbers as SQS makes them. */
export { sqsRecord as fifoRecord } from '../../testing/index.ts';

/** Sequence numbers as SQS makes them: 20+ digit decimals beyond Number.MAX_SAFE_INTEGER. */
export { sqsSequenceNumber as sequence } from '../../testing/index.ts';
