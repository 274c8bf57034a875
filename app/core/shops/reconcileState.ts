import type { Db } from "../db";
import { asJson } from "../outbox";

// The Shop row's reconciliation columns (decisions 76, 78): the watermark, the run's lease, the last run, and the
// merchant's 7-day backfill with its progress.

/** The merchant's backfill after Connect, as the worker records its progress. */
export interface Backfill {
  requestedAt: string;
  /** Shopify's count of the period's orders, once known. */
  total: number | null;
  done: number;
  recovered: number;
  finishedAt: string | null;
  error: string | null;
}

/**
 * Takes the shop for one run, unless another process holds it or ran it since `seenReconciledAt` was read:
 * several dispatchers on one database run each shop once per period.
 */
export async function claimReconcile(
  db: Db,
  shop: { id: string; reconciledAt: Date | null },
  now: Date,
  leaseMs: number,
): Promise<boolean> {
  const { count } = await db.shop.updateMany({
    where: {
      id: shop.id,
      reconciledAt: shop.reconciledAt,
      OR: [{ reconcileLeaseUntil: null }, { reconcileLeaseUntil: { lt: now } }],
    },
    data: { reconcileLeaseUntil: new Date(now.getTime() + leaseMs) },
  });
  return count === 1;
}

/** The run still going holds its shop a while longer (after each page), so no other process starts it again. */
export async function extendReconcileLease(
  db: Db,
  shopId: string,
  until: Date,
): Promise<void> {
  await db.shop.updateMany({
    where: { id: shopId, reconcileLeaseUntil: { not: null } },
    data: { reconcileLeaseUntil: until },
  });
}

/** Orders updated up to `through` are in: the watermark only moves forward. */
export async function advanceWatermark(
  db: Db,
  shopId: string,
  through: Date,
): Promise<void> {
  await db.shop.updateMany({
    where: {
      id: shopId,
      OR: [{ reconciledThrough: null }, { reconciledThrough: { lt: through } }],
    },
    data: { reconciledThrough: through },
  });
}

/** The run is over: when, and its error (null when it went through); the lease is given back. */
export async function finishReconcile(
  db: Db,
  shopId: string,
  now: Date,
  error: string | null,
): Promise<void> {
  await db.shop.update({
    where: { id: shopId },
    data: {
      reconciledAt: now,
      reconcileError: error,
      reconcileLeaseUntil: null,
    },
  });
}

/** The backfill the merchant asked for and the worker has not finished. */
export function pendingBackfill(shop: { backfill: unknown }): Backfill | null {
  const b = shop.backfill as Backfill | null;
  return b?.requestedAt && !b.finishedAt ? b : null;
}

/**
 * The merchant asks for the backfill (decisions 79). One at a time: while one is waiting or running, asking again
 * changes nothing and returns it.
 */
export async function requestBackfill(
  db: Db,
  shop: { id: string; backfill: unknown },
  now: Date,
): Promise<Backfill> {
  const current = pendingBackfill(shop);
  if (current) return current;
  const backfill: Backfill = {
    requestedAt: now.toISOString(),
    total: null,
    done: 0,
    recovered: 0,
    finishedAt: null,
    error: null,
  };
  await saveBackfill(db, shop.id, backfill);
  return backfill;
}

export async function saveBackfill(
  db: Db,
  shopId: string,
  backfill: Backfill,
): Promise<void> {
  await db.shop.update({
    where: { id: shopId },
    data: { backfill: asJson(backfill) },
  });
}
