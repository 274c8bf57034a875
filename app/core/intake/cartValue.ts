import type { CustomData } from "../wire";

// What a browser event's money may reach (decisions 40). The pixel endpoint is public, so a value is only as good
// as what the shop's own signed orders show a cart can hold: three times the largest order seen in that currency,
// or 100,000 before the shop has had an order in it. Past that, the event goes without value and item prices.

/** The largest order value per currency of the shop's signed order webhooks (Shop.largestOrderValues). */
export type LargestOrders = Record<string, number>;

const CART_HEADROOM = 3;
const DEFAULT_CEILING = 100_000;
const CURRENCY = /^[A-Z]{3}$/;

export function largestOrders(stored: unknown): LargestOrders {
  return stored && typeof stored === "object" && !Array.isArray(stored)
    ? (stored as LargestOrders)
    : {};
}

/** The order's value when it is the largest of its currency so far (a test order teaches nothing), else null. */
export function newLargestOrder(
  largest: LargestOrders,
  custom: CustomData | undefined,
  test: boolean,
): { currency: string; value: number } | null {
  if (
    test ||
    custom?.value === undefined ||
    !custom.currency ||
    !CURRENCY.test(custom.currency)
  )
    return null;
  return custom.value > (largest[custom.currency] ?? 0)
    ? { currency: custom.currency, value: custom.value }
    : null;
}

/** The event's money, or, past what a cart of the shop can hold, the same without value and item prices. */
export function cartBoundedMoney(
  custom: CustomData | undefined,
  largest: LargestOrders,
): CustomData | undefined {
  if (!custom) return custom;
  const known = custom.currency ? largest[custom.currency] : undefined;
  const ceiling =
    typeof known === "number" ? known * CART_HEADROOM : DEFAULT_CEILING;
  let lines = 0;
  for (const c of custom.contents ?? [])
    lines += (c.item_price ?? 0) * c.quantity;
  if ((custom.value ?? 0) <= ceiling && lines <= ceiling) return custom;
  const { value: _value, ...rest } = custom;
  if (rest.contents)
    rest.contents = rest.contents.map(
      ({ item_price: _price, ...line }) => line,
    );
  return rest;
}
