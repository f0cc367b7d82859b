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
  /** DynamoDB Standard table class, storage per GB-month (https://aws.amazon.com/dynamodb/pricing/on-demand/). */
  dynamoStorageGbMonth: 0.25,
  /**
   * S3 Standard, per PUT, COPY, POST or LIST request; PutObjectTagging is billed as one of these
   * (https://aws.amazon.com/s3/pricing/, "Requests & data retrievals"; same caveat: not verified online here).
   */
  s3PutRequest: 0.005 / 1000,
  /** S3 Standard, per GET or SELECT request (https://aws.amazon.com/s3/pricing/). */
  s3GetRequest: 0.0004 / 1000,
  /** S3 Standard, storage per GB-month, first 50 TB (https://aws.amazon.com/s3/pricing/, "Storage"). */
  s3StorageGbMonth: 0.023,
} as const;

/** Days in a billing month, as S3 and DynamoDB prorate GB-months (730 hours). */
export const daysPerMonth = 730 / 24;

/** The worker's memory size in the cost model. */
export const lambdaMemoryGb = 0.5;
