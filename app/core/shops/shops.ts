import type { Db, Prisma, Shop } from "../db";
import type { SqlStore, WriteStatement } from "../outbox";

// The writes of the Shop table that are not the connection's or the settings' (shopConfig.ts): what install, the
// app's webhooks, the web pixel's activation, delivery and shop/redact record. Every other folder calls these.

/** The largest order value per currency (decisions 40): raised for every order, in prepared SQL (decisions 56). */
export const RAISE_LARGEST_ORDER: WriteStatement = {
  name: "raiseLargestOrder",
  sqlite:
    `UPDATE "Shop" SET "largestOrderValues" = json_set(COALESCE("largestOrderValues", '{}'), '$.' || @currency, @value) ` +
    `WHERE "id" = @shopId AND COALESCE(json_extract("largestOrderValues", '$.' || @currency), 0) < @value`,
  postgresql: (table) =>
    `UPDATE ${table("Shop")} SET "largestOrderValues" = COALESCE("largestOrderValues", '{}'::jsonb) || jsonb_build_object($1::text, $2::float8) ` +
    `WHERE "id" = $3 AND COALESCE(("largestOrderValues" ->> $1::text)::float8, 0) < $2::float8`,
  params: ["currency", "value", "shopId"],
};

/** The shops' statements of the order webhook, prepared on the intake store's connection (one per store). */
export class ShopSql {
  private readonly raise: (values: Record<string, unknown>) => Promise<void>;

  constructor(store: SqlStore) {
    this.raise = store.prepareWrite(RAISE_LARGEST_ORDER);
  }

  /** Raises the shop's largest order value in this currency to `value` when it is larger (decisions 40). */
  raiseLargestOrder(
    shopId: string,
    currency: string,
    value: number,
  ): Promise<void> {
    return this.raise({ shopId, currency, value });
  }
}

/** One shop's row, by id. */
async function update(
  db: Db,
  shopId: string,
  data: Prisma.ShopUpdateInput,
): Promise<void> {
  await db.shop.update({ where: { id: shopId }, data });
}

/** app/uninstalled: sending stops at once; the pixel is gone with the app. */
export async function markUninstalled(
  db: Db,
  shopId: string,
  at: Date,
): Promise<void> {
  await update(db, shopId, { uninstalledAt: at, webPixelId: null });
}

/** app/scopes_update: the scopes the merchant granted. */
export async function recordScope(
  db: Db,
  domain: string,
  scope: string,
): Promise<void> {
  await db.shop.updateMany({ where: { domain }, data: { scope } });
}

/**
 * What Shopify says of the shop (decisions 34): its e-mail (the pause notice's address), its id, its primary domain.
 * A field left undefined keeps what is known.
 */
export async function recordIdentity(
  db: Db,
  shopId: string,
  identity: Partial<
    Pick<Shop, "contactEmail" | "shopifyId" | "primaryDomain" | "salesCountry">
  >,
): Promise<void> {
  await update(db, shopId, identity);
}

/** The outcome of the web pixel's activation, for the admin (decisions 18). */
export async function recordWebPixel(
  db: Db,
  shopId: string,
  outcome: Partial<
    Pick<Shop, "webPixelId" | "webPixelSyncedAt" | "webPixelError">
  >,
): Promise<void> {
  await update(db, shopId, outcome);
}

/**
 * The setup guide's test-event step (decisions 116): Meta accepted an event sent under a Test Events code. Kept
 * from the first such delivery, so the step stays done once the code is gone.
 */
export async function noteTestEventSent(
  db: Db,
  shopId: string,
  at: Date,
): Promise<void> {
  await db.shop.updateMany({
    where: { id: shopId, testEventSentAt: null },
    data: { testEventSentAt: at },
  });
}

/** Pauses sending for what only the merchant can fix; the events are kept (decisions 20). */
export async function pauseSending(
  db: Db,
  shopId: string,
  reason: string,
  detail: string,
  at: Date,
): Promise<void> {
  await update(db, shopId, {
    pausedReason: reason,
    pausedDetail: detail.slice(0, 500),
    pausedAt: at,
  });
}

/**
 * shop/redact: the delete of the shop's row, run in the caller's transaction. deleteMany, not a lookup then delete:
 * of two deliveries at once (a retry), the second must not fail.
 */
export function deleteShop(
  db: Db,
  domain: string,
): Prisma.PrismaPromise<Prisma.BatchPayload> {
  return db.shop.deleteMany({ where: { domain } });
}
