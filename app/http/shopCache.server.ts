import { sqlStore } from "../db.server";
import { largestOrders, type LargestOrders } from "../core/intake";
import type { IntakeShop } from "../core/outbox";
import { parseSettings, type ShopSettings } from "../core/reference";
import { publish, subscribe } from "../redis.server";

// The pixel endpoint's shop lookups (with their parsed settings), cached briefly: it sees every page view of every
// storefront. A write of what it reads (settings, connection, uninstall and install) calls shopChanged(): this
// process forgets the shop at once, and with REDIS_URL every other web node as the message reaches it
// (decisions 96); the 5 s bound stays for what a lost message or another writer (the largest orders) leaves.

const SHOP_CACHE_MS = 5_000;
const CHANNEL = "shop-changed";

export type KnownShop = {
  shop: IntakeShop;
  settings: ShopSettings;
  largestOrders: LargestOrders;
} | null;

const cache = new Map<string, { known: KnownShop; at: number }>();
/** Raised by every invalidation: a lookup that overlapped one is not cached (it may have read the old row). */
let generation = 0;
let listening = false;

function forget(domain: string | null): void {
  generation++;
  if (domain === null) cache.clear();
  else cache.delete(domain);
}

export async function findShop(domain: string): Promise<KnownShop> {
  if (!listening) {
    listening = true;
    // Each time the subscription is (again) in place, what was cached before may have missed a message.
    subscribe(CHANNEL, forget, () => forget(null));
  }
  const hit = cache.get(domain);
  if (hit && Date.now() - hit.at < SHOP_CACHE_MS) return hit.known;
  const seen = generation;
  const shop = await sqlStore().findShop(domain);
  const known = shop && {
    shop,
    settings: parseSettings(shop.settings),
    largestOrders: largestOrders(shop.largestOrderValues),
  };
  if (generation !== seen) return known;
  if (cache.size > 10_000) cache.clear();
  cache.set(domain, { known, at: Date.now() });
  return known;
}

/** After a write of the Shop row of `domain` that the pixel endpoint reads. */
export async function shopChanged(domain: string): Promise<void> {
  forget(domain);
  await publish(CHANNEL, domain);
}
