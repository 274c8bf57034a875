// The event_id rules shared by the server and the web pixel (which bundles this file), so Meta can
// deduplicate the two paths. Dependency-free on purpose.

/** Trailing digits of a Shopify id: `gid://shopify/OrderIdentity/123` and `"123"` and `123` all give "123". */
export function numericId(id: unknown): string | null {
  if (typeof id === "number") return Number.isSafeInteger(id) && id > 0 ? String(id) : null;
  if (typeof id !== "string") return null;
  const match = /(\d+)\s*$/.exec(id.trim());
  return match ? match[1].replace(/^0+(?=\d)/, "") : null;
}

/** The one Purchase event_id rule: `purchase_<numeric order id>`. */
export function purchaseEventId(orderId: unknown): string | null {
  const id = numericId(orderId);
  return id ? `purchase_${id}` : null;
}
