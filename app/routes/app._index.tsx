import { lazy, useEffect, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData } from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Box,
  Button,
  ButtonGroup,
  Card,
  Collapsible,
  Divider,
  InlineGrid,
  InlineStack,
  Layout,
  Link,
  List,
  Page,
  ProgressBar,
  Select,
  SkeletonBodyText,
  Text,
  Tooltip,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import vizStyles from "@shopify/polaris-viz/build/esm/styles.css?url";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop, maskToken, type Backfill } from "../core/shops";
import {
  activeTestEventCode,
  isConnected,
  type MissingReason,
} from "../core/outbox";
import { parseSettings } from "../core/reference";
import { explainPause } from "../core/delivery";
import * as insights from "../core/insights";
import type { MatchKey, StatsWindow } from "../core/insights";
import { checkNow, readDatasetCheck, SECOND_SENDER } from "../core/checks";
import { checkDeps } from "../runtime.server";
import { syncWebPixel } from "../webPixel.server";
import { shopifyOrderCount } from "../reconcile.server";
import { BackfillCard } from "../components/BackfillCard";
import { ClientOnly } from "../components/ClientOnly";
import { ScrollableTable } from "../components/ScrollableTable";
import { Labelled, TitledCard } from "../components/Section";
import {
  eventLabel,
  formatDateTime,
  formatMoney,
  formatNumber,
  formatPercent,
  KEY_LABEL,
  MISSING_REASON_LABEL,
  RATING,
  reasonLabel,
  timeAgo,
  NEW_TOKEN_FIX,
  TOKEN_WARNING,
  tokenStatusText,
} from "../components/labels";
import { pageTitle } from "../components/title";
import { SetupGuide } from "../components/SetupGuide";
import { PlanLimitBanner } from "../components/PlanLimitBanner";
import { planUsage } from "../billing.server";

export const links = () => [{ rel: "stylesheet", href: vizStyles }];

// The charts (Polaris Viz, most of the page's script) load after hydration, so they do not hold up its first
// paint on a phone's connection (README, Performance); their placeholders keep their place meanwhile.
const charts = () => import("../components/charts.client");
const EventsChart = lazy(() =>
  charts().then((m) => ({ default: m.EventsChart })),
);
const CoverageChart = lazy(() =>
  charts().then((m) => ({ default: m.CoverageChart })),
);

export const meta = pageTitle("Home");

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session, billing } = await authenticate.admin(request);
  // The layout's loader (app.tsx) reconciles the web pixel on admin load (decisions 18).
  const shop = await ensureShop(prisma, session.shop);
  const now = new Date();

  const window = insights.parseStatsWindow(
    new URL(request.url).searchParams.get("window"),
  );
  const since = insights.windowSince(window, now);
  const settings = parseSettings(shop.settings);
  const counts = await insights.countsByEventName(prisma, shop.id, since);
  const reconSince = insights.windowSince(
    insights.RECONCILIATION_ALERT.window,
    now,
  );
  const [
    series,
    coverage,
    dedup,
    recon,
    shopifyOrders,
    waiting,
    keptBack,
    values,
    plan,
  ] = await Promise.all([
    insights.eventsOverTime(prisma, shop.id, window, now),
    insights.keyCoverage(
      prisma,
      shop.id,
      since,
      counts.filter((c) => c.byStatus.sent > 0).map((c) => c.eventName),
    ),
    insights.dedupCoverage(prisma, shop.id, since),
    insights.reconciliation(prisma, shop, reconSince),
    // Shopify's own count, kept a few minutes per shop: a page load rarely waits for Shopify (decisions 80).
    shopifyOrderCount(
      shop.domain,
      insights.RECONCILIATION_ALERT.window,
      reconSince,
      now,
    ),
    prisma.outboxEvent.aggregate({
      where: {
        shopId: shop.id,
        status: { in: ["held", "pending", "sending"] },
      },
      _count: { _all: true },
      _min: { receivedAt: true },
    }),
    insights.staffOrdersKeptBack(prisma, shop.id, since),
    insights.valueReport(prisma, shop.id, since),
    planUsage(billing, shop.id),
  ]);

  const pause = shop.pausedReason ? explainPause(shop.pausedReason) : null;
  const testCode = activeTestEventCode(shop, settings, now);
  const total = insights.totalCounts(counts);
  const check = await readDatasetCheck(prisma, shop.id, shop.pixelId);

  return {
    window,
    // The periods' names, for the page: the core's modules stay out of the browser bundle.
    windows: insights.STATS_WINDOWS,
    alert: insights.RECONCILIATION_ALERT,
    coverageSample: insights.COVERAGE_SAMPLE,
    plan,
    // The backfill card's first state: a fetch of its own at mount raced the merchant's first tap (decisions 143).
    backfill: (shop.backfill as Backfill | null) ?? null,
    health: {
      connected: isConnected(shop),
      pixelId: shop.pixelId,
      pixelName: shop.pixelName,
      tokenMasked: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
      tokenProblem:
        shop.pausedReason === "token" || shop.pausedReason === "token_key",
      pause,
      pausedAt: shop.pausedAt?.toISOString() ?? null,
      lastDeliveryAt: shop.lastDeliveryAt?.toISOString() ?? null,
      lastDeliveryAgo: timeAgo(shop.lastDeliveryAt?.toISOString() ?? null, now),
      webPixel: {
        active: Boolean(shop.webPixelId) && !shop.webPixelError,
        error: shop.webPixelError,
      },
      browserPixel: settings.browserPixel,
      testMode: testCode
        ? {
            expiresAt: new Date(
              (shop.testEventCodeSetAt?.getTime() ?? now.getTime()) +
                settings.testEventCodeTtlHours * 3_600_000,
            ).toISOString(),
          }
        : null,
      waiting: waiting._count._all,
      oldestWaitingAgo: timeAgo(
        waiting._min.receivedAt?.toISOString() ?? null,
        now,
      ),
    },
    setup: {
      connected: isConnected(shop),
      pixelOn: Boolean(shop.webPixelId) && !shop.webPixelError,
      testEventSent: Boolean(shop.testEventSentAt),
      testCodeActive: Boolean(testCode),
      settingsSaved: Boolean(shop.settingsSavedAt),
    },
    totals: {
      received: total.received,
      ...insights.groupCounts(total),
      ldu: total.ldu,
    },
    counts: counts.map((c) => ({ ...c, groups: insights.groupCounts(c) })),
    check: check && {
      ...check,
      checkedAt: check.checkedAt.toISOString(),
      tokenExpiresAt: check.tokenExpiresAt?.toISOString() ?? null,
      qualityAt: check.qualityAt?.toISOString() ?? null,
    },
    secondSender: SECOND_SENDER,
    series,
    coverage,
    dedup,
    recon: { ...recon, shopify: shopifyOrders },
    // decisions 70: with the setting that would send them.
    keptBack: {
      ...keptBack,
      consentPolicy: settings.consentPolicy,
      settingUrl: "/app/settings#consent",
    },
    values,
  };
};

