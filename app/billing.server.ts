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

/** How long Home trusts Shopify's last answer for a shop no subscription webhook has described (decisions 182). */
const ANSWER_TTL_MS = 10 * 60_000;
const MAX_ANSWERS = 10_000;
const answers = new Map<string, { plan: Plan; at: number }>();

/** Shopify's answer, asked now (the Plans page always asks); remembered for Home's banner. */
export async function currentPlan(
  billing: Billing,
  shopId: string,
): Promise<CurrentPlan> {
  const { appSubscriptions } = await billing.check({
    plans: PAID_PLANS.map((plan) => plan.name),
    isTest: isTestCharge(),
  });
  const active = appSubscriptions[0];
  const plan = planNamed(active?.name);
  answers.delete(shopId);
  if (answers.size >= MAX_ANSWERS) answers.delete(answers.keys().next().value!);
  answers.set(shopId, { plan, at: Date.now() });
  return { plan, subscriptionId: active?.id ?? null };
}

/** After a change of plan from the app (a cancel): Home asks Shopify again rather than trust the answer before it. */
export function forgetPlan(shopId: string): void {
  answers.delete(shopId);
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
  const known = answers.get(shopId);
  if (known && Date.now() - known.at < ANSWER_TTL_MS)
    return usageOf(known.plan, orders);
  try {
    return usageOf((await currentPlan(billing, shopId)).plan, orders);
  } catch (err) {
    // Shopify's billing API out of reach must not take the dashboard down: no banner this time.
    console.error(
      `[billing] the shop's plan could not be read: ${(err as Error).message}`,
    );
    return { ...free, overLimit: false, suggested: null };
  }
}
