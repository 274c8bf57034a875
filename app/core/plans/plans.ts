import type { Db } from "../db";

// The app's plans: names, prices and monthly order limits in one place (decisions 118). Shopify Billing charges the
// paid ones (app/shopify.server.ts builds its `billing` config from this list); the free plan has no charge.

export interface Plan {
  /** The name Shopify shows on the charge and returns in activeSubscriptions. */
  name: string;
  /** USD every 30 days; 0 for the free plan. */
  price: number;
  /** Orders a calendar month (UTC) the plan covers; null is unlimited. */
  monthlyOrders: number | null;
  summary: string;
}

export const FREE_PLAN: Plan = {
  name: "Free",
  price: 0,
  monthlyOrders: 100,
  summary: "For a new store: every conversion sent, up to 100 orders a month.",
};

/** The paid plans, cheapest first. */
export const PAID_PLANS: readonly Plan[] = [
  {
    name: "Growth",
    price: 19,
    monthlyOrders: 2_000,
    summary: "Up to 2,000 orders a month.",
  },
  {
    name: "Scale",
    price: 49,
    monthlyOrders: null,
    summary: "Unlimited orders.",
  },
];

export const PLANS: readonly Plan[] = [FREE_PLAN, ...PAID_PLANS];

/** The plan of an active subscription's name; no (or an unknown) subscription is the free plan. */
export function planNamed(name: string | null | undefined): Plan {
  return PAID_PLANS.find((plan) => plan.name === name) ?? FREE_PLAN;
}

/** The first instant of `now`'s calendar month in UTC: the volume counts from there (decisions 119). */
export function monthStart(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/**
 * The shop's order volume this month: the orders Shopify sent by webhook (one Purchase row each, whatever became of
 * it), except test orders (decisions 119).
 */
export function ordersThisMonth(
  db: Db,
  shopId: string,
  now = new Date(),
): Promise<number> {
  return db.outboxEvent.count({
    where: {
      shopId,
      eventName: "Purchase",
      source: "webhook",
      receivedAt: { gte: monthStart(now) },
      OR: [{ suppressReason: null }, { suppressReason: { not: "test_order" } }],
    },
  });
}

export interface PlanUsage {
  plan: Plan;
  orders: number;
  /** The month's volume is past the plan's limit: the admin asks for an upgrade; sending goes on (decisions 120). */
  overLimit: boolean;
  /** The cheapest plan that covers this month's volume, when the current one does not. */
  suggested: Plan | null;
}

export function usageOf(plan: Plan, orders: number): PlanUsage {
  const covers = (p: Plan) =>
    p.monthlyOrders === null || orders <= p.monthlyOrders;
  const overLimit = !covers(plan);
  return {
    plan,
    orders,
    overLimit,
    suggested: overLimit
      ? (PAID_PLANS.find((p) => covers(p) && p.price > plan.price) ?? null)
      : null,
  };
}
