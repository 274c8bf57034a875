/**
 * `Math.round(Number((amount * 100).toPrecision(15))) / 100`: two decimals without binary noise (1.005 -> 1.01,
 * 0.1 + 0.2 -> 0.3). Almost every amount is whole cents already ("112.44" * 100 is within float noise of 11244),
 * and then toPrecision, ~1 µs a call, is skipped (npm run bench, mapping; decisions 51).
 */
export function roundMoney(amount: number): number {
  const cents = amount * 100;
  const whole = Math.round(cents);
  if (Math.abs(cents - whole) < 1e-7) return whole / 100;
  return Math.round(Number(cents.toPrecision(15))) / 100;
}
