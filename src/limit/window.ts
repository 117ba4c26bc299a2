/**
 * Budget windows: fixed spans aligned to the Unix epoch (`1m`, `1h`, `1d`, `30d`, any
 * whole number of s, m, h or d), or the calendar `month` in UTC. A window is identified by
 * its start, which names its counter; the counter expires after the window's end.
 */
export type WindowSpec = { readonly kind: 'fixed'; readonly ms: number; readonly text: string } | { readonly kind: 'month'; readonly text: 'month' };

export interface Window {
  readonly start: number;
  readonly end: number;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const FIXED = /^([1-9]\d{0,5})(s|m|h|d)$/;

export function parseWindow(text: string): WindowSpec | undefined {
  if (text === 'month') return { kind: 'month', text };
  const match = FIXED.exec(text);
  if (!match) return undefined;
  return { kind: 'fixed', ms: Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS], text };
}

export function windowAt(spec: WindowSpec, now: number): Window {
  if (spec.kind === 'fixed') {
    const start = now - (now % spec.ms);
    return { start, end: start + spec.ms };
  }
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

/** The span of one window: what a token bucket refills over, and the longest a counter is kept. */
export function windowLength(spec: WindowSpec): number {
  return spec.kind === 'fixed' ? spec.ms : 31 * UNIT_MS.d;
}
