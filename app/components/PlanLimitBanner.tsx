import { Banner } from "@shopify/polaris";
import type { PlanUsage } from "../core/plans";
import { formatNumber } from "./labels";

/** Past the plan's monthly orders: nothing stops, the merchant is asked to upgrade (decisions 120). */
export function PlanLimitBanner({
  usage,
  onPlansPage = false,
}: {
  usage: PlanUsage;
  onPlansPage?: boolean;
}) {
  if (!usage.overLimit) return null;
  const next = usage.suggested;
  return (
    <Banner
      tone="warning"
      title={`This month's orders are past your ${usage.plan.name} plan's limit`}
      action={
        next && !onPlansPage
          ? { content: "See plans", url: "/app/plans" }
          : undefined
      }
    >
      <p>
        {formatNumber(usage.orders)} orders this month; the {usage.plan.name}{" "}
        plan covers {formatNumber(usage.plan.monthlyOrders ?? 0)}. Every order
        is still recorded and sent to Meta.
        {next
          ? ` Please upgrade to ${next.name} ($${next.price} / month, ${
              next.monthlyOrders === null
                ? "unlimited orders"
                : `up to ${formatNumber(next.monthlyOrders)} orders`
            }).`
          : ""}
      </p>
    </Banner>
  );
}
