import prisma from "./db.server";
import { ensureShop } from "./capi/shopConfig";
import { syncWebPixel, type AdminGraphql } from "./webPixel.server";

/** After OAuth / token exchange: the shop row exists (with its ingest key) and its web pixel is in place. */
export async function onInstalled(domain: string, scope: string | null, graphql: AdminGraphql): Promise<void> {
  const shop = await ensureShop(prisma, domain, scope);
  const res = await syncWebPixel(shop, graphql);
  if (!res.ok) console.warn(`[install] ${domain}: web pixel not activated: ${res.error}`);
}
