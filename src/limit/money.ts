/**
 * Money as whole micro-dollars (1 USD = 1,000,000): exact decimal arithmetic with plain
 * integers, the same in JavaScript and in Redis's Lua (whose numbers are doubles, exact
 * up to 2^53 µUSD ≈ 9 billion USD — the schema caps amounts far below that).
 */
export const MICROS_PER_USD = 1_000_000;

/** The largest amount the schema accepts: 1 billion USD. */
export const MAX_USD_MICROS = 1_000_000_000 * MICROS_PER_USD;

const USD = /^(\d{1,10})(?:\.(\d{1,6}))?$/;

/** `"500.00"` → 500000000; `undefined` when the text is not a plain decimal with at most 6 places. */
export function parseUsd(text: string): number | undefined {
  const match = USD.exec(text);
  if (!match) return undefined;
  const micros = Number(match[1]) * MICROS_PER_USD + Number((match[2] ?? '').padEnd(6, '0'));
  return micros <= MAX_USD_MICROS ? micros : undefined;
}

/** 499950000 → `"499.95"`: at least two decimals, no trailing zeros beyond them. */
export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(micros));
  const whole = Math.floor(abs / MICROS_PER_USD);
  const fraction = String(abs % MICROS_PER_USD)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}${whole}.${fraction.padEnd(2, '0')}`;
}
