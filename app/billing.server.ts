import prisma from "./db.server";
import {
  FREE_PLAN,
  PAID_PLANS,
  ordersThisMonth,
  planNamed,
  recordedPlan,
  usageOf,
  type Plan,
  type PlanUsage,
} from "./core/plans";

// The shop's plan as Shopify Billing knows it (its active subscription), and whether charges are test charges.

type Billing = Awaited<
  ReturnType<typeof import("./shopify.server").authenticate.admin>
>["billing"];

/**
 * Test charges (never billed) unless this is production and SHOPIFY_BILLING_TEST is not "true" (decisions 121):
 * development stores, staging and the test suite (a production build) set it.
 */
export function isTestCharge(): boolean {
  return (
    process.env.NODE_ENV !== "production" ||
    process.env.SHOPIFY_BILLING_TEST === "true"
  );
}

export interface CurrentPlan {
  plan: Plan;
  /** The active subscription's id, to cancel it; null on the free plan. */
  subscriptionId: string | null;
}

export async function currentPlan(billing: Billing): Promise<CurrentPlan> {
  const { appSubscriptions } = await billing.check({
    plans: PAID_PLANS.map((plan) => plan.name),
    isTest: isTestCharge(),
  });
  const active = appSubscriptions[0];
  return {
    plan: planNamed(active?.name),
    subscriptionId: active?.id ?? null,
  };
}

/**
 * This month's volume against the shop's plan, for the upgrade banner: the plan Shopify's subscription webhooks
 * recorded, or Shopify's answer when none has arrived for the shop yet (decisions 141).
 */
export async function planUsage(
  billing: Billing,
  shopId: string,
): Promise<PlanUsage> {
  const orders = await ordersThisMonth(prisma, shopId);
  // Within the free plan's limit every plan covers the month: the usual admin load asks Shopify nothing.
  const free = usageOf(FREE_PLAN, orders);
  if (!free.overLimit) return free;
  const recorded = await recordedPlan(prisma, shopId);
  if (recorded) return usageOf(recorded.plan, orders);
  try {
    return usageOf((await currentPlan(billing)).plan, orders);
  } catch (err) {
    // Shopify's billing API out of reach must not take the dashboard down: no banner this time.
    console.error(
      `[billing] the shop's plan could not be read: ${(err as Error).message}`,
    );
    return { ...free, overLimit: false, suggested: null };
  }
}
