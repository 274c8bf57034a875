import { z } from "zod";
import type { Shop } from "../db";
import type { Outbox } from "../outbox";
import { numericId, purchaseEventId } from "../wire";
import { letterCode } from "../reference";
import { subscribeEventId, type MappedOrder } from "./orderMapping";
import { recordReceipt, type IntakeResult } from "./orderIntake";

// An order's life after it is placed: edits and upsells (orders/updated, decisions 67) and refunds (refunds/create,
// decisions 68). Meta has no update and no refund event: what changes is only a Purchase not sent yet; a sent one is
// left as Meta has it, and the admin shows the drift and the refunds beside it.

/**
 * orders/updated: the order's newest state is kept (an older webhook arriving late changes nothing), and a Purchase
 * still held or pending carries its value and contents as they are now. A Purchase made later, from an older
 * orders/paid that arrives after this one, takes the newer state too (orderIntake.ts).
 */
export async function updateOrder(
  outbox: Outbox,
  args: {
    shop: Pick<Shop, "id" | "domain">;
    webhookId: string;
    mapped: MappedOrder;
    now?: Date;
  },
): Promise<IntakeResult> {
  const { shop, mapped } = args;
  const now = args.now ?? new Date();
  const receipt = {
    webhookId: args.webhookId,
    shopDomain: shop.domain,
    topic: "orders/updated",
    orderId: mapped.orderId,
  };
  // Every step is idempotent and the receipt is written last: a delivery that failed half-way is done again.
  const custom = mapped.event.custom_data ?? {};
  const newer = await outbox.saveOrderState({
    shopId: shop.id,
    orderId: mapped.orderId,
    orderUpdatedAt: mapped.updatedAt ?? now,
    value: custom.value ?? null,
    currency: custom.currency ?? null,
    customData: custom,
  });
  const refreshed =
    newer &&
    (await outbox.refreshUnsent(
      {
        shopId: shop.id,
        eventName: "Purchase",
        eventId: mapped.event.event_id,
      },
      custom,
    ));
  return recordReceipt(
    outbox,
    newer
      ? {
          ...receipt,
          outcome: "accepted",
          reason: refreshed
            ? "the unsent purchase carries the order as it is now"
            : "no unsent purchase: the order's state is kept",
        }
      : {
          ...receipt,
          outcome: "ignored",
          reason: "an older state of the order",
        },
    now,
  );
}

const amount = z.union([
  z.number(),
  z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?$/)
    .transform(Number),
]);

/** refunds/create as Shopify sends it; only the money actually given back counts (successful refund transactions). */
const refundSchema = z.looseObject({
  id: z.union([z.number(), z.string()]),
  admin_graphql_api_id: z.string().nullish().catch(null),
  order_id: z.union([z.number(), z.string()]),
  created_at: z.string().nullish().catch(null),
  processed_at: z.string().nullish().catch(null),
  transactions: z
    .array(
      z.looseObject({
        kind: z.string().nullish().catch(null),
        status: z.string().nullish().catch(null),
        amount: amount.nullish().catch(null),
        // Stored with the refund: a code that is not three letters is read as unknown (decisions 30).
        currency: letterCode(3, "currency").nullish().catch(null),
      }),
    )
    .nullish()
    .catch(null),
});

export interface ParsedRefund {
  refundId: string;
  orderId: string;
  amount: number;
  currency: string | null;
  refundedAt: Date | null;
}

/** Never throws; the reason names fields, never values. */
export function parseRefund(
  body: unknown,
): { ok: true; refund: ParsedRefund } | { ok: false; reason: string } {
  const parsed = refundSchema.safeParse(body);
  if (!parsed.success)
    return {
      ok: false,
      reason: `invalid refund payload: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => i.path.join(".") || "refund")
        .join(", ")}`,
    };
  const r = parsed.data;
  const refundId = numericId(r.admin_graphql_api_id) ?? numericId(r.id);
  const orderId = numericId(r.order_id);
  if (!refundId || !orderId)
    return { ok: false, reason: "invalid refund payload: id, order_id" };
  let total = 0;
  let currency: string | null = null;
  for (const t of r.transactions ?? []) {
    if (t.kind !== "refund" || t.status !== "success" || t.amount == null)
      continue;
    total += Math.abs(t.amount);
    currency ??= t.currency ?? null;
  }
  // Beyond any real refund (and beyond what rounds to cents): refused rather than stored as Infinity.
  if (!(total < 1e13))
    return { ok: false, reason: "invalid refund payload: transactions.amount" };
  const at = Date.parse(r.processed_at ?? r.created_at ?? "");
  return {
    ok: true,
    refund: {
      refundId,
      orderId,
      amount: Math.round(total * 100) / 100,
      currency,
      refundedAt: Number.isFinite(at) ? new Date(at) : null,
    },
  };
}

/** Refunded in full: the money given back in the Purchase's currency reaches its value (a cent's tolerance). */
export function refundedInFull(
  value: number | undefined,
  currency: string | undefined,
  refunds: { amount: number; currency: string | null }[],
): boolean {
  if (value === undefined || value <= 0) return false;
  const given = refunds
    .filter((r) => r.currency === null || r.currency === currency)
    .reduce((sum, r) => sum + r.amount, 0);
  return given >= value - 0.005;
}

/**
 * refunds/create: recorded once per refund. Never a negative Purchase; a Purchase not sent yet whose order is now
 * refunded in full is not sent (`refunded`).
 */
export async function intakeRefund(
  outbox: Outbox,
  args: {
    shop: Pick<Shop, "id" | "domain">;
    webhookId: string;
    refund: ParsedRefund;
    now?: Date;
  },
): Promise<IntakeResult> {
  const { shop, refund } = args;
  const now = args.now ?? new Date();
  const receipt = {
    webhookId: args.webhookId,
    shopDomain: shop.domain,
    topic: "refunds/create",
    orderId: refund.orderId,
  };
  // Idempotent steps, the receipt last (as updateOrder).
  const inserted = await outbox.recordRefund({
    shopId: shop.id,
    refundId: refund.refundId,
    orderId: refund.orderId,
    amount: refund.amount,
    currency: refund.currency,
    refundedAt: refund.refundedAt ?? now,
  });
  const eventId = purchaseEventId(refund.orderId)!;
  const purchase = await outbox.unsentPurchase(shop.id, eventId);
  const dropped =
    purchase &&
    refundedInFull(
      purchase.payload.custom_data?.value,
      purchase.payload.custom_data?.currency,
      await outbox.refundsOf(shop.id, refund.orderId),
    ) &&
    (await outbox.suppressUnsent(
      { shopId: shop.id, eventName: "Purchase", eventId },
      "refunded",
      now,
    )) > 0;
  // decisions 74: a subscription's first order refunded in full before sending: its Subscribe goes neither.
  if (dropped)
    await outbox.suppressUnsent(
      {
        shopId: shop.id,
        eventName: "Subscribe",
        eventId: subscribeEventId(refund.orderId),
      },
      "refunded",
      now,
    );
  const result = await recordReceipt(
    outbox,
    {
      ...receipt,
      outcome: inserted === "inserted" || dropped ? "accepted" : "ignored",
      reason: dropped
        ? "refunded in full before sending: purchase dropped"
        : inserted === "inserted"
          ? "refund recorded"
          : "refund already recorded",
    },
    now,
  );
  return dropped && result.outcome === "accepted"
    ? { ...result, status: "suppressed" }
    : result;
}
