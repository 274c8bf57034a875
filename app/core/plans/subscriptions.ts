import { z } from "zod";
import type { Db } from "../db";
import { FREE_PLAN, planNamed, type Plan } from "./plans";

// The shop's app subscriptions as Shopify's app_subscriptions/update webhook describes them, so that the app knows a
// cancelled, declined, frozen or expired charge without asking Shopify (decisions 141). The one writer of the
// PlanSubscription table.

/** Shopify's AppSubscriptionStatus; only ACTIVE is a plan the merchant pays for. */
const STATUSES = [
  "ACTIVE",
  "CANCELLED",
  "DECLINED",
  "EXPIRED",
  "FROZEN",
  "PENDING",
  "ACCEPTED",
] as const;

const when = z
  .string()
  .max(64)
  .transform((text) => new Date(text))
  .refine((date) => !Number.isNaN(date.getTime()), "not a date");

const updateSchema = z.object({
  app_subscription: z.object({
    admin_graphql_api_id: z
      .string()
      .regex(/^gid:\/\/shopify\/AppSubscription\/\d{1,20}$/),
    name: z.string().min(1).max(255),
    status: z.enum(STATUSES),
    admin_graphql_api_shop_id: z.string().max(64).optional(),
    updated_at: when,
  }),
});

export interface SubscriptionUpdate {
  subscriptionId: string;
  name: string;
  status: (typeof STATUSES)[number];
  updatedAt: Date;
}

/** An app_subscriptions/update body, or why it is not one (the fields the app reads; the others may change). */
export function parseSubscriptionUpdate(
  body: unknown,
): { ok: true; update: SubscriptionUpdate } | { ok: false; reason: string } {
  const parsed = updateSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      reason: `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`,
    };
  }
  const s = parsed.data.app_subscription;
  return {
    ok: true,
    update: {
      subscriptionId: s.admin_graphql_api_id,
      name: s.name,
      status: s.status,
      updatedAt: s.updated_at,
    },
  };
}

/**
 * Records what Shopify says of one subscription. A delivery older than what is recorded changes nothing ("stale"):
 * Shopify does not deliver in order, and a plan change sends the new subscription's ACTIVE and the old one's
 * CANCELLED close together.
 */
export async function recordSubscription(
  db: Db,
  shopId: string,
  update: SubscriptionUpdate,
  now = new Date(),
): Promise<"recorded" | "stale"> {
  const data = {
    name: update.name,
    status: update.status,
    updatedAt: update.updatedAt,
    receivedAt: now,
  };
  const { count } = await db.planSubscription.updateMany({
    where: {
      shopId,
      subscriptionId: update.subscriptionId,
      updatedAt: { lte: update.updatedAt },
    },
    data,
  });
  if (count) return "recorded";
  try {
    await db.planSubscription.create({
      data: { shopId, subscriptionId: update.subscriptionId, ...data },
    });
    return "recorded";
  } catch (err) {
    // The row exists and is newer (or a concurrent delivery of the same subscription created it first).
    if ((err as { code?: string }).code === "P2002") return "stale";
    throw err;
  }
}

export interface RecordedPlan {
  plan: Plan;
  /** When Shopify last changed a subscription of the shop. */
  since: Date;
}

/**
 * The shop's plan from the recorded subscriptions: the newest ACTIVE one's, the free plan when none is active;
 * null when Shopify never sent one (a shop that has not chosen a plan since the webhook was subscribed).
 */
export async function recordedPlan(
  db: Db,
  shopId: string,
): Promise<RecordedPlan | null> {
  const rows = await db.planSubscription.findMany({
    where: { shopId },
    orderBy: { updatedAt: "desc" },
    select: { name: true, status: true, updatedAt: true },
  });
  if (rows.length === 0) return null;
  const active = rows.find((row) => row.status === "ACTIVE");
  return {
    plan: active ? planNamed(active.name) : FREE_PLAN,
    since: rows[0]!.updatedAt,
  };
}