export const action = async ({ request }: ActionFunctionArgs) => {
  const { session, admin } = await authenticate.admin(request);
  const form = await request.formData();
  const shop = await ensureShop(prisma, session.shop);
  if (form.get("intent") === "check_dataset") {
    const check = await checkNow(checkDeps(), shop.id);
    return {
      intent: "check_dataset" as const,
      ok: check !== null,
      error: check ? null : "Connect a Meta dataset first.",
    };
  }
  if (form.get("intent") !== "reconnect_pixel")
    return Response.json({ error: "Unknown action." }, { status: 400 });
  const result = await syncWebPixel(shop, admin.graphql);
  return {
    intent: "reconnect_pixel" as const,
    ok: result.ok,
    error: result.error ?? null,
  };
};

type Data = ReturnType<typeof useLoaderData<typeof loader>>;

export default function Home() {
  const d = useLoaderData<typeof loader>();
  return (
    <Page
      title="Meta Conversions API"
      subtitle="Is tracking working, how good is the signal, and what to fix."
      primaryAction={{ content: "Event log", url: "/app/events" }}
      secondaryActions={[{ content: "Settings", url: "/app/settings" }]}
    >
      <BlockStack gap="500">
        <Alerts d={d} />
        <PlanLimitBanner usage={d.plan} />
        <SetupGuide state={d.setup} />
        <HealthCard d={d} />
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingLg">
            Activity
          </Text>
          <ButtonGroup variant="segmented">
            {(Object.keys(d.windows) as StatsWindow[]).map((w) => (
              <Button key={w} url={`/app?window=${w}`} pressed={d.window === w}>
                {d.windows[w].label}
              </Button>
            ))}
          </ButtonGroup>
        </InlineStack>
        <Totals d={d} />
        <Layout>
          <Layout.Section>
            <Card>
              <BlockStack gap="300">
                <InlineStack align="space-between">
                  <Text as="h3" variant="headingMd">
                    Events{" "}
                    {d.windows[d.window].bucketHours === 24
                      ? "per day"
                      : `per ${d.windows[d.window].bucketHours} hours`}
                  </Text>
                  <Text as="span" tone="subdued">
                    UTC
                  </Text>
                </InlineStack>
                <ClientOnly fallback={<ChartPlaceholder height={280} />}>
                  {() => (
                    <EventsChart
                      buckets={d.series}
                      hourly={d.windows[d.window].bucketHours < 24}
                    />
                  )}
                </ClientOnly>
              </BlockStack>
            </Card>
          </Layout.Section>
          <Layout.Section variant="oneThird">
            <BlockStack gap="400">
              <DedupCard d={d} />
            </BlockStack>
          </Layout.Section>
        </Layout>
        <ReconciliationCard d={d} />
        {d.health.connected && (
          <BackfillCard initial={{ connected: true, backfill: d.backfill }} />
        )}
        <Layout>
          <Layout.Section>
            <ValueCard d={d} />
          </Layout.Section>
          <Layout.Section variant="oneThird">
            <KeptBackCard d={d} />
          </Layout.Section>
        </Layout>
        <SignalQuality d={d} />
        <MetaVerdict d={d} />
      </BlockStack>
      <Box paddingBlockEnd="800" />
    </Page>
  );
}

