import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../local/log.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { registry } from '../../machines/index.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * `settle dashboard` as against a deployed stack: a separate process that finds the stack through the
 * SETTLE_* settings and the SDK's endpoint settings (here pointed at a local stack, as no AWS account is
 * reachable), and serves the dashboard on 127.0.0.1 with nothing else.
 */
const root = join(import.meta.dirname, '..', '..');
let stack: LocalStack;
let dashboard: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  stack = await startLocalStack({ registry, logger: silentLogger });
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('SETTLE_'))),
    SETTLE_QUEUE_URL: stack.queueUrl,
    SETTLE_DLQ_URL: stack.deadLetterQueueUrl,
    SETTLE_TABLE: stack.tableName,
    AWS_ENDPOINT_URL_SQS: stack.endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: stack.endpoints.dynamodb,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
  };
  dashboard = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'cli', 'bin.ts'), 'dashboard', '--registry', 'machines/index.ts', '--port', '0'],
    {
      cwd: root,
      env,
    },
  );
  dashboard.stdout?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  dashboard.stderr?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
}, 60_000);

afterAll(async () => {
  if (dashboard && dashboard.exitCode === null) {
    const exited = new Promise((resolve) => dashboard?.once('exit', resolve));
    dashboard.kill('SIGINT');
    await exited;
  }
  await stack?.stop();
});

describe('settle dashboard', () => {
  it('serves the dashboard of the stack it was pointed at, on loopback, and stops on Ctrl-C', async () => {
    const url = await waitFor(() => /Settle dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1], {
      timeoutMs: 30_000,
      description: `settle dashboard to print its URL; it printed: ${output}`,
    });

    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/dashboard/app.js');
    const { machines } = (await (await fetch(`${url}/dashboard/api/machines`)).json()) as { machines: { name: string; diagram: string }[] };
    expect(machines.map((machine) => machine.name)).toEqual(Object.keys(registry));
    expect(machines[1]?.diagram).toContain('data-state="review.legal"');
    // The dashboard only: the HTTP API's routes are not served here.
    expect((await fetch(`${url}/instances/counter/c1`)).status).toBe(404);

    const exited = new Promise<number | null>((resolve) => dashboard?.once('exit', resolve));
    dashboard?.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 60_000);
});
