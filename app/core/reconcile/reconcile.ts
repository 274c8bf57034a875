import type { Db, Shop } from "../db";
import {
  intakeOrder,
  mapOrder,
  parseOrder,
  recordReceipt,
  type PurchaseTopic,
} from "../intake";
import type { IntakeShop, Outbox } from "../outbox";
import { parseSettings } from "../reference";
import {
  advanceWatermark,
  claimReconcile,
  extendReconcileLease,
  finishReconcile,
  pendingBackfill,
  saveBackfill,
  type Backfill,
  type ShopSql,
} from "../shops";
import { purchaseEventId } from "../wire";
import { AdminApiError, type AdminClient } from "./adminClient";
import {
  isPaid,
  lineItemsPage,
  LINE_ITEMS_QUERY,
  ordersCount,
  ORDERS_COUNT_QUERY,
  ordersPage,
  ORDERS_QUERY,
  PAGE_SIZE,
  restOrderOf,
  updatedSince,
  type OrderNode,
} from "./shopifyOrder";

// Webhooks that never arrive (decisions 76): Shopify does not guarantee delivery, so every connected shop's orders
// updated since a watermark are read back from the Admin API, page by page, and each order without a Purchase row
// goes through the webhook's own intake (same event id `purchase_<order id>`: idempotent), recorded as
// `reconciliation`. Runs in the dispatcher's process or the worker, never in a web request.

/** Read again behind the watermark: Shopify's search index may show a just-updated order late. */
const OVERLAP_MS = 10 * 60_000;
/** The first run of a shop and the merchant's backfill look this far back: Meta's window for website events. */
const LOOKBACK_MS = 7 * 86_400_000;
/** How long one run holds its shop before another process may take it; each page extends it. */
const LEASE_MS = 15 * 60_000;
/** How often the reconciler looks for a backfill a merchant asked for. */
const BACKFILL_POLL_MS = 5_000;

export interface ReconcileDeps {
  db: Db;
  outbox: Outbox;
  /** The Shop table's statement that records the largest order (decisions 40), as for a webhook. */
  shops: Pick<ShopSql, "raiseLargestOrder">;
  holdSeconds: number;
}

export interface ReconcileReport {
  shop: string;
  since: string;
  pages: number;
  /** Orders Shopify listed. */
  orders: number;
  /** Orders that had no Purchase and now have one (accepted by intake, whatever it decided). */
  recovered: number;
  alreadyReceived: number;
  /** Not paid yet while the shop sends on payment: a later run takes them once paid. */
  notPaid: number;
  /** Orders intake could not read: recorded as a rejected receipt, as their webhook would have been. */
  rejected: number;
  throttleWaits: number;
  waitedMs: number;
  /** Where the next run starts (before its overlap). */
  watermark: string | null;
}

type ReconcileShop = IntakeShop &
  Pick<Shop, "primaryDomain" | "connectedAt" | "reconciledThrough">;

/** Where a run starts without `--since`: the watermark less the overlap, else Connect, at most 7 days back. */
function defaultSince(shop: ReconcileShop, now: Date): Date {
  const from = shop.reconciledThrough ?? shop.connectedAt ?? now;
  return new Date(
    Math.max(from.getTime() - OVERLAP_MS, now.getTime() - LOOKBACK_MS),
  );
}

/**
 * One run for one shop. A page is taken whole or not at all: a bad answer throws (AdminApiError) and the
 * watermark stays after the last whole page, so the next run reads the rest again.
 */
