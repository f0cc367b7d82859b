/**
 * AWS list prices used by the cost section, us-east-1. Taken from the author's knowledge of the public
 * price pages; this run has no network, so they are not verified online. Free tiers are ignored.
 */
export const priceDate = '2025-06';
export const priceSource = `list prices as of ${priceDate}, not verified online here (us-east-1, no free tier)`;

export const prices = {
  /** SQS FIFO queue, per request (a request carries up to 10 messages and 64 KB per chunk). */
  sqsFifoRequest: 0.5 / 1e6,
  /** DynamoDB on-demand, per write request unit (1 KB). */
  dynamoWriteUnit: 0.625 / 1e6,
  /** DynamoDB on-demand, per read request unit (4 KB strongly consistent). */
  dynamoReadUnit: 0.125 / 1e6,
  /** Lambda, arm64, per GB-second (first pricing tier). */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda, per invocation. */
  lambdaRequest: 0.2 / 1e6,
  /** Step Functions Standard, per state transition. */
  stepFunctionsTransition: 0.025 / 1000,
} as const;

/** The worker's memory size in the cost model. */
export const lambdaMemoryGb = 0.5;
