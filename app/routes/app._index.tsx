import { useEffect, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData } from "@remix-run/react";
import {
  Badge, Banner, BlockStack, Box, Button, ButtonGroup, Card, Collapsible, DataTable, Divider, InlineGrid, InlineStack,
  Layout, Link, List, Page, ProgressBar, Select, SkeletonBodyText, Text, Tooltip,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import vizStyles from "@shopify/polaris-viz/build/esm/styles.css?url";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop } from "../capi/shopConfig";
import { activeTestEventCode, isConnected } from "../capi/outbox";
import { parseSettings } from "../capi/settings";
import { classifyGraphError } from "../capi/graphErrors";
import { maskToken } from "../capi/tokenCrypto";
import {
  countsByEventName, dedupCoverage, eventsOverTime, groupCounts, keyCoverage, parseStatsWindow, reconciliation,
  RECONCILIATION_ALERT, STATS_WINDOWS, totalCounts, windowSince, COVERAGE_SAMPLE, type StatsWindow,
} from "../capi/stats";
import { syncWebPixel } from "../webPixel.server";
import { ClientOnly } from "../components/ClientOnly";
import { CoverageChart, EventsChart } from "../components/charts.client";
import { eventLabel, formatDateTime, formatNumber, formatPercent, RATING, reasonLabel, timeAgo } from "../components/labels";

export const links = () => [{ rel: "stylesheet", href: vizStyles }];

// What each pause reason means for the merchant: the dispatcher stores the error kind, the error table has the fix.
const PAUSE_KIND: Record<string, Parameters<typeof classifyGraphError>[0]> = {
  token: { code: 190 },
  permission: { code: 10 },
  wrong_pixel: { code: 100, subcode: 33 },
};
const TOKEN_KEY_PAUSE = {
  title: "The app can no longer read the saved access token",
  fix: "Paste your Meta access token again on the Connect page. Your events are kept and go out as soon as it is saved.",
};

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  // The layout's loader (app.tsx) reconciles the web pixel on admin load (decisions 18).
  const shop = await ensureShop(prisma, session.shop);
  const now = new Date();

  const window = parseStatsWindow(new URL(request.url).searchParams.get("window"));
  const since = windowSince(window, now);
  const settings = parseSettings(shop.settings);
  const counts = await countsByEventName(prisma, shop.id, since);
  const [series, coverage, dedup, recon, waiting] = await Promise.all([
    eventsOverTime(prisma, shop.id, window, now),
    keyCoverage(prisma, shop.id, since, counts.filter((c) => c.byStatus.sent > 0).map((c) => c.eventName)),
    dedupCoverage(prisma, shop.id, since),
    reconciliation(prisma, shop, windowSince(RECONCILIATION_ALERT.window, now)),
    prisma.outboxEvent.aggregate({ where: { shopId: shop.id, status: { in: ["held", "pending", "sending"] } }, _count: { _all: true }, _min: { receivedAt: true } }),
  ]);

  const pauseInput = shop.pausedReason ? PAUSE_KIND[shop.pausedReason] : undefined;
  const pause = shop.pausedReason
    ? pauseInput
      ? { title: classifyGraphError(pauseInput).title, fix: classifyGraphError(pauseInput).fix }
      : shop.pausedReason === "token_key"
        ? TOKEN_KEY_PAUSE
        : { title: "Sending is paused", fix: "Open the Connect page and save your connection again." }
    : null;
  const testCode = activeTestEventCode(shop, settings, now);
  const total = totalCounts(counts);

  return {
    window,
    health: {
      connected: isConnected(shop),
      pixelId: shop.pixelId,
      pixelName: shop.pixelName,
      tokenMasked: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
      tokenProblem: shop.pausedReason === "token" || shop.pausedReason === "token_key",
      pause,
      pausedAt: shop.pausedAt?.toISOString() ?? null,
      lastDeliveryAt: shop.lastDeliveryAt?.toISOString() ?? null,
      lastDeliveryAgo: timeAgo(shop.lastDeliveryAt?.toISOString() ?? null, now),
      webPixel: { active: Boolean(shop.webPixelId) && !shop.webPixelError, error: shop.webPixelError },
      browserPixel: settings.browserPixel,
      testMode: testCode
        ? { expiresAt: new Date((shop.testEventCodeSetAt?.getTime() ?? now.getTime()) + settings.testEventCodeTtlHours * 3_600_000).toISOString() }
        : null,
      waiting: waiting._count._all,
      oldestWaitingAgo: timeAgo(waiting._min.receivedAt?.toISOString() ?? null, now),
    },
    totals: { received: total.received, ...groupCounts(total), ldu: total.ldu },
    counts,
    series,
    coverage,
    dedup,
    recon,
  };
};