function ChartPlaceholder({ height }: { height: number }) {
  return (
    <div style={{ height }}>
      <SkeletonBodyText lines={6} />
    </div>
  );
}

function Alerts({ d }: { d: Data }) {
  const h = d.health;
  const fetcher = useFetcher<typeof action>();
  const shopify = useAppBridge();
  const result =
    fetcher.data &&
    "intent" in fetcher.data &&
    fetcher.data.intent === "reconnect_pixel"
      ? fetcher.data
      : null;
  useEffect(() => {
    if (result?.ok) shopify.toast.show("Storefront pixel connected");
  }, [result, shopify]);
  const reconnect = () =>
    fetcher.submit({ intent: "reconnect_pixel" }, { method: "post" });
  return (
    <>
      {!h.connected && (
        <Banner
          tone="warning"
          title="Not connected to Meta yet"
          action={{ content: "Connect Meta", url: "/app/connect" }}
        >
          <p>
            Orders are recorded (hashed) but not sent until you connect your
            Meta dataset. Recent ones can be sent once you connect.
          </p>
        </Banner>
      )}
      {h.pause && (
        <Banner
          tone="critical"
          title={`Sending to Meta is paused: ${h.pause.title}`}
          action={{ content: "Fix the connection", url: "/app/connect" }}
        >
          <BlockStack gap="200">
            <p>{h.pause.fix}</p>
            <p>
              {h.waiting > 0
                ? `${formatNumber(h.waiting)} events are waiting and `
                : "Events "}
              go out as soon as the connection works
              {h.pausedAt
                ? ` (paused since ${formatDateTime(h.pausedAt)})`
                : ""}
              .
            </p>
          </BlockStack>
        </Banner>
      )}
      {!h.webPixel.active && (
        <Banner
          tone="warning"
          title="The storefront pixel is not connected"
          action={{
            content: "Reconnect pixel",
            onAction: reconnect,
            loading: fetcher.state !== "idle",
          }}
        >
          <BlockStack gap="200">
            <p>
              Without it, browser events (page views, add to cart) and the
              browser half of each purchase are missing, so Meta matches and
              deduplicates fewer orders. Orders are still sent from the server.
            </p>
            {result && !result.ok && <p>Shopify answered: {result.error}</p>}
            {!result && h.webPixel.error && (
              <p>Last attempt: {h.webPixel.error}</p>
            )}
          </BlockStack>
        </Banner>
      )}
      <CheckAlerts d={d} />
      {h.testMode && (
        <Banner tone="info" title="Test mode is on">
          <p>
            Events also show in Meta Events Manager › Test events, and test
            orders are sent. The test code switches itself off at{" "}
            {formatDateTime(h.testMode.expiresAt)}, so test mode cannot leak
            into production.
          </p>
        </Banner>
      )}
      {d.recon.alert && (
        <Banner
          tone="critical"
          title={`Only ${formatPercent(d.recon.acceptedShare)} of orders reached Meta in the ${d.windows[d.alert.window].label.toLowerCase()}`}
          action={{
            content: "See the failed orders",
            url: "/app/events?event=Purchase&status=failed",
          }}
        >
          <p>
            Below {formatPercent(d.alert.minShare)} of the orders that should
            have been sent were accepted. Open the failed events: each one
            explains what Meta refused and how to fix it.
          </p>
        </Banner>
      )}
    </>
  );
}

