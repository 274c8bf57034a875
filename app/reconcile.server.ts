import { ApiVersion } from "@shopify/shopify-app-remix/server";
import prisma, { outbox, shopSql } from "./db.server";
import {
  AdminApiError,
  AdminClient,
  countOrders,
  createdSince,
  Reconciler,
} from "./core/reconcile";
import { config, keyRing } from "./runtime.server";
import { EncryptedSessionStorage } from "./sessionStorage.server";

// Reconciliation with Shopify (decisions 76) in the dispatcher's process or the worker: every connected shop's
// orders are read back with its offline session, and the merchant's backfill runs here too (decisions 78).

/** The Admin API version of the app (shopify.server.ts configures Shopify's library with it). */
export const ADMIN_API_VERSION = ApiVersion.October26;

/** The shop's Admin API with its offline session (Shopify's sessions, decrypted: decisions 46, 47). */
export async function adminClientFor(
  domain: string,
  limits: { timeoutMs?: number; maxAttempts?: number } = {},
): Promise<AdminClient> {
  const session = await new EncryptedSessionStorage(
    prisma,
    keyRing,
  ).loadSession(`offline_${domain}`);
  if (!session?.accessToken)
    throw new AdminApiError(
      `no Shopify session for ${domain}: it comes back when the merchant opens the app`,
    );
  return new AdminClient({
    shop: domain,
    accessToken: session.accessToken,
    apiVersion: ADMIN_API_VERSION,
    ...limits,
  });
}

/** Shopify's count of the shop's orders for the home page, or why there is none (decisions 80). */
export type ShopifyOrderCount =
  | { count: number; since: string; checkedAt: string }
  | { count: null; error: string };

/** A count is read again after this long; a failure is retried sooner, the page meanwhile shows the webhooks'. */
const COUNT_TTL_MS = 5 * 60_000;
const COUNT_FAILURE_TTL_MS = 60_000;
/** The most a page load waits for Shopify; a throttled answer is not waited for. */
const COUNT_TIMEOUT_MS = 2_000;
const orderCounts = new Map<
  string,
  { at: number; value: Promise<ShopifyOrderCount> }
>();

/**
 * The shop's orders created in the period `key` (since `since`), from Shopify's ordersCount with the offline session,
 * kept in this process for a few minutes per shop and period so a page load rarely waits for Shopify (decisions 80).
 * Never throws: a failure is the reason the page shows.
 */
export function shopifyOrderCount(
  domain: string,
  key: string,
  since: Date,
  now = new Date(),
): Promise<ShopifyOrderCount> {
  const cacheKey = `${domain} ${key}`;
  const cached = orderCounts.get(cacheKey);
  if (cached && now.getTime() < cached.at) return cached.value;
  const value = adminClientFor(domain, {
    timeoutMs: COUNT_TIMEOUT_MS,
    maxAttempts: 1,
  })
    .then((admin) => countOrders(admin, createdSince(since)))
    .then(
      (count): ShopifyOrderCount => ({
        count,
        since: since.toISOString(),
        checkedAt: now.toISOString(),
      }),
      (err: Error): ShopifyOrderCount => {
        orderCounts.set(cacheKey, {
          at: now.getTime() + COUNT_FAILURE_TTL_MS,
          value,
        });
        return { count: null, error: err.message };
      },
    );
  orderCounts.set(cacheKey, { at: now.getTime() + COUNT_TTL_MS, value });
  return value;
}

export function reconcileDeps() {
  return {
    db: prisma,
    outbox: outbox(),
    shops: shopSql(),
    holdSeconds: config().purchaseHoldSeconds,
  };
}

/** Started beside the dispatcher (DISPATCHER_IN_PROCESS, or `npm run worker`); RECONCILE_INTERVAL_SECONDS=0 turns it off. */
export function startReconciler(): Reconciler {
  const reconciler = new Reconciler({
    ...reconcileDeps(),
    intervalMs: config().reconcileIntervalSeconds * 1000,
    adminFor: adminClientFor,
  });
  reconciler.start();
  return reconciler;
}