export const action = async ({ request }: ActionFunctionArgs) => {
  const { session, admin } = await authenticate.admin(request);
  const form = await request.formData();
  if (form.get("intent") !== "reconnect_pixel") return Response.json({ error: "Unknown action." }, { status: 400 });
  const shop = await ensureShop(prisma, session.shop);
  const result = await syncWebPixel(shop, admin.graphql);
  return { intent: "reconnect_pixel" as const, ok: result.ok, error: result.error ?? null };
};

type Data = ReturnType<typeof useLoaderData<typeof loader>>;

export default function Home() {
  const d = useLoaderData<typeof loader>();
  return (
    <Page title="Meta Conversions API" subtitle="Is tracking working, how good is the signal, and what to fix." primaryAction={{ content: "Event log", url: "/app/events" }} secondaryActions={[{ content: "Settings", url: "/app/settings" }]}>
      <BlockStack gap="500">
        <Alerts d={d} />
        <HealthCard d={d} />
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingLg">Activity</Text>
          <ButtonGroup variant="segmented">
            {(Object.keys(STATS_WINDOWS) as StatsWindow[]).map((w) => (
              <Button key={w} url={`/app?window=${w}`} pressed={d.window === w}>
                {STATS_WINDOWS[w].label}
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
                  <Text as="h3" variant="headingMd">Events {STATS_WINDOWS[d.window].bucketHours === 24 ? "per day" : `per ${STATS_WINDOWS[d.window].bucketHours} hours`}</Text>
                  <Text as="span" tone="subdued">UTC</Text>
                </InlineStack>
                <ClientOnly fallback={<ChartPlaceholder height={280} />}>
                  {() => <EventsChart buckets={d.series} hourly={STATS_WINDOWS[d.window].bucketHours < 24} />}
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
        <SignalQuality d={d} />
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
  const result = fetcher.data && "intent" in fetcher.data ? fetcher.data : null;
  useEffect(() => {
    if (result?.ok) shopify.toast.show("Storefront pixel connected");
  }, [result, shopify]);
  const reconnect = () => fetcher.submit({ intent: "reconnect_pixel" }, { method: "post" });
  return (
    <>
      {!h.connected && (
        <Banner tone="warning" title="Not connected to Meta yet" action={{ content: "Connect Meta", url: "/app/connect" }}>
          <p>Orders are recorded (hashed) but not sent until you connect your Meta dataset. Recent ones can be sent once you connect.</p>
        </Banner>
      )}
      {h.pause && (
        <Banner tone="critical" title={`Sending to Meta is paused: ${h.pause.title}`} action={{ content: "Fix the connection", url: "/app/connect" }}>
          <BlockStack gap="200">
            <p>{h.pause.fix}</p>
            <p>
              {h.waiting > 0 ? `${formatNumber(h.waiting)} events are waiting and ` : "Events "}
              go out as soon as the connection works{h.pausedAt ? ` (paused since ${formatDateTime(h.pausedAt)})` : ""}.
            </p>
          </BlockStack>
        </Banner>
      )}
      {!h.webPixel.active && (
        <Banner
          tone="warning"
          title="The storefront pixel is not connected"
          action={{ content: "Reconnect pixel", onAction: reconnect, loading: fetcher.state !== "idle" }}
        >
          <BlockStack gap="200">
            <p>Without it, browser events (page views, add to cart) and the browser half of each purchase are missing, so Meta matches and deduplicates fewer orders. Orders are still sent from the server.</p>
            {result && !result.ok && <p>Shopify answered: {result.error}</p>}
            {!result && h.webPixel.error && <p>Last attempt: {h.webPixel.error}</p>}
          </BlockStack>
        </Banner>
      )}
      {h.testMode && (
        <Banner tone="info" title="Test mode is on">
          <p>
            Events also show in Meta Events Manager › Test events, and test orders are sent. The test code switches itself off at{" "}
            {formatDateTime(h.testMode.expiresAt)}, so test mode cannot leak into production.
          </p>
        </Banner>
      )}
      {d.recon.alert && (
        <Banner tone="critical" title={`Only ${formatPercent(d.recon.acceptedShare)} of orders reached Meta in the ${STATS_WINDOWS[RECONCILIATION_ALERT.window].label.toLowerCase()}`} action={{ content: "See the failed orders", url: "/app/events?event=Purchase&status=failed" }}>
          <p>
            Below {formatPercent(RECONCILIATION_ALERT.minShare)} of the orders that should have been sent were accepted. Open the failed events:
            each one explains what Meta refused and how to fix it.
          </p>
        </Banner>
      )}
    </>
  );
}

function HealthItem({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <BlockStack gap="100">
      <Text as="h3" variant="bodySm" tone="subdued">{label}</Text>
      {children}
    </BlockStack>
  );
}

function HealthCard({ d }: { d: Data }) {
  const h = d.health;
  return (
    <Card>
      <BlockStack gap="400">
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingMd">Connection</Text>
          {h.connected && !h.pause ? <Badge tone="success">Sending to Meta</Badge> : h.pause ? <Badge tone="critical">Paused</Badge> : <Badge tone="attention">Not connected</Badge>}
        </InlineStack>
        <InlineGrid columns={{ xs: 1, sm: 2, md: 4 }} gap="400">
          <HealthItem label="Meta dataset (pixel)">
            <Text as="p" variant="bodyMd" fontWeight="semibold">{h.connected ? (h.pixelName ?? h.pixelId) : "Not connected"}</Text>
            {h.connected && h.pixelName && <Text as="p" tone="subdued">ID {h.pixelId}</Text>}
            <Link url="/app/connect">{h.connected ? "Manage connection" : "Connect Meta"}</Link>
          </HealthItem>
          <HealthItem label="Access token">
            {h.tokenMasked ? (
              <>
                <InlineStack gap="200" blockAlign="center">
                  <Text as="p" variant="bodyMd" fontWeight="semibold">{h.tokenMasked}</Text>
                  {h.tokenProblem ? <Badge tone="critical">Invalid</Badge> : <Badge tone="success">Working</Badge>}
                </InlineStack>
                <Text as="p" tone="subdued">{h.tokenProblem ? "Paste a new token on the Connect page." : "Checked with every delivery."}</Text>
              </>
            ) : (
              <Text as="p" tone="subdued">None saved</Text>
            )}
          </HealthItem>
          <HealthItem label="Last delivery to Meta">
            <Text as="p" variant="bodyMd" fontWeight="semibold">{h.lastDeliveryAgo ?? "None yet"}</Text>
            {h.lastDeliveryAt && <Text as="p" tone="subdued">{formatDateTime(h.lastDeliveryAt)}</Text>}
            <Text as="p" tone="subdued">
              {h.waiting > 0 ? `${formatNumber(h.waiting)} waiting (oldest ${h.oldestWaitingAgo})` : "Nothing waiting"}
            </Text>
          </HealthItem>
          <HealthItem label="Storefront pixel">
            <InlineStack gap="200" blockAlign="center">
              <Text as="p" variant="bodyMd" fontWeight="semibold">{h.webPixel.active ? "Connected" : "Not connected"}</Text>
              {h.webPixel.active ? <Badge tone="success">Active</Badge> : <Badge tone="warning">Missing</Badge>}
            </InlineStack>
            <Text as="p" tone="subdued">{h.browserPixel ? "Also sends browser events to Meta" : "Browser events go through the server only"}</Text>
          </HealthItem>
        </InlineGrid>
      </BlockStack>
    </Card>
  );
}

function Stat({ label, value, help, tone, link }: { label: string; value: string; help?: string; tone?: "critical" | "success"; link?: string }) {
  return (
    <Card>
      <BlockStack gap="100">
        <Text as="h3" variant="bodySm" tone="subdued">{label}</Text>
        <Text as="p" variant="headingXl" tone={tone}>{value}</Text>
        {help && <Text as="p" variant="bodySm" tone="subdued">{help}</Text>}
        {link && <Link url={link} removeUnderline>View events</Link>}
      </BlockStack>
    </Card>
  );
}

function Totals({ d }: { d: Data }) {
  const t = d.totals;
  const share = t.received ? t.sent / t.received : null;
  return (
    <InlineGrid columns={{ xs: 2, md: 5 }} gap="400">
      <Stat label="Events received" value={formatNumber(t.received)} help="From orders and the storefront" />
      <Stat label="Sent to Meta" value={formatNumber(t.sent)} help={`${formatPercent(share)} of received${t.ldu ? ` · ${formatNumber(t.ldu)} with Limited Data Use` : ""}`} tone={t.sent ? "success" : undefined} link="/app/events?status=sent" />
      <Stat label="Waiting" value={formatNumber(t.waiting)} help="Queued or waiting for browser data" />
      <Stat label="Not sent (your rules)" value={formatNumber(t.notSent)} help="Consent, test orders, channels" link="/app/events?status=suppressed" />
      <Stat label="Failed or expired" value={formatNumber(t.failed)} help="Each one explains itself" tone={t.failed ? "critical" : undefined} link="/app/events?status=failed" />
    </InlineGrid>
  );
}

function DedupCard({ d }: { d: Data }) {
  const x = d.dedup;
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h3" variant="headingMd">Deduplication</Text>
        <Text as="p" variant="heading2xl">{formatPercent(x.share)}</Text>
        <ProgressBar progress={Math.round((x.share ?? 0) * 100)} tone={x.share !== null && x.share < 0.5 ? "critical" : "success"} size="small" />
        <Text as="p" tone="subdued">
          {x.purchasesSent
            ? `${formatNumber(x.withBrowserEvent)} of ${formatNumber(x.purchasesSent)} purchases sent also came from the shopper's browser with the same event id, so Meta counts each of them once.`
            : "No purchase sent in this period yet."}
        </Text>
        {x.share !== null && x.share < 0.5 && (
          <Text as="p" tone="subdued">Low coverage usually means the storefront pixel is missing, or blocked before consent.</Text>
        )}
      </BlockStack>
    </Card>
  );
}

function ReconciliationCard({ d }: { d: Data }) {
  const r = d.recon;
  const reasons = Object.entries(r.notSentByReason).sort((a, b) => b[1] - a[1]);
  const row = (label: React.ReactNode, value: number, link?: string) => [label, link && value ? <Link url={link} removeUnderline>{formatNumber(value)}</Link> : formatNumber(value)];
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center">
          <BlockStack gap="100">
            <Text as="h3" variant="headingMd">Orders vs Meta · {STATS_WINDOWS[RECONCILIATION_ALERT.window].label.toLowerCase()}</Text>
            <Text as="p" tone="subdued">Every order Shopify sent the app, and what became of its Purchase event.</Text>
          </BlockStack>
          <Tooltip content={`Accepted ÷ orders that should have reached Meta (not counting orders waiting or not sent on purpose). An alert shows below ${formatPercent(RECONCILIATION_ALERT.minShare)} once there are at least ${RECONCILIATION_ALERT.minOrders} such orders.`}>
            <Badge tone={r.acceptedShare === null ? undefined : r.alert ? "critical" : "success"}>{`${formatPercent(r.acceptedShare)} accepted`}</Badge>
          </Tooltip>
        </InlineStack>
        <DataTable
          columnContentTypes={["text", "numeric"]}
          headings={["", "Orders"]}
          rows={[
            row(<Text as="span" fontWeight="semibold">Orders received</Text>, r.ordersReceived, "/app/events?event=Purchase"),
            row("Accepted by Meta", r.accepted, "/app/events?event=Purchase&status=sent"),
            row("Waiting to be sent", r.waiting, "/app/events?event=Purchase&status=waiting"),
            row("Not sent on purpose", r.notSent, "/app/events?event=Purchase&status=suppressed"),
            ...reasons.map(([reason, n]) => row(<Box paddingInlineStart="400"><Tooltip content={reasonLabel(reason).explanation}><Text as="span" tone="subdued">{reasonLabel(reason).label}</Text></Tooltip></Box>, n, `/app/events?event=Purchase&status=suppressed&reason=${reason}`)),
            row("Rejected by Meta", r.failed, "/app/events?event=Purchase&status=failed"),
            row("Too old for Meta", r.expired, "/app/events?event=Purchase&status=expired"),
            row("Could not be read", r.unreadable),
          ]}
        />
      </BlockStack>
    </Card>
  );
}

function SignalQuality({ d }: { d: Data }) {
  const [selected, setSelected] = useState(d.coverage[0]?.eventName ?? "");
  const [open, setOpen] = useState(false);
  const current = d.coverage.find((c) => c.eventName === selected) ?? d.coverage[0];
  const quality = new Map(d.coverage.map((c) => [c.eventName, c]));
  return (
    <Card>
      <BlockStack gap="400">
        <BlockStack gap="100">
          <Text as="h2" variant="headingMd">Signal quality · {STATS_WINDOWS[d.window].label.toLowerCase()}</Text>
          <Text as="p" tone="subdued">What reached Meta for each kind of event, and how well Meta can match it to people.</Text>
        </BlockStack>
        {d.counts.length === 0 ? (
          <Text as="p" tone="subdued">No events in this period yet.</Text>
        ) : (
          <DataTable
            columnContentTypes={["text", "numeric", "numeric", "numeric", "numeric", "numeric", "text"]}
            headings={["Event", "Received", "Sent", "Waiting", "Not sent", "Failed / expired", "Est. match quality"]}
            rows={d.counts.map((c) => {
              const g = groupCounts(c);
              const q = quality.get(c.eventName);
              const reasons = Object.entries(c.notSentByReason).map(([r, n]) => `${reasonLabel(r).label}: ${n}`).join(" · ");
              return [
                <Link url={`/app/events?event=${c.eventName}`} removeUnderline>{eventLabel(c.eventName)}</Link>,
                formatNumber(c.received),
                formatNumber(g.sent),
                formatNumber(g.waiting),
                g.notSent ? <Tooltip content={reasons}><Text as="span">{formatNumber(g.notSent)}</Text></Tooltip> : "0",
                formatNumber(g.failed),
                q ? (
                  <InlineStack gap="200" blockAlign="center">
                    <Text as="span" fontWeight="semibold">{q.score.toFixed(1)}</Text>
                    <Badge tone={RATING[q.rating].tone}>{RATING[q.rating].label}</Badge>
                  </InlineStack>
                ) : (
                  <Text as="span" tone="subdued">Nothing sent</Text>
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
                <Text as="h3" variant="headingMd">Customer information sent with each event</Text>
                <Text as="p" tone="subdued">
                  Share of {eventLabel(current.eventName).toLowerCase()} events carrying each key
                  {current.sampled >= COVERAGE_SAMPLE ? ` (the latest ${formatNumber(COVERAGE_SAMPLE)} sent)` : ` (${formatNumber(current.sampled)} sent)`}.
                </Text>
              </BlockStack>
              <Box minWidth="200px">
                <Select
                  label="Event"
                  labelInline
                  options={d.coverage.map((c) => ({ label: eventLabel(c.eventName), value: c.eventName }))}
                  value={current.eventName}
                  onChange={setSelected}
                />
              </Box>
            </InlineStack>
            <ClientOnly fallback={<ChartPlaceholder height={380} />}>
              {() => <CoverageChart shares={current.shares} label={eventLabel(current.eventName)} />}
            </ClientOnly>
          </>
        )}
        <Box>
          <Button variant="plain" onClick={() => setOpen(!open)} disclosure={open ? "up" : "down"} ariaExpanded={open} ariaControls="match-quality-model">
            How the match quality is estimated
          </Button>
          <Collapsible id="match-quality-model" open={open}>
            <Box paddingBlockStart="300">
              <BlockStack gap="200">
                <Text as="p">
                  Meta scores how well the customer information on your events lets it find the matching account (Event Match Quality in Events Manager). The app
                  estimates that score from 0 to 10 from the share of events carrying each key, weighted by its documented impact:
                </Text>
                <List>
                  <List.Item>Email 3 · Phone 2 · Customer id 1.2 · Browser id (fbp) 1 · Ad click id (fbc) 0.9</List.Item>
                  <List.Item>IP address with browser user agent 0.8 (counted as a pair) · Address 0.7 · Name 0.4</List.Item>
                  <List.Item>Poor below 4, OK from 4, Good from 6, Great from 8.</List.Item>
                </List>
                <Text as="p" tone="subdued">
                  It is an estimate to find gaps (for example orders without email because the app has no access to customer data), not Meta's own number.
                </Text>
              </BlockStack>
            </Box>
          </Collapsible>
        </Box>
      </BlockStack>
    </Card>
  );
}