function HealthCard({ d }: { d: Data }) {
  const h = d.health;
  return (
    <Card>
      <BlockStack gap="400">
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingMd">
            Connection
          </Text>
          {h.connected && !h.pause ? (
            <Badge tone="success">Sending to Meta</Badge>
          ) : h.pause ? (
            <Badge tone="critical">Paused</Badge>
          ) : (
            <Badge tone="attention">Not connected</Badge>
          )}
        </InlineStack>
        <InlineGrid columns={{ xs: 1, sm: 2, md: 4 }} gap="400">
          <Labelled label="Meta dataset (pixel)">
            <Text as="p" variant="bodyMd" fontWeight="semibold">
              {h.connected ? (h.pixelName ?? h.pixelId) : "Not connected"}
            </Text>
            {h.connected && h.pixelName && (
              <Text as="p" tone="subdued">
                ID {h.pixelId}
              </Text>
            )}
            <Link url="/app/connect">
              {h.connected ? "Manage connection" : "Connect Meta"}
            </Link>
          </Labelled>
          <Labelled label="Access token">
            {h.tokenMasked ? (
              <>
                <InlineStack gap="200" blockAlign="center">
                  <Text as="p" variant="bodyMd" fontWeight="semibold">
                    {h.tokenMasked}
                  </Text>
                  {h.tokenProblem ? (
                    <Badge tone="critical">Invalid</Badge>
                  ) : (
                    <Badge tone="success">Working</Badge>
                  )}
                </InlineStack>
                <Text as="p" tone="subdued">
                  {h.tokenProblem
                    ? "Paste a new token on the Connect page."
                    : "Checked with every delivery, and daily with Meta (below)."}
                </Text>
              </>
            ) : (
              <Text as="p" tone="subdued">
                None saved
              </Text>
            )}
          </Labelled>
          <Labelled label="Last delivery to Meta">
            <Text as="p" variant="bodyMd" fontWeight="semibold">
              {h.lastDeliveryAgo ?? "None yet"}
            </Text>
            {h.lastDeliveryAt && (
              <Text as="p" tone="subdued">
                {formatDateTime(h.lastDeliveryAt)}
              </Text>
            )}
            <Text as="p" tone="subdued">
              {h.waiting > 0
                ? `${formatNumber(h.waiting)} waiting (oldest ${h.oldestWaitingAgo})`
                : "Nothing waiting"}
            </Text>
          </Labelled>
          <Labelled label="Storefront pixel">
            <InlineStack gap="200" blockAlign="center">
              <Text as="p" variant="bodyMd" fontWeight="semibold">
                {h.webPixel.active ? "Connected" : "Not connected"}
              </Text>
              {h.webPixel.active ? (
                <Badge tone="success">Active</Badge>
              ) : (
                <Badge tone="warning">Missing</Badge>
              )}
            </InlineStack>
            <Text as="p" tone="subdued">
              {h.browserPixel
                ? "Also sends browser events to Meta"
                : "Browser events go through the server only"}
            </Text>
          </Labelled>
        </InlineGrid>
      </BlockStack>
    </Card>
  );
}

function Stat({
  label,
  value,
  help,
  tone,
  link,
}: {
  label: string;
  value: string;
  help?: string;
  tone?: "critical" | "success";
  link?: string;
}) {
  return (
    <Card>
      <Labelled label={label}>
        <Text as="p" variant="headingXl" tone={tone}>
          {value}
        </Text>
        {help && (
          <Text as="p" variant="bodySm" tone="subdued">
            {help}
          </Text>
        )}
        {link && (
          <Link url={link} removeUnderline>
            View events
          </Link>
        )}
      </Labelled>
    </Card>
  );
}

function Totals({ d }: { d: Data }) {
  const t = d.totals;
  const share = t.received ? t.sent / t.received : null;
  return (
    <InlineGrid columns={{ xs: 2, md: 5 }} gap="400">
      <Stat
        label="Events received"
        value={formatNumber(t.received)}
        help="From orders and the storefront"
      />
      <Stat
        label="Sent to Meta"
        value={formatNumber(t.sent)}
        help={`${formatPercent(share)} of received${t.ldu ? ` · ${formatNumber(t.ldu)} with Limited Data Use` : ""}`}
        tone={t.sent ? "success" : undefined}
        link="/app/events?status=sent"
      />
      <Stat
        label="Waiting"
        value={formatNumber(t.waiting)}
        help="Queued or waiting for browser data"
      />
      <Stat
        label="Not sent (your rules)"
        value={formatNumber(t.notSent)}
        help="Consent, test orders, channels"
        link="/app/events?status=suppressed"
      />
      <Stat
        label="Failed or expired"
        value={formatNumber(t.failed)}
        help="Each one explains itself"
        tone={t.failed ? "critical" : undefined}
        link="/app/events?status=failed"
      />
    </InlineGrid>
  );
}

function DedupCard({ d }: { d: Data }) {
  const x = d.dedup;
  return (
    <TitledCard as="h3" title="Deduplication">
      <Text as="p" variant="heading2xl">
        {formatPercent(x.share)}
      </Text>
      <ProgressBar
        progress={Math.round((x.share ?? 0) * 100)}
        tone={x.share !== null && x.share < 0.5 ? "critical" : "success"}
        size="small"
      />
      <Text as="p" tone="subdued">
        {x.purchasesSent
          ? `${formatNumber(x.withBrowserEvent)} of ${formatNumber(x.purchasesSent)} purchases sent also came from the shopper's browser with the same event id, so Meta counts each of them once.`
          : "No purchase sent in this period yet."}
      </Text>
      {x.share !== null && x.share < 0.5 && (
        <Text as="p" tone="subdued">
          Low coverage usually means the storefront pixel is missing, or blocked
          before consent.
        </Text>
      )}
    </TitledCard>
  );
}

