import type { Checkout, Customer } from "@shopify/web-pixels-extension";
import {
  normalizeEmail,
  normalizeExternalId,
  normalizeName,
  numericId,
} from "../../../app/core/wire";
import { normalizePhone } from "./hash";

// A known shopper's match keys, normalised here and hashed before they leave the browser (decisions 109): the
// logged-in customer's (`init.data.customer`), and the checkout's, which win as what the order will carry.

export type ShopperField = "em" | "ph" | "fn" | "ln" | "external_id";
export type ShopperValues = Partial<Record<ShopperField, string>>;

export function shopperValues(
  customer: Partial<Customer> | null | undefined,
  checkout: Checkout | null | undefined,
): ShopperValues {
  const c = checkout;
  const address = c?.billingAddress ?? c?.shippingAddress;
  const candidates: Record<ShopperField, (string | null)[]> = {
    em: [normalizeEmail(c?.email), normalizeEmail(customer?.email)],
    ph: [
      normalizePhone(c?.phone),
      normalizePhone(c?.smsMarketingPhone),
      normalizePhone(c?.shippingAddress?.phone),
      normalizePhone(c?.billingAddress?.phone),
      normalizePhone(customer?.phone),
    ],
    fn: [nameOf(address?.firstName), nameOf(customer?.firstName)],
    ln: [nameOf(address?.lastName), nameOf(customer?.lastName)],
    external_id: [idOf(c?.order?.customer?.id), idOf(customer?.id)],
  };
  const out: ShopperValues = {};
  for (const field of Object.keys(candidates) as ShopperField[]) {
    const value = candidates[field].find((v) => v !== null);
    if (value) out[field] = value;
  }
  return out;
}

function nameOf(value: string | null | undefined): string | null {
  return typeof value === "string" ? normalizeName(value) : null;
}

/** The customer id as the server's orders carry it: the digits of Shopify's id. */
function idOf(id: string | null | undefined): string | null {
  const digits = numericId(id);
  return digits ? normalizeExternalId(digits) : null;
}
