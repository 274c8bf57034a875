import { useEffect } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData, useRevalidator } from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Box,
  Card,
  InlineStack,
  Layout,
  Link,
  Page,
  Text,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import { authenticate } from "../shopify.server";
import prisma, { outbox } from "../db.server";
import { wakeDispatcher } from "../runtime.server";
import { ensureShop } from "../core/shops";
import {
  errorOf,
  findEvent,
  isReplayable,
  payloadAsSent,
  purchaseDrift,
  replayEvents,
  valueMismatch,
} from "../core/insights";
import { Labelled, TitledCard } from "../components/Section";
import { ScrollableTable } from "../components/ScrollableTable";
import { StatusBadge } from "../components/StatusBadge";
import {
  eventLabel,
  formatDateTimeSeconds,
  formatMoney,
  formatNumber,
  reasonLabel,
  VALUE_MISMATCH_LABEL,
  valueMismatchText,
} from "../components/labels";
import { pageTitle } from "../components/title";

// One event, as Meta got it: where it is in its life, the payload exactly as sent (hashes only), Meta's answer,
// and for a failure the error in plain words with the fix.

export const meta = pageTitle("Event");

export const loader = async ({ request, params }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const row = await findEvent(prisma, shop.id, params.id ?? "");
  if (!row)
    throw new Response(
      "This event does not exist in your store's log (it may have been pruned after the retention period).",
      { status: 404 },
    );
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const meta = row.metaResponse as {
    events_received?: number;
    fbtrace_id?: string | null;
    batch_size?: number;
  } | null;
  return {
    id: row.id,
    eventName: row.eventName,
    eventId: row.eventId,
    source: row.source,
    status: row.status,
    reason: row.suppressReason
      ? { code: row.suppressReason, ...reasonLabel(row.suppressReason) }
      : null,
    actionSource: row.actionSource,
    eventTime: row.eventTime.toISOString(),
    orderName: row.orderName,
    orderId: row.orderId,
    receivedAt: row.receivedAt.toISOString(),
    holdUntil: iso(row.holdUntil),
    releasedAt: iso(row.releasedAt),
    sentAt: iso(row.sentAt),
    finalAt: iso(row.finalAt),
    browserSeenAt: iso(row.browserSeenAt),
    attempts: row.attempts,
    ambiguousSends: row.ambiguousSends,
    lduApplied: row.lduApplied,
    payload: JSON.stringify(payloadAsSent(row), null, 2),
    error: errorOf(row),
    metaResponse: meta
      ? {
          eventsReceived: meta.events_received ?? null,
          fbtraceId: meta.fbtrace_id ?? null,
          batchSize: meta.batch_size ?? null,
        }
      : null,
    replayable: isReplayable(row),
    // decisions 72: the order as it is now beside what Meta got.
    drift: await purchaseDrift(prisma, row),
    valueMismatch: ((m) => m && valueMismatchText(m))(valueMismatch(row)),
  };
};

export const action = async ({ request, params }: ActionFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const form = await request.formData();
  if (form.get("intent") !== "replay")
    return Response.json({ error: "Unknown action." }, { status: 400 });
  const row = await findEvent(prisma, shop.id, params.id ?? "");
  if (!row) throw new Response("Not found", { status: 404 });
  const result = await replayEvents(prisma, outbox(), shop.id, {
    ids: [row.id],
  });
  if (result.requeued) wakeDispatcher();
  return { requeued: result.requeued, outsideWindow: result.outsideWindow };
};

type Data = ReturnType<typeof useLoaderData<typeof loader>>;
const WAITING = ["held", "pending", "sending"];

