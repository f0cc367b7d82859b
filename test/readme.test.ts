import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The README is the contract: this suite starts `npm start` as a new user would (default ports) and
 * runs the README's AWS CLI blocks verbatim with the `aws` CLI installed on the machine.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
/** Where this suite's `npm start` writes how `settle` reaches it: its own file, never the machine's default. */
const devFile = join(mkdtempSync(join(tmpdir(), 'settle-readme-')), 'dev.json');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** `<!-- cli:NAME -->` followed by a ```sh block. */
function block(name: string): string {
  const match = new RegExp(`<!-- cli:${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README has no <!-- cli:${name} --> sh block`);
  return match[1];
}

function run(...names: string[]): { status: number | null; stdout: string; stderr: string } {
  // Only what a new user's shell has: no credentials or endpoints from this process leak in.
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('SETTLE_'))),
    SETTLE_DEV_FILE: devFile,
  };
  const script = ['set -euo pipefail', ...names.map(block)].join('\n');
  const result = spawnSync('bash', ['-c', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Re-runs a read block until its output passes `accept`, for at most `timeoutMs`. */
async function eventually(names: string[], accept: (stdout: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const result = run(...names);
    last = `${result.stdout}${result.stderr}`;
    if (result.status === 0 && accept(result.stdout)) return result.stdout;
    await new Promise((resolve) => setTimeout(resolve, 250)); // poll interval of a bounded wait
  }
  throw new Error(`'${names.join(' + ')}' did not produce the expected output within ${timeoutMs} ms; last output:\n${last}`);
}

let server: ChildProcess | undefined;
let output = '';

function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pattern.test(output)) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      }
    };
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`npm start did not print ${pattern} within ${timeoutMs} ms; it printed:\n${output}`));
    }, timeoutMs);
    check();
  });
}

beforeAll(async () => {
  server = spawn('npm', ['start'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SETTLE_DEV_FILE: devFile },
  });
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitForOutput(/Settle local stack ready in \d+ ms/, 30_000);
}, 40_000);

afterAll(() => {
  try {
    if (server?.pid) process.kill(-server.pid, 'SIGKILL');
  } catch {
    // The group has exited already.
  }
  rmSync(dirname(devFile), { recursive: true, force: true });
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('README', () => {
  it('prints the same queue URLs that the README uses', () => {
    const env = block('env');
    for (const url of output.match(/http:\/\/127\.0\.0\.1:9324\/\S+\.fifo/g) ?? []) expect(env).toContain(url);
    expect(output).toContain('settle-events-dlq.fifo');
  });

  it('sends COUNT with settle --wait, then with the AWS CLI, and reads the instance back both ways', async () => {
    const waited = run('env', 'settle-send');
    expect(waited.status, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(
      /^counter\/c1 {2}\d+ {2}resolve\n {2}states {3}even\n {2}status {3}active\n {2}tags {5}resolve\n {2}context {2}\{"count":2\}$/m,
    );

    const sent = run('env', 'send');
    expect(sent.stderr).toBe('');
    expect(sent.status).toBe(0);
    expect(sent.stdout).toMatch(/"SequenceNumber"/);

    const read = await eventually(['env', 'read'], (stdout) => stdout.includes('\\"count\\":4'));
    expect(JSON.parse(read)).toMatchObject({ states: ['even'], status: 'active', outcome: 'resolve' });
    const shown = run('env', 'settle-get');
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/^counter\/c1 {2}\(machine counter v1, item version 2\)$/m);
    expect(shown.stdout).toContain('context  {"count":4}');
  }, 60_000);

  it('runs the approval through both sign-offs to done, showing both regions on the way', async () => {
    const bySettle = run('env', 'settle-approval');
    expect(bySettle.status, bySettle.stderr).toBe(0);
    expect(bySettle.stdout.match(/^approval\/doc-18 {2}\d+ {2}resolve$/gm)).toHaveLength(2);
    expect(bySettle.stdout).toContain('states   review.legal.signed, review.finance.pending');

    const sent = run('env', 'approval');
    expect(sent.status).toBe(0);
    const sequenceNumbers = [...sent.stdout.matchAll(/"SequenceNumber": "(\d+)"/g)].map((match) => match[1]);
    expect(sequenceNumbers).toHaveLength(2);

    const midway = await eventually(['env', 'approval-read'], (stdout) => stdout.includes('review.legal.signed'));
    // The README states this exact value; the history carries the sequence numbers send-message returned.
    expect(JSON.parse(midway)).toEqual({
      states: ['review.legal.signed', 'review.finance.pending'],
      history: [
        [sequenceNumbers[0], 'SUBMIT', 'resolve'],
        [sequenceNumbers[1], 'APPROVE', 'resolve'],
      ],
    });
    expect(readme).toContain('`states` is `["review.legal.signed", "review.finance.pending"]`');
    const shown = run('env', 'settle-approval-read');
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^${sequenceNumbers[0]} +\\S+ +SUBMIT +resolve$`, 'm'));
    expect(shown.stdout).toMatch(new RegExp(`^${sequenceNumbers[1]} +\\S+ +APPROVE +resolve$`, 'm'));
    expect(shown.stdout).toMatch(/^approval\/doc-17 +review\.legal\.signed, review\.finance\.pending +active +resolve/m);
    expect(shown.stdout).toMatch(/^approval\/doc-18 +review\.legal\.signed, review\.finance\.pending +active +resolve/m);
    expect(shown.stdout).toMatch(/^2 instances$/m);

    expect(run('env', 'approval-finish').status).toBe(0);
    const read = await eventually(['env', 'approval-read'], (stdout) => stdout.includes('"approved"'));
    expect(JSON.parse(read)).toMatchObject({
      states: ['approved'],
      history: [
        [sequenceNumbers[0], 'SUBMIT', 'resolve'],
        [sequenceNumbers[1], 'APPROVE', 'resolve'],
        [expect.stringMatching(/^\d+$/), 'APPROVE', 'done'],
      ],
    });
  }, 60_000);

  it('shows a short durable timer firing on the local stack', async () => {
    const sent = run('env', 'timer');
    expect(sent.status).toBe(0);

    await waitForOutput(/payment\/p1 {2}CHECKOUT {2}cart → awaitingPayment {2}resolve/, 15_000);
    await waitForOutput(/sweeper: woke \d+ instances? with timers due/, 15_000);
    await waitForOutput(
      /payment\/p1 {2}xstate\.after\.paymentWindow\.payment\.awaitingPayment {2}awaitingPayment → expired {2}reject/,
      15_000,
    );
  }, 60_000);

  it('shows a pending durable timer with settle timers', () => {
    const shown = run('env', 'settle-timer');

    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^payment\/p2 {2}\d+ {2}resolve$/m);
    expect(shown.stdout).toMatch(
      /^xstate\.after\.paymentWindow\.payment\.awaitingPayment +xstate\.after\.paymentWindow\.payment\.awaitingPayment +\S+ \S+ \(in 10 min\)$/m,
    );
  }, 60_000);

  it('puts a reserved event type in the DLQ with its reason', async () => {
    const sent = run('env', 'dlq');
    expect(sent.status).toBe(0);

    const read = await eventually(['env', 'dlq-read'], (stdout) => stdout.includes('reserved-type'));
    const letters = JSON.parse(read) as [string, string, string][];
    expect(letters).toContainEqual([
      '{"type":"xstate.init"}',
      'reserved-type',
      expect.stringMatching(/counter\/c1.*reserved prefix 'xstate\.'.*Rename the event/),
    ]);

    const refused = run('env', 'settle-dlq');
    expect(refused.status).toBe(0);
    expect(refused.stderr).toMatch(
      /^settle: Event type 'xstate\.init' for instance counter\/c1 starts with the reserved prefix 'xstate\.'/,
    );
    expect(refused.stdout).toContain('refused: exit code 2');
    expect(refused.stdout).toMatch(/^\S+ +counter\/c1 +\d+ +reserved-type +Event type 'xstate\.init'/m);
    expect(refused.stdout).toMatch(/^1 letter$/m);
  }, 60_000);

  it('checks the example machines and explains an event without applying it', () => {
    const result = run('env', 'settle-check');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('0 errors, 0 warnings in 4 machines (counter, approval, signup, payment)');
    expect(result.stdout).toMatch(/would settle\s+review\.legal\.signed, review\.finance\.pending {2}\[resolve\] → resolve/);
    expect(result.stdout).toMatch(/item\s+version \d+ \(explain leaves it as it is\)/);
  }, 60_000);

  it('runs the HTTP API blocks: send-and-wait, a callback link shown, followed and followed again, a listing, a refusal', () => {
    const sent = run('http-send');
    expect(sent.status, sent.stderr).toBe(0);
    const result = JSON.parse(sent.stdout) as { outcome: string; states: string[]; context: { links: { legal: { approve: string } } } };
    expect(result).toMatchObject({
      instanceKey: 'approval/doc-20',
      outcome: 'resolve',
      states: ['review.legal.pending', 'review.finance.pending'],
    });
    expect(result.context.links.legal.approve).toMatch(/^http:\/\/127\.0\.0\.1:3000\/callbacks\/eyJ2Ijoi[\w-]+\.[\w-]+$/);

    const link = run('http-link');
    expect(link.status, link.stderr).toBe(0);
    const [shown, done, again] = link.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(shown).toMatchObject({ decision: 'open', instanceKey: 'approval/doc-20', event: { type: 'APPROVE', role: 'legal' } });
    expect(done).toMatchObject({ decision: 'done', states: ['review.legal.signed', 'review.finance.pending'] });
    expect(again).toMatchObject({ decision: 'already-used' });

    const listed = JSON.parse(run('http-list').stdout) as { items: { key: string }[] };
    expect(listed.items.map((item) => item.key)).toContain('approval/doc-20');

    const refused = JSON.parse(run('http-bad').stdout) as { code: string; message: string };
    expect(refused.code).toBe('schema-violation');
    expect(readme).toContain(`422 ${JSON.stringify(refused)}`);
  }, 60_000);

  it('stops cleanly on Ctrl-C: says so, exits, and frees its ports', async () => {
    // A terminal's Ctrl-C signals the whole foreground group: npm, its shell (exec'd away) and node.
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      server?.once('exit', (code, signal) => resolve(signal ?? code)),
    );
    process.kill(-(server?.pid ?? 0), 'SIGINT');

    const how = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000))]);

    expect(how).toBe(0);
    // The worker's log lines go to stderr, which this output interleaves with stdout in the order the pipes are read.
    expect(output).toMatch(/SIGINT: stopping the local stack…\n(?:.*\n)*?Stopped\./);
    expect(await portIsFree(9324)).toBe(true);
    expect(await portIsFree(8000)).toBe(true);
  }, 30_000);
});