function ReconciliationCard({ d }: { d: Data }) {
  const r = d.recon;
  const reasons = Object.entries(r.notSentByReason).sort((a, b) => b[1] - a[1]);
  const row = (label: React.ReactNode, value: number, link?: string) => [
    label,
    link && value ? (
      <Link url={link} removeUnderline>
        {formatNumber(value)}
      </Link>
    ) : (
      formatNumber(value)
    ),
  ];
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center">
          <BlockStack gap="100">
            <Text as="h3" variant="headingMd">
              Orders vs Meta · {d.windows[d.alert.window].label.toLowerCase()}
            </Text>
            <Text as="p" tone="subdued">
              Your orders in Shopify, the ones the app has, and what became of
              each one&apos;s Purchase event.
            </Text>
          </BlockStack>
          <Tooltip
            content={`Accepted ÷ orders that should have reached Meta (not counting orders waiting or not sent on purpose). An alert shows below ${formatPercent(d.alert.minShare)} once there are at least ${d.alert.minOrders} such orders.`}
          >
            <Badge
              tone={
                r.acceptedShare === null
                  ? undefined
                  : r.alert
                    ? "critical"
                    : "success"
              }
            >{`${formatPercent(r.acceptedShare)} accepted`}</Badge>
          </Tooltip>
        </InlineStack>
        <ScrollableTable
          label="Orders vs Meta"
          columnContentTypes={["text", "numeric"]}
          headings={["", "Orders"]}
          rows={[
            ...(r.shopify.count === null
              ? []
              : [
                  row(
                    <Tooltip content="Orders created in Shopify in the period, as Shopify counts them (paid or not).">
                      <Text as="span" fontWeight="semibold">
                        Orders in Shopify
                      </Text>
                    </Tooltip>,
                    r.shopify.count,
                  ),
                ]),
            row(
              <Text as="span" fontWeight="semibold">
                Orders received
              </Text>,
              r.ordersReceived,
              "/app/events?event=Purchase",
            ),
            row(
              <Box paddingInlineStart="400">
                <Tooltip content="Orders whose notification from Shopify never arrived: the app read them back from Shopify.">
                  <Text as="span" tone="subdued">
                    Recovered by reconciliation
                  </Text>
                </Tooltip>
              </Box>,
              r.recovered,
            ),
            row(
              "Accepted by Meta",
              r.accepted,
              "/app/events?event=Purchase&status=sent",
            ),
            row(
              "Waiting to be sent",
              r.waiting,
              "/app/events?event=Purchase&status=waiting",
            ),
            row(
              "Not sent on purpose",
              r.notSent,
              "/app/events?event=Purchase&status=suppressed",
            ),
            ...reasons.map(([reason, n]) =>
              row(
                <Box paddingInlineStart="400">
                  <Tooltip content={reasonLabel(reason).explanation}>
                    <Text as="span" tone="subdued">
                      {reasonLabel(reason).label}
                    </Text>
                  </Tooltip>
                </Box>,
                n,
                `/app/events?event=Purchase&status=suppressed&reason=${reason}`,
              ),
            ),
            row(
              "Rejected by Meta",
              r.failed,
              "/app/events?event=Purchase&status=failed",
            ),
            row(
              "Too old for Meta",
              r.expired,
              "/app/events?event=Purchase&status=expired",
            ),
            row("Could not be read", r.unreadable),
          ]}
        />
        <ShopifyCountNote d={d} />
      </BlockStack>
    </Card>
  );
}

/** How the app's orders compare with Shopify's count, or why there is no count to compare with (decisions 80). */
function ShopifyCountNote({ d }: { d: Data }) {
  const s = d.recon.shopify;
  if (s.count === null)
    return (
      <Text as="p" tone="subdued">
        {`Shopify's own order count could not be read just now (${s.error}), so these figures count only the orders the app received.`}
      </Text>
    );
  const missing = s.count - d.recon.ordersReceived;
  return (
    <Text as="p" tone="subdued">
      {missing > 0
        ? `${formatNumber(missing)} of Shopify's orders have not reached the app yet: orders waiting for payment, or whose notification is late. The app reads recent orders back from Shopify regularly.`
        : "Every order in Shopify reached the app."}{" "}
      {`Shopify counted at ${formatDateTime(s.checkedAt)}.`}
    </Text>
  );
}