export default function EventPage() {
  const d = useLoaderData<typeof loader>();
  const replay = useFetcher<typeof action>();
  const revalidator = useRevalidator();
  const shopify = useAppBridge();
  const replayed =
    replay.data && "requeued" in replay.data ? replay.data : null;

  // Follow the event while it is on its way: the page refreshes until it is sent, rejected or expired.
  const waiting = WAITING.includes(d.status);
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(
      () => revalidator.state === "idle" && revalidator.revalidate(),
      1500,
    );
    return () => clearInterval(timer);
  }, [waiting, revalidator]);
  useEffect(() => {
    if (replayed?.requeued) shopify.toast.show("Event re-queued for Meta");
  }, [replayed, shopify]);

  return (
    <Page
      title={`${eventLabel(d.eventName)}${d.orderName ? ` · order ${d.orderName}` : ""}`}
      titleMetadata={<StatusBadge status={d.status} />}
      subtitle={`Event id ${d.eventId}`}
      backAction={{ content: "Event log", url: "/app/events" }}
      primaryAction={
        d.replayable
          ? {
              content: "Replay",
              loading: replay.state !== "idle",
              onAction: () =>
                replay.submit({ intent: "replay" }, { method: "post" }),
              helpText:
                "Sends it to Meta again with the same event id, so Meta counts it once. The shopper's IP address and browser were deleted when it failed, so it goes without them.",
            }
          : undefined
      }
    >
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {replayed && replayed.requeued === 0 && (
              <Banner tone="warning" title="This event cannot be replayed">
                <p>
                  It is older than Meta&apos;s window (7 days; 62 for in-store
                  sales): Meta would reject it.
                </p>
              </Banner>
            )}
            {replayed && replayed.requeued > 0 && waiting && (
              <Banner
                tone="info"
                title="Replaying: the event is on its way to Meta…"
              />
            )}
            {d.valueMismatch && (
              <Banner tone="warning" title={VALUE_MISMATCH_LABEL}>
                <p data-value-mismatch>{d.valueMismatch}</p>
              </Banner>
            )}
            <MetaAnswer d={d} />
            <DriftCard d={d} />
            <Timeline d={d} />
            <TitledCard title="Payload as sent to Meta">
              <Text as="p" tone="subdued">
                Customer information is normalised and hashed (SHA-256) before
                it is stored. Meta needs the shopper&apos;s IP address and
                browser user agent unhashed: the app deletes them as soon as the
                event is delivered, rejected or expired.
              </Text>
              <Box
                background="bg-surface-secondary"
                padding="400"
                borderRadius="200"
              >
                <pre
                  data-payload
                  role="region"
                  // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex -- a scrolling region takes focus, or a keyboard cannot scroll it (axe-core's scrollable-region-focusable)
                  tabIndex={0}
                  aria-label="Payload as sent to Meta"
                  style={{
                    margin: 0,
                    overflowX: "auto",
                    fontFamily:
                      "ui-monospace, SFMono-Regular, Menlo, monospace",
                    fontSize: 12,
                    lineHeight: "18px",
                    whiteSpace: "pre",
                  }}
                >
                  {d.payload}
                </pre>
              </Box>
            </TitledCard>
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Details d={d} />
        </Layout.Section>
      </Layout>
      <Box paddingBlockEnd="800" />
    </Page>
  );
}

function DriftCard({ d }: { d: Data }) {
  const x = d.drift;
  if (!x) return null;
  const money = (v: number | null, c: string | null) =>
    v === null ? "—" : formatMoney(v, c);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          The order changed after it was sent
        </Text>
        <Text as="p" tone="subdued">
          Meta keeps the purchase as it was sent: the app sends nothing again
          when an order is edited, upsold or refunded.
        </Text>
        <ScrollableTable
          label="Sent to Meta and the order now"
          columnContentTypes={["text", "numeric", "numeric"]}
          headings={["", "Sent to Meta", "The order now"]}
          rows={[
            [
              "Value",
              money(x.sent.value, x.sent.currency),
              money(x.now.value, x.now.currency),
            ],
            [
              "Items",
              formatNumber(x.sent.numItems),
              formatNumber(x.now.numItems),
            ],
            ...x.refunded.map((r) => [
              "Refunded",
              "",
              formatMoney(r.amount, r.currency),
            ]),
          ]}
        />
        {(x.added.length > 0 || x.removed.length > 0) && (
          <Text as="p" tone="subdued">
            {x.added.length > 0 && `Added since: ${x.added.join(", ")}. `}
            {x.removed.length > 0 &&
              `No longer in the order: ${x.removed.join(", ")}.`}
          </Text>
        )}
        {x.now.updatedAt && (
          <Text as="p" variant="bodySm" tone="subdued">
            Order last updated {formatDateTimeSeconds(x.now.updatedAt)}
          </Text>
        )}
      </BlockStack>
    </Card>
  );
}

