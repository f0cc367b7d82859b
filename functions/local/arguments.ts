/** `npm start`'s flags and environment; flags win over the environment. */

export const usage = `Usage: npm start -- [--sqs-port N] [--dynamodb-port N] [--dynamodb-local]
  --sqs-port N        SQS (fauxqs) port, 0 for a free one      (env SETTLE_SQS_PORT, default 9324)
  --dynamodb-port N   DynamoDB port, 0 for a free one          (env SETTLE_DYNAMODB_PORT, default 8000)
  --dynamodb-local    Amazon's DynamoDB Local (Java) instead of dynalite`;

export interface Arguments {
  readonly sqsPort: number;
  readonly dynamodbPort: number;
  readonly dynamodbLocal: boolean;
}

export function parseArguments(argv: readonly string[], env: NodeJS.ProcessEnv): Arguments {
  const flags = new Map<string, string>();
  const problems: string[] = [];
  let dynamodbLocal = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name, inline] = arg.split('=', 2) as [string, string | undefined];
    if (name === '--dynamodb-local') dynamodbLocal = true;
    else if (name === '--sqs-port' || name === '--dynamodb-port') flags.set(name, inline ?? argv[++i] ?? '');
    else problems.push(`unknown argument '${arg}'`);
  }
  const port = (flag: string, variable: string, fallback: number): number => {
    const raw = flags.get(flag) ?? env[variable]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0 || value > 65_535) problems.push(`${flags.has(flag) ? flag : variable} must be a port from 0 to 65535, got '${raw}'`);
    return value;
  };
  const parsed = {
    sqsPort: port('--sqs-port', 'SETTLE_SQS_PORT', 9324),
    dynamodbPort: port('--dynamodb-port', 'SETTLE_DYNAMODB_PORT', 8000),
    dynamodbLocal,
  };
  if (problems.length > 0) throw new Error(`${problems.join('; ')}.\n${usage}`);
  return parsed;
}