async function reconcileShop(
  deps: ReconcileDeps,
  admin: AdminClient,
  shop: ReconcileShop,
  opts: {
    since?: Date;
    now?: Date;
    onPage?: (report: ReconcileReport) => Promise<unknown>;
  } = {},
): Promise<ReconcileReport> {
  const now = opts.now ?? new Date();
  const since = opts.since ?? defaultSince(shop, now);
  // A run that starts after the watermark would leave a gap behind it: it must not move the watermark.
  const movesWatermark =
    !shop.reconciledThrough || since <= shop.reconciledThrough;
  const settings = parseSettings(shop.settings);
  const topic: PurchaseTopic =
    settings.purchaseTrigger === "paid" ? "orders/paid" : "orders/create";
  const report: ReconcileReport = {
    shop: shop.domain,
    since: since.toISOString(),
    pages: 0,
    orders: 0,
    recovered: 0,
    alreadyReceived: 0,
    notPaid: 0,
    rejected: 0,
    throttleWaits: 0,
    waitedMs: 0,
    watermark: shop.reconciledThrough?.toISOString() ?? null,
  };
  const advance = async (through: Date) => {
    if (!movesWatermark) return;
    await advanceWatermark(deps.db, shop.id, through);
    if (!report.watermark || through.toISOString() > report.watermark)
      report.watermark = through.toISOString();
  };

  let after: string | null = null;
  do {
    const page = ordersPage.safeParse(
      await admin.query(ORDERS_QUERY, {
        first: PAGE_SIZE,
        after,
        query: updatedSince(since),
      }),
    );
    if (!page.success)
      throw new AdminApiError(
        `Shopify's orders page ${report.pages + 1} is not an orders page (${page.error.issues
          .slice(0, 2)
          .map((i) => `${i.path.join(".")}: ${i.message}`)
          .join("; ")}): nothing of it was taken, the next run reads it again`,
      );
    const { nodes, pageInfo } = page.data.orders;
    const existing = await deps.outbox.existingPurchases(
      shop.id,
      nodes.map((n) => purchaseEventId(n.id)!),
    );
    for (const node of nodes) {
      report.orders++;
      if (existing.has(purchaseEventId(node.id)!)) report.alreadyReceived++;
      else if (topic === "orders/paid" && !isPaid(node)) report.notPaid++;
      else if (await intake(deps, admin, shop, settings, topic, node))
        report.recovered++;
      else report.rejected++;
    }
    report.pages++;
    report.throttleWaits = admin.waits;
    report.waitedMs = admin.waitedMs;
    // Sorted by updatedAt: every order up to the page's last is in.
    if (nodes.length) await advance(new Date(nodes.at(-1)!.updatedAt));
    await opts.onPage?.(report);
    if (pageInfo.hasNextPage && !pageInfo.endCursor)
      throw new AdminApiError(
        `Shopify's orders page ${report.pages} says more follow but gives no cursor`,
      );
    after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
  } while (after);
  await advance(now);
  return report;
}

/** The order through the webhook's intake; false when intake could not read it (a rejected receipt says why). */
async function intake(
  deps: ReconcileDeps,
  admin: AdminClient,
  shop: ReconcileShop,
  settings: ReturnType<typeof parseSettings>,
  topic: PurchaseTopic,
  node: OrderNode,
): Promise<boolean> {
  const parsed = parseOrder(restOrderOf(node, await allLines(admin, node)));
  const orderId = node.id.slice(node.id.lastIndexOf("/") + 1);
  // One receipt per order and topic: a second run that meets the same order records nothing new.
  const webhookId = `reconciliation:${topic}:${orderId}`;
  if (!parsed.ok) {
    await recordReceipt(deps.outbox, {
      webhookId,
      shopDomain: shop.domain,
      topic,
      orderId,
      outcome: "rejected",
      reason: `invalid order from Shopify's Admin API: ${parsed.reason}`,
    });
    return false;
  }
  const mapped = mapOrder(parsed.order, {
    shopDomain: shop.domain,
    storefrontOrigin: shop.primaryDomain
      ? `https://${shop.primaryDomain}`
      : undefined,
    settings,
    topic,
  });
  await intakeOrder(deps.outbox, deps.shops, {
    shop,
    settings,
    topic,
    webhookId,
    mapped,
    holdSeconds: deps.holdSeconds,
    source: "reconciliation",
  });
  return true;
}

/** The order's lines: the first page came with the order, the rest are asked for. */
async function allLines(admin: AdminClient, node: OrderNode) {
  const lines = [...node.lineItems.nodes];
  let info = node.lineItems.pageInfo;
  while (info.hasNextPage) {
    const page = lineItemsPage.safeParse(
      await admin.query(LINE_ITEMS_QUERY, {
        id: node.id,
        after: info.endCursor,
      }),
    );
    if (!page.success || !page.data.order)
      throw new AdminApiError(
        `Shopify's answer for the line items of ${node.id} is not a list of line items`,
      );
    lines.push(...page.data.order.lineItems.nodes);
    info = page.data.order.lineItems.pageInfo;
  }
  return lines;
}

/** Shopify's own count of the shop's orders matching `query` (the admin's "Orders vs Meta", the backfill's total). */
export async function countOrders(
  admin: AdminClient,
  query: string,
): Promise<number> {
  const answer = ordersCount.safeParse(
    await admin.query(ORDERS_COUNT_QUERY, { query }),
  );
  if (!answer.success)
    throw new AdminApiError("Shopify's answer to ordersCount has no count");
  return answer.data.ordersCount.count;
}

