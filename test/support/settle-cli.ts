import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The real `settle` executable, from source, as a user's terminal runs it. */
const bin = join(import.meta.dirname, '..', '..', 'cli', 'bin.ts');

export interface SettleRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A user's shell: no AWS or Settle settings of this process leak in; `extra` adds the ones a test means. */
export function shellEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('SETTLE_')));
  return { ...env, ...extra };
}

/** Runs `settle <args>` in `cwd` to its end, for at most `timeoutMs`. */
export function runSettle(
  args: readonly string[],
  options: { readonly env: NodeJS.ProcessEnv; readonly cwd: string; readonly timeoutMs?: number },
): Promise<SettleRun> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], { cwd: options.cwd, env: options.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`settle ${args.join(' ')} did not end within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
