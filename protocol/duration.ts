/**
 * Durations as admins type them: `900s`, `15m`, `12h`, `30d`, `2w`, or a plain `0` where zero has
 * a meaning (lockout until unlocked). Returns whole seconds, or null when the text is not one.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  const m = /^([0-9]{1,9})([smhdw])$/.exec(text);
  if (!m) return null;
  const value = Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
  return Number.isSafeInteger(value) ? value : null;
}

/** The shortest exact text for a number of seconds (`900` → `15m`). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0';
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit] as number;
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
