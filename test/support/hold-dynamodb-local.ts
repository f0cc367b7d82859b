// Run as a child process by test/local/dynamodb-local.test.ts: starts DynamoDB Local, prints the
// JVM's pid, and holds it until this process is killed — to prove the JVM does not outlive it.
import { startDynamoDbLocal } from '../../local/dynamodb-local.ts';

const dynamodb = await startDynamoDbLocal();
process.stdout.write(`${JSON.stringify({ pid: dynamodb.pid, endpoint: dynamodb.endpoint })}\n`);
setInterval(() => undefined, 60_000);
