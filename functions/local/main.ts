/**
 * `npm start`: the local stack on 127.0.0.1 — SQS on 9324, DynamoDB on 8000 — running the worker
 * and the sweeper until Ctrl-C.
 *
 * Ports: `--sqs-port N` / `SETTLE_SQS_PORT`, `--dynamodb-port N` / `SETTLE_DYNAMODB_PORT` (flags win).
 * `--dynamodb-local` uses Amazon's DynamoDB Local (Java 17) instead of dynalite.
 */
import { localCredentials } from './clients.ts';
import { parseArguments, usage } from './arguments.ts';
import { appliedLine, readyBanner } from './banner.ts';
import { consoleLogger } from './log.ts';
import { startLocalStack } from './stack.ts';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(usage);
    return;
  }
  const started = Date.now();
  const args = parseArguments(process.argv.slice(2), process.env);
  const stack = await startLocalStack({
    sqsPort: args.sqsPort,
    dynamodbPort: args.dynamodbPort,
    dynamodb: args.dynamodbLocal ? 'dynamodb-local' : 'dynalite',
    onApplied: (event) => console.log(appliedLine(event)),
    logger: consoleLogger,
  });
  // For anything in this process that builds its own SDK client from the standard settings.
  Object.assign(process.env, stack.env);
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) {
    process.env.AWS_ACCESS_KEY_ID = localCredentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = localCredentials.secretAccessKey;
  }
  console.log(readyBanner(stack, Date.now() - started));

  let stoppingSince: number | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // npm and tsx forward the terminal's Ctrl-C, so one press can arrive twice: only a later one forces.
      if (Date.now() - stoppingSince < 1000) return;
      console.error(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    console.log(`\n${signal}: stopping the local stack…`);
    stack.stop().then(
      () => {
        console.log('Stopped.');
        process.exitCode = 0;
        // Let the event loop drain; if something still holds it, do not hang the terminal.
        setTimeout(() => process.exit(0), 2000).unref();
      },
      (error: unknown) => {
        consoleLogger.error('The local stack did not stop cleanly', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  if (error instanceof Error && error.cause) console.error('  cause:', error.cause instanceof Error ? error.cause.message : error.cause);
  process.exit(1);
});
