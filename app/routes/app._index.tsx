import type { LoaderFunctionArgs } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { Banner, BlockStack, Card, InlineGrid, Layout, Page, Text } from "@shopify/polaris";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop } from "../capi/shopConfig";
import { activeTestEventCode, isConnected } from "../capi/outbox";
import { parseSettings } from "../capi/settings";
import { classifyGraphError } from "../capi/graphErrors";

const PAUSE_KIND: Record<string, Parameters<typeof classifyGraphError>[0]> = {
  token: { code: 190 },
  permission: { code: 10 },
  wrong_pixel: { code: 100, subcode: 33 },
};

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const since = new Date(Date.now() - 86_400_000);
  const counts = await prisma.outboxEvent.groupBy({
    by: ["status"],
    where: { shopId: shop.id, receivedAt: { gte: since } },
    _count: { _all: true },
  });
  const pause = shop.pausedReason
    ? PAUSE_KIND[shop.pausedReason]
      ? classifyGraphError(PAUSE_KIND[shop.pausedReason])
      : { title: "Sending is paused", fix: shop.pausedDetail ?? "" }
    : null;
  return {
    connected: isConnected(shop),
    pixelName: shop.pixelName ?? shop.pixelId,
    lastDeliveryAt: shop.lastDeliveryAt?.toISOString() ?? null,
    testMode: Boolean(activeTestEventCode(shop, parseSettings(shop.settings))),
    pause: pause ? { title: pause.title, fix: pause.fix } : null,
    webPixel: { connected: Boolean(shop.webPixelId), error: shop.webPixelError },
    counts: Object.fromEntries(counts.map((c: { status: string; _count: { _all: number } }) => [c.status, c._count._all])) as Record<string, number>,
  };
};

export default function Home() {
  const d = useLoaderData<typeof loader>();
  const stat = (label: string, value: number | undefined) => (
    <Card>
      <BlockStack gap="100">
        <Text as="h3" variant="headingSm" tone="subdued">{label}</Text>
        <Text as="p" variant="heading2xl">{value ?? 0}</Text>
      </BlockStack>
    </Card>
  );
  return (
    <Page title="Meta Conversions API">
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {!d.connected && (
              <Banner tone="warning" title="Not connected to Meta yet" action={{ content: "Connect Meta", url: "/app/connect" }}>
                <p>Orders are recorded but not sent until you connect your Meta dataset.</p>
              </Banner>
            )}
            {d.pause && (
              <Banner tone="critical" title={`Sending is paused: ${d.pause.title}`} action={{ content: "Fix the connection", url: "/app/connect" }}>
                <p>{d.pause.fix} Your events are kept and go out as soon as the connection works.</p>
              </Banner>
            )}
            {d.testMode && (
              <Banner tone="info" title="Test mode is on">
                <p>Events go to Meta's Test events tab. The test code switches itself off after the time set in Settings.</p>
              </Banner>
            )}
            {d.connected && (
              <Card>
                <BlockStack gap="100">
                  <Text as="h2" variant="headingMd">Connected to {d.pixelName}</Text>
                  <Text as="p" tone="subdued">
                    Last delivery to Meta: {d.lastDeliveryAt ? new Date(d.lastDeliveryAt).toLocaleString() : "none yet"} ·
                    Storefront pixel: {d.webPixel.connected ? "active" : `not active${d.webPixel.error ? ` (${d.webPixel.error})` : ""}`}
                  </Text>
                </BlockStack>
              </Card>
            )}
            <Text as="h2" variant="headingMd">Last 24 hours</Text>
            <InlineGrid columns={{ xs: 2, md: 4 }} gap="400">
              {stat("Sent to Meta", d.counts.sent)}
              {stat("Waiting", (d.counts.pending ?? 0) + (d.counts.held ?? 0) + (d.counts.sending ?? 0))}
              {stat("Not sent (by rule)", d.counts.suppressed)}
              {stat("Failed or expired", (d.counts.failed ?? 0) + (d.counts.expired ?? 0))}
            </InlineGrid>
          </BlockStack>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