function ValueCard({ d }: { d: Data }) {
  return (
    <Card>
      <BlockStack gap="300">
        <BlockStack gap="100">
          <Text as="h3" variant="headingMd">
            Value sent and refunded · {d.windows[d.window].label.toLowerCase()}
          </Text>
          <Text as="p" tone="subdued">
            Purchases Meta accepted in this period, and the refunds made in it
            on orders whose purchase was sent. Meta has no refund event: it
            keeps counting the value sent.
          </Text>
        </BlockStack>
        {d.values.length === 0 ? (
          <Text as="p" tone="subdued">
            No purchase sent or refunded in this period.
          </Text>
        ) : (
          <ScrollableTable
            label="Value sent and refunded"
            columnContentTypes={["text", "numeric", "numeric", "numeric"]}
            headings={["Currency", "Value sent", "Value refunded", "Net"]}
            rows={d.values.map((v) => [
              v.currency,
              `${formatMoney(v.sent, v.currency)} (${formatNumber(v.purchases)})`,
              `${formatMoney(v.refunded, v.currency)} (${formatNumber(v.refunds)})`,
              formatMoney(v.net, v.currency),
            ])}
          />
        )}
      </BlockStack>
    </Card>
  );
}

function KeptBackCard({ d }: { d: Data }) {
  const k = d.keptBack;
  const total = k.pos + k.draft;
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h3" variant="headingMd">
          In-store and draft orders not sent
        </Text>
        <Text as="p" variant="heading2xl">
          {formatNumber(total)}
        </Text>
        <Text as="p" tone="subdued">
          {total
            ? `${formatNumber(k.pos)} point-of-sale and ${formatNumber(k.draft)} draft orders in this period were kept back by your consent policy: no storefront pixel runs for them, so no shopper's choice is recorded${k.consentPolicy === "strict" ? ", and the strict policy sends nothing without one." : ", and in an opt-in region (or where the region is unknown) that means not sent."}`
            : "No point-of-sale or draft order was kept back by your consent policy in this period."}
        </Text>
        <Link url={k.settingUrl}>
          {k.consentPolicy === "always"
            ? "Consent policy: Always send"
            : "Consent policy and opt-in regions"}
        </Link>
        {total > 0 && (
          <Text as="p" tone="subdued">
            “Always send (I have another legal basis)” would send such orders
            from then on
            {k.consentPolicy === "shopify_rules"
              ? ", as would taking their country out of the opt-in regions"
              : ""}
            ; the ones kept back stay unsent.
          </Text>
        )}
      </BlockStack>
    </Card>
  );
}

function SignalQuality({ d }: { d: Data }) {
  const [selected, setSelected] = useState(d.coverage[0]?.eventName ?? "");
  const [open, setOpen] = useState(false);
  const current =
    d.coverage.find((c) => c.eventName === selected) ?? d.coverage[0];
  const quality = new Map(d.coverage.map((c) => [c.eventName, c]));
  return (
    <Card>
      <BlockStack gap="400">
        <BlockStack gap="100">
          <Text as="h2" variant="headingMd">
            Signal quality · {d.windows[d.window].label.toLowerCase()}
          </Text>
          <Text as="p" tone="subdued">
            What reached Meta for each kind of event, and how well Meta can
            match it to people.
          </Text>
        </BlockStack>
        {d.counts.length === 0 ? (
          <Text as="p" tone="subdued">
            No events in this period yet.
          </Text>
        ) : (
          <ScrollableTable
            label="Events by type"
            columnContentTypes={[
              "text",
              "numeric",
              "numeric",
              "numeric",
              "numeric",
              "numeric",
              "text",
            ]}
            headings={[
              "Event",
              "Received",
              "Sent",
              "Waiting",
              "Not sent",
              "Failed / expired",
              "Est. match quality",
            ]}
            rows={d.counts.map((c) => {
              const g = c.groups;
              const q = quality.get(c.eventName);
              const reasons = Object.entries(c.notSentByReason)
                .map(([r, n]) => `${reasonLabel(r).label}: ${n}`)
                .join(" · ");
              return [
                <Link
                  key="event"
                  url={`/app/events?event=${c.eventName}`}
                  removeUnderline
                >
                  {eventLabel(c.eventName)}
                </Link>,
                formatNumber(c.received),
                formatNumber(g.sent),
                formatNumber(g.waiting),
                g.notSent ? (
                  <Tooltip content={reasons}>
                    <Text as="span">{formatNumber(g.notSent)}</Text>
                  </Tooltip>
                ) : (
                  "0"
                ),
                formatNumber(g.failed),
                q ? (
                  <InlineStack gap="200" blockAlign="center">
                    <Text as="span" fontWeight="semibold">
                      {q.score.toFixed(1)}
                    </Text>
                    <Badge tone={RATING[q.rating].tone}>
                      {RATING[q.rating].label}
                    </Badge>
                  </InlineStack>
                ) : (
                  <Text as="span" tone="subdued">
                    Nothing sent
                  </Text>
                ),
              ];
            })}
          />
        )}
        {current && (
          <>
            <Divider />
            <InlineStack align="space-between" blockAlign="end" gap="400">
              <BlockStack gap="100">
                <Text as="h3" variant="headingMd">
                  Customer information sent with each event
                </Text>
                <Text as="p" tone="subdued">
                  Share of {eventLabel(current.eventName).toLowerCase()} events
                  carrying each key
                  {current.sampled >= d.coverageSample
                    ? ` (the latest ${formatNumber(d.coverageSample)} sent)`
                    : ` (${formatNumber(current.sampled)} sent)`}
                  .
                </Text>
              </BlockStack>
              <Box minWidth="200px">
                <Select
                  label="Event"
                  labelInline
                  options={d.coverage.map((c) => ({
                    label: eventLabel(c.eventName),
                    value: c.eventName,
                  }))}
                  value={current.eventName}
                  onChange={setSelected}
                />
              </Box>
            </InlineStack>
            <ClientOnly fallback={<ChartPlaceholder height={380} />}>
              {() => (
                <CoverageChart
                  shares={current.shares}
                  label={eventLabel(current.eventName)}
                />
              )}
            </ClientOnly>
            <MissingKeys coverage={current} />
          </>
        )}
        <Box>
          <Button
            variant="plain"
            onClick={() => setOpen(!open)}
            disclosure={open ? "up" : "down"}
            ariaExpanded={open}
            ariaControls="match-quality-model"
          >
            How the match quality is estimated
          </Button>
          <Collapsible id="match-quality-model" open={open}>
            <Box paddingBlockStart="300">
              <BlockStack gap="200">
                <Text as="p">
                  Meta scores how well the customer information on your events
                  lets it find the matching account (Event Match Quality in
                  Events Manager). The app estimates that score from 0 to 10
                  from the share of events carrying each key, weighted by its
                  documented impact:
                </Text>
                <List>
                  <List.Item>
                    Email 3 · Phone 2 · Customer id 1.2 · Browser id (fbp) 1 ·
                    Ad click id (fbc) 0.9
                  </List.Item>
                  <List.Item>
                    IP address with browser user agent 0.8 (counted as a pair) ·
                    Address 0.7 · Name 0.4
                  </List.Item>
                  <List.Item>
                    Poor below 4, OK from 4, Good from 6, Great from 8.
                  </List.Item>
                </List>
                <Text as="p" tone="subdued">
                  It is an estimate to find gaps (for example orders without
                  email because the app has no access to customer data), not
                  Meta&apos;s own number.
                </Text>
              </BlockStack>
            </Box>
          </Collapsible>
        </Box>
      </BlockStack>
    </Card>
  );
}