function MetaAnswer({ d }: { d: Data }) {
  if (d.status === "sent") {
    return (
      <Banner tone="success" title="Accepted by Meta">
        <BlockStack gap="100">
          <p>
            Sent {d.sentAt ? formatDateTimeSeconds(d.sentAt) : ""}
            {d.metaResponse?.batchSize
              ? ` in a batch of ${formatNumber(d.metaResponse.batchSize)}; Meta confirmed ${formatNumber(d.metaResponse.eventsReceived ?? 0)} received.`
              : "."}
          </p>
          <TraceId id={d.metaResponse?.fbtraceId} />
        </BlockStack>
      </Banner>
    );
  }
  if (d.status === "suppressed" && d.reason) {
    return (
      <Banner
        tone="info"
        title={`Not sent to Meta: ${d.reason.label}`}
        action={
          d.reason.code === "not_connected"
            ? { content: "Open Connect Meta", url: "/app/connect" }
            : undefined
        }
      >
        <p>{d.reason.explanation}</p>
      </Banner>
    );
  }
  if (d.error) {
    const final = d.status === "failed" || d.status === "expired";
    return (
      <Banner
        tone={final ? "critical" : "warning"}
        title={
          final
            ? d.error.explanation.title
            : `Last attempt failed: ${d.error.explanation.title}`
        }
      >
        <BlockStack gap="200">
          <p>{d.error.explanation.fix}</p>
          {d.error.message && (
            <p>
              Meta said: “{d.error.message}”
              {d.error.code !== null
                ? ` (code ${d.error.code}${d.error.subcode !== null ? `, subcode ${d.error.subcode}` : ""})`
                : ""}
            </p>
          )}
          <TraceId id={d.error.fbtraceId} />
          {!final && <p>The app retries automatically.</p>}
        </BlockStack>
      </Banner>
    );
  }
  return null;
}

/** Meta's reference for an answer, which its support asks for. */
function TraceId({ id }: { id: string | null | undefined }) {
  if (!id) return null;
  return (
    <p>
      Meta reference (fbtrace_id):{" "}
      <Text as="span" fontWeight="semibold">
        {id}
      </Text>
    </p>
  );
}

type Step = {
  title: string;
  at: string | null;
  text?: string;
  tone: "done" | "current" | "bad" | "neutral";
};

function steps(d: Data): Step[] {
  const out: Step[] = [
    {
      title:
        d.source === "webhook"
          ? "Received from Shopify (order webhook)"
          : "Received from the storefront pixel",
      at: d.receivedAt,
      tone: "done",
    },
  ];
  if (d.holdUntil || (d.source === "webhook" && d.releasedAt)) {
    out.push(
      d.status === "held"
        ? {
            title: "Waiting for the shopper's browser data",
            at: null,
            text: `Cookies and consent from the thank-you page join the order; it goes at the latest ${formatDateTimeSeconds(d.holdUntil!)}.`,
            tone: "current",
          }
        : {
            title: "Browser data and consent checked",
            at: d.releasedAt,
            text: d.browserSeenAt
              ? "The browser's event (same event id) arrived: Meta can deduplicate."
              : "Released with what the order carried.",
            tone: "done",
          },
    );
  }
  if (d.lduApplied)
    out.push({
      title: "Limited Data Use applied",
      at: null,
      text: "Sent with Meta's Limited Data Use flag, as US state privacy laws require for this shopper.",
      tone: "done",
    });
  if (d.attempts > 1 || d.ambiguousSends > 0) {
    out.push({
      title: `${formatNumber(d.attempts)} delivery attempt${d.attempts === 1 ? "" : "s"}`,
      at: null,
      text: d.ambiguousSends
        ? `${formatNumber(d.ambiguousSends)} resend${d.ambiguousSends === 1 ? "" : "s"} after an unclear answer from Meta (the same event id keeps it counted once).`
        : undefined,
      tone: "neutral",
    });
  }
  switch (d.status) {
    case "pending":
    case "sending":
      out.push({
        title: d.status === "sending" ? "Sending to Meta" : "Queued for Meta",
        at: null,
        tone: "current",
      });
      break;
    case "sent":
      out.push({ title: "Accepted by Meta", at: d.sentAt, tone: "done" });
      break;
    case "failed":
      out.push({
        title: "Rejected by Meta",
        at: d.finalAt,
        text: d.error?.explanation.title,
        tone: "bad",
      });
      break;
    case "expired":
      out.push({
        title: "Too old for Meta",
        at: d.finalAt,
        text: "Meta accepts events up to 7 days old (62 days for in-store sales).",
        tone: "bad",
      });
      break;
    case "suppressed":
      out.push({
        title: `Not sent: ${d.reason?.label ?? "by a rule"}`,
        at: d.finalAt,
        tone: "neutral",
      });
      break;
  }
  return out;
}

