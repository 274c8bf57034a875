import prisma from "./db.server";
import type { Db } from "./capi/db";
import { ensureShop } from "./capi/shopConfig";
import { adminQuery, syncWebPixel, type AdminGraphql } from "./webPixel.server";

const SHOP_EMAIL = `#graphql
  query ShopEmail { shop { email } }`;

/** After OAuth / token exchange: the shop row exists (with its ingest key), its web pixel is in place, and its e-mail is known. */
export async function onInstalled(domain: string, scope: string | null, graphql: AdminGraphql): Promise<void> {
  const shop = await ensureShop(prisma, domain, scope);
  const res = await syncWebPixel(shop, graphql);
  if (!res.ok) console.warn(`[install] ${domain}: web pixel not activated: ${res.error}`);
  await recordContactEmail(prisma, shop.id, graphql);
}

/** The shop's e-mail, where the pause notice goes (SMTP_URL). Without it the app works as before: no notice. */
export async function recordContactEmail(db: Db, shopId: string, graphql: AdminGraphql): Promise<void> {
  try {
    const { shop } = await adminQuery<{ shop: { email: string | null } | null }>(graphql, SHOP_EMAIL);
    const email = shop?.email?.trim() || null;
    await db.shop.update({ where: { id: shopId }, data: { contactEmail: email } });
  } catch (err) {
    console.warn(`[install] shop ${shopId}: its e-mail could not be read, so no pause notice can be sent: ${(err as Error).message}`);
  }
}