/** Why the sampled events that lack a key lack it, from what the app recorded (decisions 150). */
function MissingKeys({ coverage }: { coverage: Data["coverage"][number] }) {
  const keys = (Object.keys(KEY_LABEL) as MatchKey[]).filter(
    (k) => coverage.missing[k],
  );
  if (keys.length === 0)
    return (
      <Text as="p" tone="subdued">
        Every one of these events carried every key.
      </Text>
    );
  const reasons = (Object.keys(MISSING_REASON_LABEL) as MissingReason[]).filter(
    (r) => keys.some((k) => coverage.missing[k]?.[r]),
  );
  return (
    <BlockStack gap="200">
      <Text as="h3" variant="headingSm">
        Why keys are missing
      </Text>
      <ScrollableTable
        label="Why keys are missing"
        columnContentTypes={["text", "numeric", "numeric", "text"]}
        headings={["Key", "Carried by", "Missing from", "Why"]}
        rows={keys.map((k) => {
          const byReason = coverage.missing[k] ?? {};
          const counts = reasons.filter((r) => byReason[r]);
          return [
            KEY_LABEL[k],
            formatPercent(coverage.shares[k]),
            formatNumber(counts.reduce((n, r) => n + (byReason[r] ?? 0), 0)),
            counts
              .map(
                (r) =>
                  `${MISSING_REASON_LABEL[r].label}: ${formatNumber(byReason[r] ?? 0)}`,
              )
              .join(" · "),
          ];
        })}
      />
      <List>
        {reasons.map((r) => (
          <List.Item key={r}>
            <Text as="span" fontWeight="semibold">
              {MISSING_REASON_LABEL[r].label}
            </Text>
            : {MISSING_REASON_LABEL[r].explanation}
          </List.Item>
        ))}
      </List>
      {coverage.ldu > 0 && (
        <Text as="p" tone="subdued">
          {formatNumber(coverage.ldu)} of these events went under Limited Data
          Use: Meta received their keys and restricts what it does with them.
        </Text>
      )}
    </BlockStack>
  );
}

