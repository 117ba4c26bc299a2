/**
 * Exact amounts of money as BigInt pico-dollars (1 USD = 10^12): a token's price is a
 * price per million tokens with at most 6 decimal places (limit/money.ts's micro-dollars),
 * so one token costs a whole number of pico-dollars and every sum of costs is exact —
 * no float, no rounding, however many calls are added up.
 */
import { MICROS_PER_USD } from '../limit/money.ts';

export const PLACES = 12;
export const PICOS_PER_USD = 10n ** BigInt(PLACES);
export const PICOS_PER_MICRO = PICOS_PER_USD / BigInt(MICROS_PER_USD);

/** 375000000n → "0.000375"; 12000000000000n → "12": no exponent, no trailing zeros. */
export function formatExactUsd(picos: bigint): string {
  const sign = picos < 0n ? '-' : '';
  const abs = picos < 0n ? -picos : picos;
  const whole = abs / PICOS_PER_USD;
  const fraction = (abs % PICOS_PER_USD).toString().padStart(PLACES, '0').replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

const DECIMAL = new RegExp(`^(-?)(\\d{1,15})(?:\\.(\\d{1,${PLACES}}))?$`);

/** "0.000375" → 375000000n; undefined when not a plain decimal with at most 12 places. */
export function parseExactUsd(text: string): bigint | undefined {
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const picos = BigInt(match[2]!) * PICOS_PER_USD + BigInt((match[3] ?? '').padEnd(PLACES, '0'));
  return match[1] ? -picos : picos;
}

/** Whole micro-dollars, rounded up: what a limit charges, never less than the cost. */
export function microsOf(picos: bigint): number {
  const micros = (picos + PICOS_PER_MICRO - 1n) / PICOS_PER_MICRO;
  return micros > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(micros);
}
