import prisma from "./db.server";
import type { Db } from "./core/db";
import { numericId } from "./core/wire";
import { ensureShop, recordIdentity } from "./core/shops";
import { storefrontHost } from "./core/intake";
import { adminQuery, syncWebPixel, type AdminGraphql } from "./webPixel.server";
import { shopChanged } from "./http/shopCache.server";

const SHOP_DETAILS = `#graphql
  query ShopDetails { shop { id email primaryDomain { host } myshopifyDomain shipsToCountries } }`;

interface ShopDetails {
  shop: {
    id: string | null;
    email: string | null;
    primaryDomain: { host: string | null } | null;
    myshopifyDomain: string | null;
    shipsToCountries: string[] | null;
  } | null;
}

/** After OAuth / token exchange: the shop row exists (with its ingest key), its web pixel is in place, and its details are known. */
export async function onInstalled(
  domain: string,
  scope: string | null,
  graphql: AdminGraphql,
): Promise<void> {
  const shop = await ensureShop(prisma, domain, scope);
  // A reinstall: the pixel endpoint takes the shop's events again.
  await shopChanged(domain);
  const res = await syncWebPixel(shop, graphql);
  if (!res.ok)
    console.warn(`[install] ${domain}: web pixel not activated: ${res.error}`);
  await recordShopDetails(prisma, shop.id, domain, graphql);
}

/**
 * The shop's e-mail (where the pause notice goes, SMTP_URL), its Shopify id and its primary domain (decisions 34),
 * and the one country it sells to, if one (decisions 66).
 * When the API fails, what was known stays: without an e-mail there is no notice; without the id and domain,
 * webhook bodies are checked by domain only and Meta gets URLs on the myshopify domain.
 */
export async function recordShopDetails(
  db: Db,
  shopId: string,
  domain: string,
  graphql: AdminGraphql,
): Promise<void> {
  try {
    const { shop } = await adminQuery<ShopDetails>(graphql, SHOP_DETAILS);
    // An answer about another shop would give this one another shop's identity.
    if (shop?.myshopifyDomain?.toLowerCase() !== domain.toLowerCase())
      throw new Error("the Admin API did not answer for this shop");
    await recordIdentity(db, shopId, {
      contactEmail: shop.email?.trim() || null,
      // undefined leaves a known value as it is.
      shopifyId: numericId(shop.id) ?? undefined,
      primaryDomain: storefrontHost(shop.primaryDomain?.host) ?? undefined,
      salesCountry: soleCountry(shop.shipsToCountries),
    });
  } catch (err) {
    console.warn(
      `[install] ${domain}: its details (e-mail, id, primary domain) could not be read: ${(err as Error).message}`,
    );
  }
}

/** The country a shop ships to when it ships to one only (Shopify's "*" stands for the rest of the world). */
function soleCountry(countries: string[] | null | undefined): string | null {
  const only = countries?.length === 1 ? countries[0].trim().toUpperCase() : "";
  return /^[A-Z]{2}$/.test(only) ? only : null;
}