const DOT: Record<Step["tone"], string> = {
  done: "var(--p-color-bg-fill-success)",
  current: "var(--p-color-bg-fill-info)",
  bad: "var(--p-color-bg-fill-critical)",
  neutral: "var(--p-color-bg-fill-tertiary-active)",
};

function Timeline({ d }: { d: Data }) {
  const list = steps(d);
  return (
    <TitledCard title="Timeline">
      <ol style={{ listStyle: "none", margin: 0, padding: 0 }} data-timeline>
        {list.map((s, i) => (
          <li
            key={s.title}
            style={{
              display: "flex",
              gap: 12,
              position: "relative",
              paddingBottom: i === list.length - 1 ? 0 : 16,
            }}
          >
            {i < list.length - 1 && (
              <span
                style={{
                  position: "absolute",
                  left: 5,
                  top: 14,
                  bottom: 0,
                  width: 2,
                  background: "var(--p-color-border)",
                }}
              />
            )}
            <span
              style={{
                flex: "none",
                width: 12,
                height: 12,
                marginTop: 4,
                borderRadius: "50%",
                background: DOT[s.tone],
              }}
            />
            <BlockStack gap="050">
              <Text as="p" fontWeight="semibold">
                {s.title}
              </Text>
              {s.at && (
                <Text as="p" variant="bodySm" tone="subdued">
                  {formatDateTimeSeconds(s.at)}
                </Text>
              )}
              {s.text && (
                <Text as="p" tone="subdued">
                  {s.text}
                </Text>
              )}
            </BlockStack>
          </li>
        ))}
      </ol>
    </TitledCard>
  );
}

function Details({ d }: { d: Data }) {
  const item = (label: string, value: React.ReactNode) => (
    <Labelled label={label} gap="050">
      <Text as="p" breakWord>
        {value}
      </Text>
    </Labelled>
  );
  return (
    <TitledCard title="Details">
      {item(
        "Event",
        eventLabel(d.eventName) === d.eventName
          ? d.eventName
          : `${eventLabel(d.eventName)} (${d.eventName})`,
      )}
      {item("Event id", d.eventId)}
      {item("Event time", formatDateTimeSeconds(d.eventTime))}
      {item("Action source", d.actionSource)}
      {d.orderName || d.orderId
        ? item(
            "Order",
            <Link
              url={`/app/events?order=${encodeURIComponent(d.orderName ?? d.orderId!)}`}
            >
              {d.orderName ?? d.orderId}
            </Link>,
          )
        : null}
      {d.eventName === "Purchase" && (
        <Labelled label="Browser counterpart" gap="050">
          <InlineStack>
            {d.browserSeenAt ? (
              <Badge tone="success">Seen: deduplicated</Badge>
            ) : (
              <Badge>Not seen</Badge>
            )}
          </InlineStack>
        </Labelled>
      )}
      {item("Delivery attempts", formatNumber(d.attempts))}
    </TitledCard>
  );
}
