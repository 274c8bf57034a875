// The event_id rules shared by the server and the web pixel (which bundles this file), so Meta can
// deduplicate the two paths. Dependency-free on purpose.

/** Trailing digits of a Shopify id: `gid://shopify/OrderIdentity/123` and `"123"` and `123` all give "123". */
export function numericId(id: unknown): string | null {
  if (typeof id === "number")
    return Number.isSafeInteger(id) && id > 0 ? integerText(id) : null;
  if (typeof id !== "string") return null;
  const digits = trailingDigits(id);
  if (!digits) return null;
  // Leading zeros go, the last digit stays ("007" -> "7", "000" -> "0").
  let start = 0;
  while (start < digits.length - 1 && digits.charCodeAt(start) === ZERO)
    start++;
  return digits.slice(start);
}

/** The one Purchase event_id rule: `purchase_<numeric order id>`. */
export function purchaseEventId(orderId: unknown): string | null {
  const id = numericId(orderId);
  return id ? `purchase_${id}` : null;
}

/**
 * String(n) of a safe positive integer. The one speed trick of wire/ (decisions 51): the web pixel bundles this
 * folder, so it cannot live in core/fast; test/unit/fast.test.ts proves it equal to String(n).
 */
export function integerText(n: number): string {
  // Beyond the small-integer range V8 formats n as a double, ~180 ns whenever its number-string cache misses
  // (every new Shopify id); two halves below 10^9 are small integers, formatted in a fraction of that
  // (npm run bench, mapping).
  if (n < 1e9) return String(n);
  const low = n % 1e9; // exact, as is the division of what remains
  return `${(n - low) / 1e9}${String(low).padStart(9, "0")}`;
}

const ZERO = 48;
const NINE = 57;

/** The run of ASCII digits that ends `s`, trailing whitespace aside; null when it does not end with one. */
export function trailingDigits(s: string): string | null {
  // Scanned from the end: the plain regex /\d+\s*$/ backtracks quadratically on a long run of digits that is not
  // at the end (50,000 digits: 2 s), and a webhook field has no length cap.
  const end = s.trimEnd().length;
  let start = end;
  while (start > 0) {
    const c = s.charCodeAt(start - 1);
    if (c < ZERO || c > NINE) break;
    start--;
  }
  return start === end ? null : s.slice(start, end);
}
