import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData } from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Button,
  Card,
  InlineGrid,
  InlineStack,
  Layout,
  Page,
  ProgressBar,
  Text,
} from "@shopify/polaris";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop } from "../core/shops";
import {
  PAID_PLANS,
  PLANS,
  ordersThisMonth,
  usageOf,
  type Plan,
} from "../core/plans";
import { currentPlan, forgetPlan, isTestCharge } from "../billing.server";
import { formatNumber } from "../components/labels";
import { pageTitle } from "../components/title";
import { PlanLimitBanner } from "../components/PlanLimitBanner";

export const meta = pageTitle("Plans");

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session, billing } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const [{ plan }, orders] = await Promise.all([
    currentPlan(billing, shop.id),
    ordersThisMonth(prisma, shop.id),
  ]);
  return { usage: usageOf(plan, orders), plans: PLANS, test: isTestCharge() };
};

/** Choosing a paid plan sends the merchant to Shopify's approval page; choosing Free cancels the subscription. */
export const action = async ({ request }: ActionFunctionArgs) => {
  const { session, billing } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const form = await request.formData();
  const name = String(form.get("plan") ?? "");
  const current = await currentPlan(billing, shop.id);
  if (name === current.plan.name)
    return { error: `You are already on the ${name} plan.` };
  const plan = PAID_PLANS.find((p) => p.name === name);
  if (plan) {
    // Throws the redirect to Shopify's confirmation page; Shopify brings the merchant back here (decisions 121).
    const store = session.shop.replace(/\.myshopify\.com$/, "");
    return billing.request({
      plan: plan.name,
      isTest: isTestCharge(),
      returnUrl: `https://admin.shopify.com/store/${store}/apps/${process.env.SHOPIFY_API_KEY ?? ""}/app/plans`,
    });
  }
  if (name !== "Free") return { error: `There is no plan named "${name}".` };
  await billing.cancel({
    subscriptionId: current.subscriptionId!,
    isTest: isTestCharge(),
    prorate: true,
  });
  forgetPlan(shop.id);
  return { error: null };
};

function limitText(plan: Plan): string {
  return plan.monthlyOrders === null
    ? "Unlimited orders"
    : `Up to ${formatNumber(plan.monthlyOrders)} orders a month`;
}

export default function Plans() {
  const { usage, plans, test } = useLoaderData<typeof loader>();
  const fetcher = useFetcher<typeof action>();
  const limit = usage.plan.monthlyOrders;
  return (
    <Page title="Plans">
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            <PlanLimitBanner usage={usage} onPlansPage />
            {fetcher.data?.error && (
              <Banner tone="critical">{fetcher.data.error}</Banner>
            )}
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd" id="plan-usage">
                  This month
                </Text>
                <Text as="p">
                  {formatNumber(usage.orders)} orders
                  {limit === null
                    ? ""
                    : ` of the ${formatNumber(limit)} your ${usage.plan.name} plan covers`}
                  . Every order is recorded and sent to Meta, within the limit
                  or past it.
                </Text>
                {limit !== null && (
                  <ProgressBar
                    progress={Math.min(100, (usage.orders / limit) * 100)}
                    tone={usage.overLimit ? "critical" : "primary"}
                    ariaLabelledBy="plan-usage"
                  />
                )}
              </BlockStack>
            </Card>
            <InlineGrid columns={{ xs: 1, md: plans.length }} gap="400">
              {plans.map((plan) => {
                const isCurrent = plan.name === usage.plan.name;
                return (
                  <Card key={plan.name}>
                    <BlockStack gap="200">
                      <InlineStack align="space-between" blockAlign="center">
                        <Text as="h2" variant="headingMd">
                          {plan.name}
                        </Text>
                        {isCurrent && (
                          <Badge tone="success">Current plan</Badge>
                        )}
                      </InlineStack>
                      <Text as="p" variant="headingLg">
                        {plan.price === 0 ? "Free" : `$${plan.price} / month`}
                      </Text>
                      <Text as="p">{limitText(plan)}</Text>
                      <Text as="p" tone="subdued">
                        {plan.summary}
                      </Text>
                      {!isCurrent && (
                        <fetcher.Form method="post">
                          <input type="hidden" name="plan" value={plan.name} />
                          <Button
                            submit
                            variant={plan.price > 0 ? "primary" : undefined}
                            loading={
                              fetcher.state !== "idle" &&
                              fetcher.formData?.get("plan") === plan.name
                            }
                          >
                            {plan.price === 0
                              ? "Switch to Free"
                              : `Choose ${plan.name}`}
                          </Button>
                        </fetcher.Form>
                      )}
                    </BlockStack>
                  </Card>
                );
              })}
            </InlineGrid>
            {test && (
              <Text as="p" tone="subdued">
                Charges here are test charges: Shopify does not bill them.
              </Text>
            )}
          </BlockStack>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
