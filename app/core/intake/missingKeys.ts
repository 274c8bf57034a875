import { addMissingKey, type MissingReason } from "../outbox";
import { SHOPPER_KEYS, type MatchKey, type UserData } from "../wire";
import type { MatchKeyValues } from "./normalize";

// Why each match key an event lacks is missing (decisions 150), found where its user_data is built and kept in
// `OutboxEvent.missingKeys`. A complete order costs nothing here: only the keys it lacks are looked at.

/**
 * The shopper's keys an order's user_data lacks (`missing`, as `hashMatchKeys` left them, out of all the order's
 * candidates `keys`), with their reasons. A key with a value that normalisation dropped is `invalid`. A buyer's
 * checkout always has an e-mail or a phone (Shopify asks for one), so one carrying neither had its customer data
 * removed by Shopify: its missing keys are `redacted` (Level 2 access not granted), except the customer id, which
 * Level 1 gives (decisions 151). Any other missing key was `absent` from the order.
 */
export function orderShopperKeysMissing(
  missing: readonly MatchKeyValues[],
  keys: readonly MatchKeyValues[],
  buyerCheckout: boolean,
): string {
  if (missing.length === 0) return "";
  const redacted = buyerCheckout && !hasContact(keys);
  let text = "";
  for (let k = 0; k < missing.length; k++) {
    const key = missing[k][0] as MatchKey;
    text = addMissingKey(
      text,
      key,
      hasRawValue(missing[k][1])
        ? "invalid"
        : redacted && key !== "external_id"
          ? "redacted"
          : "absent",
    );
  }
  return text;
}

/** Whether the order carries an e-mail or a phone, usable or not. */
function hasContact(keys: readonly MatchKeyValues[]): boolean {
  for (let k = 0; k < keys.length; k++)
    if ((keys[k][0] === "em" || keys[k][0] === "ph") && hasRawValue(keys[k][1]))
      return true;
  return false;
}

/** Adds a browser key (fbp, fbc, IP address, user agent) that an order lacks, with its reason; none when it has it. */
export function withBrowserKey(
  text: string,
  key: "fbp" | "fbc" | "client_ip_address" | "client_user_agent",
  value: string | null | undefined,
  raw: string | null | undefined,
  hasBrowser: boolean,
): string {
  if (value) return text;
  const reason: MissingReason = !hasBrowser
    ? "no_browser"
    : raw?.trim()
      ? "invalid"
      : "absent";
  return addMissingKey(text, key, reason);
}

/**
 * A storefront event's missing keys: every one is `absent` (the visitor was not logged in and had not ordered from
 * this browser, had no cookie, or came from no ad click); the pixel hashes in the browser, so nothing is dropped here.
 */
export function storefrontKeysMissing(
  userData: UserData,
  clientIp: string | null,
  clientUserAgent: string | null,
): string {
  let text = "";
  for (const key of SHOPPER_KEYS)
    if (!userData[key]?.length) text = addMissingKey(text, key, "absent");
  if (!userData.fbp) text = addMissingKey(text, "fbp", "absent");
  if (!userData.fbc) text = addMissingKey(text, "fbc", "absent");
  if (!clientIp) text = addMissingKey(text, "client_ip_address", "absent");
  if (!clientUserAgent)
    text = addMissingKey(text, "client_user_agent", "absent");
  return text;
}

function hasRawValue(candidates: MatchKeyValues[1]): boolean {
  for (let i = 0; i < candidates.length; i++) {
    const raw = candidates[i][0];
    if (raw != null && (typeof raw !== "string" || raw.trim() !== ""))
      return true;
  }
  return false;
}
