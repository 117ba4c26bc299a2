const UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h)$/;

/** `"250ms"`, `"30s"`, `"5m"`, `"1h"` → milliseconds, or `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * UNITS_MS[match[2] as keyof typeof UNITS_MS];
}