/**
 * One recorded run for one shop, as the scheduler and `ops reconcile` do it (decisions 81): it takes the shop's lease
 * (null when another process holds it or ran the shop since it was read), extends it after each page, and records
 * when it ended and its error on the shop. With `backfill` (the scheduler), a backfill the merchant asked for runs
 * instead of the watermark's run: it reads all the watermark's run would and more.
 */
export async function runReconcile(
  deps: ReconcileDeps,
  adminFor: (shopDomain: string) => Promise<AdminClient>,
  shop: Shop,
  opts: { since?: Date; now?: Date; backfill?: boolean } = {},
): Promise<ReconcileReport | null> {
  const now = opts.now ?? new Date();
  if (!(await claimReconcile(deps.db, shop, now, LEASE_MS))) return null;
  const backfill = opts.backfill ? pendingBackfill(shop) : null;
  const onPage = () =>
    extendReconcileLease(deps.db, shop.id, new Date(Date.now() + LEASE_MS));
  let error: string | null = null;
  try {
    const admin = await adminFor(shop.domain);
    return backfill
      ? await runBackfill(deps, admin, shop, backfill, now, onPage)
      : await reconcileShop(deps, admin, shop, {
          since: opts.since,
          now,
          onPage,
        });
  } catch (err) {
    error = (err as Error).message;
    if (backfill)
      await saveBackfill(deps.db, shop.id, {
        ...backfill,
        finishedAt: new Date().toISOString(),
        error,
      });
    throw err;
  } finally {
    await finishReconcile(deps.db, shop.id, new Date(), error);
  }
}

/** Runs every connected shop's reconciliation once per interval, and the backfills merchants ask for. */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: ReconcileDeps & {
      /** 0: no periodic run; the merchants' backfills still run (decisions 79). */
      intervalMs: number;
      /** The shop's Admin API client, with its offline session; throws when it has none. */
      adminFor(shopDomain: string): Promise<AdminClient>;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    // Every shop is looked at more often than it is due, so a backfill starts within seconds of the merchant's click.
    this.timer = setInterval(
      () => void this.tick(),
      Math.min(this.deps.intervalMs || BACKFILL_POLL_MS, BACKFILL_POLL_MS),
    );
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One look at every connected shop; a run that is still going is not started again. */
  tick(now = new Date()): Promise<void> {
    // A database that is down (restarting) must not end the process: the next tick tries again.
    this.running ??= this.runDue(now)
      .catch((err: Error) =>
        console.error(
          `[reconcile] could not look at the shops: ${err.message}`,
        ),
      )
      .finally(() => (this.running = null));
    return this.running;
  }

  private async runDue(now: Date): Promise<void> {
    const { intervalMs } = this.deps;
    const shops = await this.deps.db.shop.findMany({
      where: {
        uninstalledAt: null,
        pixelId: { not: null },
        tokenCiphertext: { not: null },
      },
    });
    for (const shop of shops) {
      const due =
        intervalMs > 0 &&
        (!shop.reconciledAt ||
          now.getTime() - shop.reconciledAt.getTime() >= intervalMs);
      if (!due && !pendingBackfill(shop)) continue;
      try {
        const report = await runReconcile(this.deps, this.deps.adminFor, shop, {
          now,
          backfill: true,
        });
        if (report?.recovered || report?.rejected)
          console.log(
            `[reconcile] ${shop.domain}: ${report.orders} orders, ${report.recovered} recovered, ${report.rejected} unreadable`,
          );
      } catch (err) {
        // The run recorded its error; one shop's failure never stops the others.
        console.error(`[reconcile] ${shop.domain}: ${(err as Error).message}`);
      }
    }
  }
}

/** The merchant's backfill (decisions 78, 79): the last 7 days' orders, with Shopify's count as the progress bar's end. */
async function runBackfill(
  deps: ReconcileDeps,
  admin: AdminClient,
  shop: ReconcileShop,
  backfill: Backfill,
  now: Date,
  onPage: () => Promise<void>,
): Promise<ReconcileReport> {
  const since = new Date(now.getTime() - LOOKBACK_MS);
  const progress: Backfill = {
    ...backfill,
    total: await countOrders(admin, updatedSince(since)),
    done: 0,
    recovered: 0,
    error: null,
  };
  await saveBackfill(deps.db, shop.id, progress);
  const report = await reconcileShop(deps, admin, shop, {
    since,
    now,
    onPage: async (r) => {
      progress.done = r.orders;
      progress.recovered = r.recovered;
      await saveBackfill(deps.db, shop.id, progress);
      await onPage();
    },
  });
  await saveBackfill(deps.db, shop.id, {
    ...progress,
    finishedAt: new Date().toISOString(),
  });
  return report;
}