/** The daily check's warnings (decisions 126, 127): a token about to stop, and another sender on the dataset. */
function CheckAlerts({ d }: { d: Data }) {
  const c = d.check;
  if (!c) return null;
  const token = d.health.pause ? undefined : TOKEN_WARNING[c.tokenStatus];
  return (
    <>
      {token && (
        <Banner
          tone={token.tone}
          title={token.title}
          action={{ content: "Save a new token", url: "/app/connect" }}
        >
          <BlockStack gap="200">
            <p>
              {c.tokenStatus === "expiring" && c.tokenExpiresAt
                ? `It stops working on ${formatDateTime(c.tokenExpiresAt)}. `
                : "Sending will pause at the next delivery. "}
              {NEW_TOKEN_FIX}
            </p>
            {c.tokenDetail && <p>Meta&apos;s answer: {c.tokenDetail}</p>}
          </BlockStack>
        </Banner>
      )}
      {c.senders.length > 0 && (
        <Banner
          tone="warning"
          title="Another integration seems to send the same events to your dataset"
        >
          <BlockStack gap="200">
            <p>
              Meta counted clearly more events than this app sent (at least{" "}
              {d.secondSender.ratio}× and {d.secondSender.minExtra} more in a
              day):
            </p>
            <List>
              {c.senders.slice(0, 6).map((f) => (
                <List.Item key={`${f.day}-${f.eventName}-${f.source}`}>
                  {f.day} · {eventLabel(f.eventName)} ·{" "}
                  {f.source === "server" ? "server" : "browser"}: Meta counted{" "}
                  {formatNumber(f.meta)}, this app {formatNumber(f.ours)}
                </List.Item>
              ))}
            </List>
            <p>
              Double counting inflates the conversions and revenue Meta reports,
              lowers the cost per purchase it shows and misleads campaign
              optimisation. To find the other sender: in Shopify, open Sales
              channels › Facebook &amp; Instagram › Settings › Data sharing and
              turn it off (or set it to Standard) for this dataset; look for a
              Meta pixel snippet in your theme (Online Store › Themes › Edit
              code, search for &quot;fbq(&quot;) or in another app; in Meta
              Events Manager › your dataset › Overview, the events list shows
              which integrations send each event.
            </p>
          </BlockStack>
        </Banner>
      )}
    </>
  );
}

/** Meta's own verdict (Dataset Quality API) beside the app's estimate (decisions 128). */
function MetaVerdict({ d }: { d: Data }) {
  const fetcher = useFetcher<typeof action>();
  const c = d.check;
  const checking = fetcher.state !== "idle";
  const failed =
    fetcher.data && "intent" in fetcher.data && !fetcher.data.ok
      ? fetcher.data.error
      : null;
  const estimate = new Map(d.coverage.map((q) => [q.eventName, q]));
  return (
    <Card>
      <BlockStack gap="400">
        <InlineStack align="space-between" blockAlign="center">
          <BlockStack gap="100">
            <Text as="h2" variant="headingMd">
              Meta&apos;s verdict
            </Text>
            <Text as="p" tone="subdued">
              {c
                ? `Checked ${formatDateTime(c.checkedAt)}. Checked once a day.`
                : "Not checked yet."}
            </Text>
          </BlockStack>
          <Button
            onClick={() =>
              fetcher.submit({ intent: "check_dataset" }, { method: "post" })
            }
            loading={checking}
            disabled={!d.health.connected}
          >
            Check now
          </Button>
        </InlineStack>
        {failed && <Banner tone="warning">{failed}</Banner>}
        {c && (
          <Labelled label="Access token">
            <Text as="p" variant="bodyMd">
              {tokenStatusText(c)}
            </Text>
          </Labelled>
        )}
        {c?.qualityError && <Banner tone="warning">{c.qualityError}</Banner>}
        {c?.sendersError && <Banner tone="warning">{c.sendersError}</Banner>}
        {c && c.quality.length > 0 && (
          <ScrollableTable
            label="Meta's verdict per event"
            columnContentTypes={[
              "text",
              "numeric",
              "numeric",
              "text",
              "numeric",
              "numeric",
              "text",
              "numeric",
            ]}
            headings={[
              "Event",
              "Meta's match quality",
              "App's estimate",
              "Keys Meta saw",
              "Event coverage",
              "Dedup key",
              "Freshness",
              "Additional conversions",
            ]}
            rows={c.quality.map((q) => [
              eventLabel(q.eventName),
              q.matchScore === null ? "–" : q.matchScore.toFixed(1),
              estimate.get(q.eventName)?.score.toFixed(1) ?? "–",
              Object.entries(q.keyCoverage)
                .map(([k, p]) => `${k} ${Math.round(p)}%`)
                .join(", ") || "–",
              q.eventCoverage === null ? "–" : `${q.eventCoverage}%`,
              q.dedupKeyCoverage === null ? "–" : `${q.dedupKeyCoverage}%`,
              q.freshness?.replaceAll("_", " ") ?? "–",
              q.additionalConversions === null
                ? "–"
                : `${q.additionalConversions}%`,
            ])}
          />
        )}
        {c && c.quality.length === 0 && !c.qualityError && (
          <Text as="p" tone="subdued">
            Meta has no verdict on this app&apos;s events yet.
          </Text>
        )}
      </BlockStack>
    </Card>
  );
}
