/**
 * How the `settle` commands answer: human tables by default, JSON with `--json`, and exit codes a script can
 * branch on (README, "The settle CLI").
 */
import { PermanentError, RequestError, WaitTimeoutError } from '../runtime/core/errors.ts';
import type { EventOutcome } from '../client/settle-client.ts';

export const exitCodes = {
  /** Done as asked; for `send --wait`, the event's outcome was `resolve` or `done`. */
  ok: 0,
  /** Something failed that is not the caller's input: an AWS error, a bug. */
  failure: 1,
  /** Bad arguments, input or configuration: nothing was sent. */
  usage: 2,
  reject: 3,
  ignored: 4,
  deadLettered: 5,
  /** `--wait` ran out of time: the event is queued, not lost. */
  timeout: 6,
  /** `dlq redrive`: some chosen letters were refused or could not be sent; they stay in the DLQ. */
  notRedriven: 7,
  /** `settle check`: a machine of the registry has an error-level finding (warnings alone exit 0). */
  checkFailed: 8,
  /** `settle explain`: a new instance's initial state first waits for an invoked actor, so the event's fate is open. */
  undecided: 9,
} as const;

export function exitCodeOf(outcome: EventOutcome): number {
  switch (outcome) {
    case 'resolve':
    case 'done':
      return exitCodes.ok;
    case 'reject':
      return exitCodes.reject;
    case 'ignored':
      return exitCodes.ignored;
    case 'dead-lettered':
    case 'error':
      return exitCodes.deadLettered;
  }
}

/** Where a command writes: its answer on stdout, warnings and a failure's one line on stderr. */
export interface CommandOutput {
  info(line: string): void;
  warn(line: string): void;
}

/** The process's own streams. */
export const processOutput: CommandOutput = {
  info: (line) => console.log(line),
  warn: (line) => console.error(line),
};

/** Ends a command on an error: warns its one line and returns its exit code. */
export function reportFailure(output: CommandOutput, error: unknown): number {
  const { code, line } = failureOf(error);
  output.warn(line);
  return code;
}

/** The exit code and the one line for an error a command ends with. */
export function failureOf(error: unknown): { code: number; line: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RequestError || error instanceof PermanentError) return { code: exitCodes.usage, line: `settle: ${message}` };
  if (error instanceof WaitTimeoutError) return { code: exitCodes.timeout, line: `settle: ${message}` };
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return { code: exitCodes.failure, line: `settle: ${message}${cause}` };
}

/** Left-aligned columns, two spaces apart; cells are cut to `maxWidth`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], maxWidth = 60): string {
  const cut = (cell: string) => (cell.length > maxWidth ? `${cell.slice(0, maxWidth - 1)}…` : cell);
  const cells = [header, ...rows].map((row) => row.map(cut));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A time as "2026-11-30 07:41:03Z (in 2 d)" for people. */
export function when(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;
  const delta = time - now;
  const span = Math.abs(delta);
  const amount =
    span < 60_000
      ? `${Math.round(span / 1000)} s`
      : span < 3_600_000
        ? `${Math.round(span / 60_000)} min`
        : span < 86_400_000
          ? `${Math.round(span / 3_600_000)} h`
          : `${Math.round(span / 86_400_000)} d`;
  return `${iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')} (${delta >= 0 ? `in ${amount}` : `${amount} ago`})`;
}
