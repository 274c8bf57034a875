import type { IntakeContext, Outbox } from "../outbox";
import type { ShopSettings } from "../reference";
import {
  SHOPPER_KEYS,
  type CapiEvent,
  type ShopperKeys,
  type UserData,
} from "../wire";
import { readConsent } from "./release";

// Known shoppers (decisions 109): the browser that checked out an order carries the order's hashed match keys on
// its later events, for the shop's retention period, and only while its shopper allows marketing.

/** The shopper's keys among an event's user_data (hashes), or null when it has none. */
function shopperKeysOf(user: UserData): ShopperKeys | null {
  const keys: ShopperKeys = {};
  for (const key of SHOPPER_KEYS) if (user[key]?.length) keys[key] = user[key];
  return Object.keys(keys).length > 0 ? keys : null;
}

/**
 * A Purchase that goes to Meta with its browser's context, with marketing consent: its browser is linked to the
 * order's shopper. A suppressed one, or one without a browser, links nothing.
 */
export async function linkShopper(
  outbox: Outbox,
  shopId: string,
  ctx: IntakeContext | null,
  released: { status: string; payload?: unknown; consent?: unknown },
  now: Date,
): Promise<void> {
  if (!ctx?.clientId || released.status !== "pending" || !released.payload)
    return;
  if (readConsent(released.consent ?? ctx.consent)?.marketingAllowed !== true)
    return;
  const keys = shopperKeysOf((released.payload as CapiEvent).user_data);
  if (keys) await outbox.linkShopper(shopId, ctx.clientId, keys, now);
}

/**
 * A storefront event of a linked browser, posted with marketing consent, gets the keys of its shopper that it
 * lacks: what the browser sent itself (a logged-in shopper's, hashed in the browser) stays as it is.
 */
export async function withShopperKeys(
  outbox: Outbox,
  shopId: string,
  settings: ShopSettings,
  event: { clientId: string | null; marketingAllowed: boolean },
  user: UserData,
  now: Date,
): Promise<UserData> {
  if (!event.clientId || !event.marketingAllowed) return user;
  const since = new Date(now.getTime() - settings.retentionDays * 86_400_000);
  const keys = await outbox.shopperKeys(shopId, event.clientId, since);
  if (!keys) return user;
  const out = { ...user };
  for (const key of SHOPPER_KEYS)
    if (!out[key]?.length && keys[key]?.length) out[key] = keys[key];
  return out;
}
