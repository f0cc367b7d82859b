import { RequestError } from './errors.ts';

/** `30s`, `2m`, `500ms`, `1h`, `7d`, or a number of seconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const value = match ? Number(match[1]) * unit[(match[2] as keyof typeof unit | undefined) ?? 's'] : Number.NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new RequestError('invalid-option', `${flag} must be a duration such as 30s, 2m or 500ms, got '${text}'.`);
  }
  return Math.round(value);
}
