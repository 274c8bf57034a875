import type { Db, OutboxEvent } from "../db";
import type { CapiEvent } from "../wire";

// What the admin shows of an order's life after checkout (decisions 70-72): the staff's orders the consent policy
// kept back, the value sent against the value refunded, and a sent Purchase's drift from the order as it is now.

/** The reasons a consent policy (not the shopper) keeps an order back: no choice could be recorded. */
const POLICY_REASONS = ["no_consent_opt_in_region", "no_consent_strict"];

export interface KeptBack {
  pos: number;
  draft: number;
  /** The same orders by reason (no_consent_opt_in_region, no_consent_strict). */
  byReason: Record<string, number>;
}

/**
 * decisions 70: point-of-sale and draft orders received since `since` whose Purchase the consent policy did not
 * send. No storefront pixel runs for them, so no shopper's choice is ever recorded: in an opt-in region (or where the
 * region is unknown) the default policy keeps each one back, the strict policy all of them.
 */
export async function staffOrdersKeptBack(
  db: Db,
  shopId: string,
  since: Date,
): Promise<KeptBack> {
  const groups = await db.outboxEvent.groupBy({
    by: ["orderSource", "suppressReason"],
    where: {
      shopId,
      eventName: "Purchase",
      status: "suppressed",
      suppressReason: { in: POLICY_REASONS },
      orderSource: { in: ["pos", "draft"] },
      receivedAt: { gte: since },
    },
    _count: { _all: true },
  });
  const out: KeptBack = { pos: 0, draft: 0, byReason: {} };
  for (const g of groups) {
    const n = g._count._all;
    if (g.orderSource === "pos" || g.orderSource === "draft")
      out[g.orderSource] += n;
    const reason = g.suppressReason ?? "unknown";
    out.byReason[reason] = (out.byReason[reason] ?? 0) + n;
  }
  return out;
}

export interface CurrencyValues {
  currency: string;
  /** Purchases Meta accepted in the period (sentAt), as sent. */
  sent: number;
  purchases: number;
  /** Refunds processed in the period of orders whose Purchase was sent. */
  refunded: number;
  refunds: number;
  net: number;
}

const ORDER_CHUNK = 500;
const cents = (n: number) => Math.round(n * 100) / 100;

/**
 * decisions 71: per currency, the value of the Purchases sent in the period, the money refunded in the period of
 * orders whose Purchase was sent (at any time the log still shows), and the difference. Meta is never told of a
 * refund: this is what the merchant compares against their sales reports.
 */
export async function valueReport(
  db: Db,
  shopId: string,
  since: Date,
): Promise<CurrencyValues[]> {
  const [sent, refunds] = await Promise.all([
    db.outboxEvent.groupBy({
      by: ["currency"],
      where: {
        shopId,
        eventName: "Purchase",
        status: "sent",
        sentAt: { gte: since },
      },
      _sum: { value: true },
      _count: { _all: true },
    }),
    db.orderRefund.findMany({
      where: { shopId, refundedAt: { gte: since } },
      select: { orderId: true, amount: true, currency: true },
    }),
  ]);
  const sentOrders = new Set<string>();
  const orderIds = [...new Set(refunds.map((r) => r.orderId))];
  for (let i = 0; i < orderIds.length; i += ORDER_CHUNK) {
    const rows = await db.outboxEvent.findMany({
      where: {
        shopId,
        eventName: "Purchase",
        status: "sent",
        orderId: { in: orderIds.slice(i, i + ORDER_CHUNK) },
      },
      select: { orderId: true },
    });
    for (const r of rows) if (r.orderId) sentOrders.add(r.orderId);
  }

  const byCurrency = new Map<string, CurrencyValues>();
  const of = (currency: string | null) => {
    const key = currency ?? "?";
    let c = byCurrency.get(key);
    if (!c) {
      c = {
        currency: key,
        sent: 0,
        purchases: 0,
        refunded: 0,
        refunds: 0,
        net: 0,
      };
      byCurrency.set(key, c);
    }
    return c;
  };
  for (const g of sent) {
    const c = of(g.currency);
    c.sent += g._sum.value ?? 0;
    c.purchases += g._count._all;
  }
  for (const r of refunds) {
    if (!sentOrders.has(r.orderId)) continue;
    const c = of(r.currency);
    c.refunded += r.amount;
    c.refunds += 1;
  }
  return [...byCurrency.values()]
    .map((c) => ({
      ...c,
      sent: cents(c.sent),
      refunded: cents(c.refunded),
      net: cents(c.sent - c.refunded),
    }))
    .sort((a, b) => b.sent - a.sent || a.currency.localeCompare(b.currency));
}

export interface Drift {
  sent: { value: number | null; currency: string | null; numItems: number };
  now: {
    value: number | null;
    currency: string | null;
    numItems: number;
    updatedAt: string;
  };
  /** Content ids in the order now that were not sent, and sent ones no longer in it. */
  added: string[];
  removed: string[];
  refunded: { currency: string | null; amount: number }[];
}

/**
 * decisions 72: a sent Purchase beside the order as its newest orders/updated shows it (OrderState) and its refunds.
 * Null when the event is not a sent Purchase of an order, or when nothing changed since it was sent.
 */
export async function purchaseDrift(
  db: Db,
  row: Pick<
    OutboxEvent,
    "shopId" | "eventName" | "status" | "orderId" | "payload"
  >,
): Promise<Drift | null> {
  if (row.eventName !== "Purchase" || row.status !== "sent" || !row.orderId)
    return null;
  const where = { shopId: row.shopId, orderId: row.orderId };
  const [state, refunds] = await Promise.all([
    db.orderState.findUnique({ where: { shopId_orderId: where } }),
    db.orderRefund.groupBy({
      by: ["currency"],
      where,
      _sum: { amount: true },
    }),
  ]);
  const sent = (row.payload as unknown as CapiEvent).custom_data ?? {};
  const now = (state?.customData ?? null) as CapiEvent["custom_data"] | null;
  const sentIds = new Set(sent.content_ids ?? []);
  const nowIds = new Set(now?.content_ids ?? []);
  const drift: Drift = {
    sent: {
      value: sent.value ?? null,
      currency: sent.currency ?? null,
      numItems: sent.num_items ?? 0,
    },
    now: {
      value: state?.value ?? sent.value ?? null,
      currency: state?.currency ?? sent.currency ?? null,
      numItems: now ? (now.num_items ?? 0) : (sent.num_items ?? 0),
      updatedAt: state?.orderUpdatedAt.toISOString() ?? "",
    },
    added: now ? [...nowIds].filter((id) => !sentIds.has(id)) : [],
    removed: now ? [...sentIds].filter((id) => !nowIds.has(id)) : [],
    refunded: refunds.map((r) => ({
      currency: r.currency,
      amount: cents(r._sum.amount ?? 0),
    })),
  };
  const changed =
    drift.now.value !== drift.sent.value ||
    drift.now.currency !== drift.sent.currency ||
    drift.now.numItems !== drift.sent.numItems ||
    drift.added.length > 0 ||
    drift.removed.length > 0 ||
    drift.refunded.length > 0;
  return changed ? drift : null;
}
