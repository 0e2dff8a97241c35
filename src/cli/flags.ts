// Numbers given as command-line flags. `Number("10m")` is NaN, and JSON.stringify(NaN) sends
// null, which the API reads as "not set" (no timeout, no deadline): every numeric flag goes
// through numberFlag, which refuses anything but a plain finite number in the flag's range and
// says which flag, what was given, and a value that would do.
import { CliError } from './client.ts';

/** PostgreSQL `integer`, the API's upper bound for counts and seconds. */
export const INT32_MAX = 2_147_483_647;

export interface NumberRule {
  /** A whole number only. */
  integer?: boolean;
  /** Lowest value allowed (inclusive). */
  min?: number;
  /** Lowest value, not allowed itself: `above: 0` is "> 0". */
  above?: number;
  /** Highest value allowed (inclusive). */
  max?: number;
  /** What the number counts, for the message: "seconds", "MiB", "cores". */
  unit?: string;
  /** A valid value, shown in the message (`--timeout 600`). */
  example: string;
}

/** Decimal numbers only: no hex ("0x10"), no "Infinity", no empty string. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/i;
const SECONDS_PER: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** "a whole number of seconds from 1 to 2147483647" */
export function describeRule(rule: NumberRule): string {
  let what = rule.integer ? 'a whole number' : 'a number';
  if (rule.unit) what += ` of ${rule.unit}`;
  if (rule.above !== undefined) return `${what} > ${rule.above}${rule.max !== undefined ? ` and ≤ ${rule.max}` : ''}`;
  if (rule.min !== undefined && rule.max !== undefined) return `${what} from ${rule.min} to ${rule.max}`;
  if (rule.min !== undefined) return `${what} ≥ ${rule.min}`;
  if (rule.max !== undefined) return `${what} ≤ ${rule.max}`;
  return what;
}

/**
 * The number a flag gives, or a CliError naming the flag, what was given and an example:
 * `--timeout must be a whole number of seconds from 1 to 2147483647, got "10m" (10m is 600 seconds: --timeout 600)`.
 */
export function numberFlag(flag: string, raw: unknown, rule: NumberRule): number {
  const given = String(raw);
  const text = given.trim();
  const n = DECIMAL.test(text) ? Number(text) : NaN;
  if (fits(n, rule)) return n;
  throw new CliError(`${flag} must be ${describeRule(rule)}, got "${given}" (${hint(flag, text, rule)})`);
}

function fits(n: number, rule: NumberRule): boolean {
  return (
    Number.isFinite(n) &&
    (!rule.integer || Number.isInteger(n)) &&
    (rule.min === undefined || n >= rule.min) &&
    (rule.above === undefined || n > rule.above) &&
    (rule.max === undefined || n <= rule.max)
  );
}

function hint(flag: string, text: string, rule: NumberRule): string {
  const d = rule.unit === 'seconds' ? DURATION.exec(text) : null;
  if (d) {
    const seconds = Number(d[1]) * SECONDS_PER[d[2].toLowerCase()];
    const whole = rule.integer ? Math.ceil(seconds) : seconds;
    if (fits(whole, rule)) return `${text} is ${whole} seconds: ${flag} ${whole}`;
  }
  return `e.g. ${flag} ${rule.example}`;
}

