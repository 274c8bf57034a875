import { numericId } from "../wire";

// A webhook's HMAC covers its body, not its headers: a captured signed body can be replayed under another shop's
// X-Shopify-Shop-Domain. Where the body names its shop, that must be the header's shop (decisions 35).

/** What the app knows of the header's shop (nothing when it is not installed). */
export interface KnownShop {
  /** Shopify's numeric shop id, as text (decisions 34). */
  shopifyId: string | null;
}

const MYSHOPIFY = ".myshopify.com";

/**
 * Why the body is another shop's than `domain` (the X-Shopify-Shop-Domain header), or null when it agrees or says
 * nothing of its shop. `topic` as in X-Shopify-Topic. Reasons name fields, never values.
 */
export function otherShopReason(
  topic: string,
  body: unknown,
  domain: string,
  shop: KnownShop | null,
): string | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  const header = domain.toLowerCase();
  const knownId = shop?.shopifyId ?? null;
  const idDiffers = (raw: unknown) =>
    knownId !== null && raw != null && numericId(raw) !== knownId;
  const domainDiffers = (raw: unknown) =>
    typeof raw === "string" && raw.trim().toLowerCase() !== header;

  if (
    topic === "shop/redact" ||
    topic === "customers/redact" ||
    topic === "customers/data_request"
  ) {
    if (domainDiffers(b.shop_domain))
      return "the body's shop_domain is another shop than X-Shopify-Shop-Domain";
    if (idDiffers(b.shop_id)) return "the body's shop_id is another shop's";
    return null;
  }
  if (topic === "shop/update" || topic === "app/uninstalled") {
    // Their body is the shop itself.
    if (domainDiffers(b.myshopify_domain))
      return "the body's myshopify_domain is another shop than X-Shopify-Shop-Domain";
    if (idDiffers(b.id)) return "the body's shop id is another shop's";
    return null;
  }
  if (topic === "app_subscriptions/update") {
    const subscription = b.app_subscription as Record<string, unknown> | null;
    if (idDiffers(subscription?.admin_graphql_api_shop_id))
      return "the body's admin_graphql_api_shop_id is another shop's";
    return null;
  }
  if (topic.startsWith("orders/"))
    return orderStatusUrlReason(b.order_status_url, header, knownId);
  return null;
}

/**
 * An order's status page is https://<shop's domain>/<shop id>/orders/<token>/authenticate?key=…: the id, when known,
 * decides; without it, a *.myshopify.com host other than the header's. A custom domain alone proves nothing (a shop
 * may have several), so without a known id it is not held against the order.
 */
function orderStatusUrlReason(
  raw: unknown,
  header: string,
  knownId: string | null,
): string | null {
  if (typeof raw !== "string") return null;
  const match = /^https?:\/\/([^/?#:]+)(?::\d+)?\/(\d+)\//i.exec(raw.trim());
  if (!match) return null;
  const host = match[1].toLowerCase();
  if (knownId !== null)
    return numericId(match[2]) === knownId
      ? null
      : "the order_status_url is another shop's (its shop id)";
  if (host.endsWith(MYSHOPIFY) && host !== header)
    return "the order_status_url is on another shop's myshopify.com domain";
  return null;
}

const HOST =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** A storefront host as Shopify reports it (primaryDomain.host, shop/update's `domain`), lower-cased; else null. */
export function storefrontHost(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  const host = raw.trim().toLowerCase();
  return HOST.test(host) ? host : null;
}
