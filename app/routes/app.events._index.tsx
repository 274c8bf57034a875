import { useEffect, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import {
  Form,
  useFetcher,
  useLoaderData,
  useNavigate,
  useNavigation,
  useRevalidator,
  useSearchParams,
} from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Box,
  Button,
  Card,
  IndexTable,
  InlineGrid,
  InlineStack,
  Link,
  Page,
  Pagination,
  ProgressBar,
  Select,
  Text,
  TextField,
  Tooltip,
  useIndexResourceState,
} from "@shopify/polaris";
import { authenticate } from "../shopify.server";
import prisma, { outbox } from "../db.server";
import { wakeDispatcher } from "../runtime.server";
import { ensureShop, sendTargets } from "../core/shops";
import {
  BULK_REPLAY_LIMIT,
  countReplayable,
  eventNamesOf,
  listEvents,
  parseEventFilter,
  replayEvents,
  replayProgress,
  STATUS_FILTERS,
  valueMismatch,
  type ReplayOutcome,
  type ReplayProgress,
} from "../core/insights";
import { classifyGraphError } from "../core/meta";
import { StatusBadge } from "../components/StatusBadge";
import {
  eventLabel,
  formatDateTime,
  formatNumber,
  reasonLabel,
  STATUS_LABEL,
  VALUE_MISMATCH_LABEL,
  valueMismatchText,
} from "../components/labels";
import { pageTitle } from "../components/title";

export const meta = pageTitle("Event log");

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const params = new URL(request.url).searchParams;
  const { filter, invalid } = parseEventFilter(params);
  const [page, eventNames, replayable, targets] = await Promise.all([
    listEvents(prisma, shop.id, filter, {
      after: params.get("after"),
      before: params.get("before"),
    }),
    eventNamesOf(prisma, shop.id),
    countReplayable(prisma, shop.id, filter),
    sendTargets(prisma, shop),
  ]);
  // With several datasets (decisions 130) the log says where each event went, and filters by dataset.
  const datasets =
    targets.length > 1
      ? targets.map((t) => ({
          id: t.id,
          label: `${t.pixelName ?? t.pixelId ?? "—"}${t.own ? " (yours)" : ""}`,
        }))
      : [];
  const datasetOf = (id: string | null) =>
    datasets.find((t) => t.id === (id ?? shop.id))?.label ?? null;
  return {
    // What the page offers, from the core (which stays out of the browser bundle).
    statusFilters: Object.keys(
      STATUS_FILTERS,
    ) as (keyof typeof STATUS_FILTERS)[],
    bulkReplayLimit: BULK_REPLAY_LIMIT,
    filter,
    invalid,
    eventNames,
    datasets,
    replayable,
    hasNext: page.hasNext,
    hasPrevious: page.hasPrevious,
    rows: page.rows.map((r) => {
      const mismatch = valueMismatch(r);
      return {
        id: r.id,
        eventName: r.eventName,
        source: r.source,
        status: r.status,
        order: r.orderName ?? (r.orderId ? `ID ${r.orderId}` : null),
        receivedAt: r.receivedAt.toISOString(),
        detail: rowDetail(r),
        // A row kept back before routing went nowhere.
        dataset:
          r.status === "suppressed" && !r.destinationId
            ? null
            : datasetOf(r.destinationId),
        valueMismatch: mismatch && valueMismatchText(mismatch),
      };
    }),
  };
};

function rowDetail(r: {
  status: string;
  suppressReason: string | null;
  lastErrorCode: number | null;
  lastErrorSubcode: number | null;
  lastErrorMessage: string | null;
  attempts: number;
}): string {
  if (r.status === "suppressed") return reasonLabel(r.suppressReason).label;
  if (r.status === "expired") return "Older than Meta's 7-day window";
  if (
    r.status === "failed" ||
    ((r.status === "pending" || r.status === "sending") && r.lastErrorMessage)
  ) {
    const info = classifyGraphError({
      code: r.lastErrorCode ?? undefined,
      subcode: r.lastErrorSubcode ?? undefined,
    });
    return r.status === "failed" ? info.title : `Retrying: ${info.title}`;
  }
  if (r.status === "held")
    return "Waiting up to a minute for the shopper's browser data";
  return "";
}

export type EventsAction =
  | ({ intent: "replay" } & ReplayOutcome)
  | ({ intent: "progress" } & ReplayProgress)
  | { intent: "error"; error: string };

export const action = async ({
  request,
}: ActionFunctionArgs): Promise<EventsAction> => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const form = await request.formData();
  const ids = String(form.get("ids") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  switch (form.get("intent")) {
    case "replay": {
      if (ids.length === 0)
        return { intent: "error", error: "Select the events to replay." };
      const result = await replayEvents(prisma, outbox(), shop.id, { ids });
      if (result.requeued) wakeDispatcher();
      return { intent: "replay", ...result };
    }
    case "replay_matching": {
      const { filter } = parseEventFilter(
        new URLSearchParams(String(form.get("filter") ?? "")),
      );
      const result = await replayEvents(prisma, outbox(), shop.id, { filter });
      if (result.requeued) wakeDispatcher();
      return { intent: "replay", ...result };
    }
    case "progress":
      return {
        intent: "progress",
        ...(await replayProgress(prisma, shop.id, ids)),
      };
    default:
      return { intent: "error", error: "Unknown action." };
  }
};

function statusOptions(filters: (keyof typeof STATUS_FILTERS)[]) {
  return [
    { label: "All statuses", value: "" },
    ...filters.map((value) => ({
      label: value === "waiting" ? "Waiting" : STATUS_LABEL[value].label,
      value,
    })),
  ];
}

export default function EventLog() {
  const d = useLoaderData<typeof loader>();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const loading = useNavigation().state === "loading";
  const replay = useFetcher<EventsAction>();
  const rows = d.rows;
  const {
    selectedResources,
    allResourcesSelected,
    handleSelectionChange,
    clearSelection,
  } = useIndexResourceState(rows);

  const outcome = replay.data?.intent === "replay" ? replay.data : null;
  useEffect(() => {
    if (outcome) clearSelection();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [outcome]);

  const go = (change: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(change))
      if (v === null) next.delete(k);
      else next.set(k, v);
    navigate(`/app/events?${next.toString()}`);
  };
  const filterQuery = (() => {
    const q = new URLSearchParams(params);
    q.delete("after");
    q.delete("before");
    return q.toString();
  })();
  const replayIds = (ids: string[]) =>
    replay.submit(
      { intent: "replay", ids: ids.join(",") },
      { method: "post", action: "/app/events?index" },
    );

  return (
    <Page
      title="Event log"
      subtitle="Every event the app received, what Meta answered, and why anything was not sent."
      backAction={{ content: "Home", url: "/app" }}
      primaryAction={
        d.replayable > 0
          ? {
              content: `Replay ${d.replayable > d.bulkReplayLimit ? `${formatNumber(d.bulkReplayLimit)} of ${formatNumber(d.replayable)}` : formatNumber(d.replayable)} failed`,
              loading: replay.state !== "idle",
              onAction: () =>
                replay.submit(
                  { intent: "replay_matching", filter: filterQuery },
                  { method: "post", action: "/app/events?index" },
                ),
              helpText:
                "Send failed and too-old events of this list again, with the same event ids.",
            }
          : undefined
      }
    >
      <BlockStack gap="400">
        {d.invalid.length > 0 && (
          <Banner tone="warning" title="Some filters were ignored">
            <ul>
              {d.invalid.map((i) => (
                <li key={i.field}>{i.message}</li>
              ))}
            </ul>
          </Banner>
        )}
        {replay.data?.intent === "error" && (
          <Banner tone="critical" title={replay.data.error} />
        )}
        {outcome && <ReplayBanner outcome={outcome} />}
        <Filters d={d} />
        <Card padding="0">
          {rows.length === 0 ? (
            <Box padding="800">
              <BlockStack gap="200" inlineAlign="center">
                <Text as="h2" variant="headingMd">
                  {Object.keys(d.filter).length
                    ? "No events match these filters"
                    : "No events yet"}
                </Text>
                <Text as="p" tone="subdued">
                  {Object.keys(d.filter).length
                    ? "Try another status, event or date."
                    : "Events appear here as soon as orders come in or shoppers browse your store."}
                </Text>
              </BlockStack>
            </Box>
          ) : (
            <IndexTable
              resourceName={{ singular: "event", plural: "events" }}
              itemCount={rows.length}
              selectedItemsCount={
                allResourcesSelected ? "All" : selectedResources.length
              }
              onSelectionChange={handleSelectionChange}
              loading={loading}
              promotedBulkActions={[
                {
                  content: "Replay selected",
                  onAction: () => replayIds(selectedResources),
                },
              ]}
              headings={[
                { title: "Received (UTC)" },
                { title: "Event" },
                { title: "Order" },
                { title: "Status" },
                { title: "Details" },
              ]}
            >
              {rows.map((r, i) => (
                <IndexTable.Row
                  id={r.id}
                  key={r.id}
                  position={i}
                  selected={selectedResources.includes(r.id)}
                >
                  <IndexTable.Cell>
                    <Link
                      dataPrimaryLink
                      url={`/app/events/${r.id}`}
                      removeUnderline
                      monochrome
                    >
                      <Text as="span" fontWeight="semibold">
                        {formatDateTime(r.receivedAt)}
                      </Text>
                    </Link>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <BlockStack gap="050">
                      <Text as="span">{eventLabel(r.eventName)}</Text>
                      <Text as="span" variant="bodySm" tone="subdued">
                        {r.source === "webhook"
                          ? "Server · order"
                          : "Storefront pixel"}
                      </Text>
                    </BlockStack>
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    {r.order ?? (
                      <Text as="span" tone="subdued">
                        —
                      </Text>
                    )}
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <StatusBadge status={r.status} />
                  </IndexTable.Cell>
                  <IndexTable.Cell>
                    <BlockStack gap="050" inlineAlign="start">
                      <Text as="span" tone="subdued">
                        {r.detail}
                      </Text>
                      {r.dataset && (
                        <Text as="span" variant="bodySm" tone="subdued">
                          To {r.dataset}
                        </Text>
                      )}
                      {r.valueMismatch && (
                        <Tooltip content={r.valueMismatch}>
                          <Badge tone="warning">{VALUE_MISMATCH_LABEL}</Badge>
                        </Tooltip>
                      )}
                    </BlockStack>
                  </IndexTable.Cell>
                </IndexTable.Row>
              ))}
            </IndexTable>
          )}
          {(d.hasNext || d.hasPrevious) && (
            <Box padding="300" borderBlockStartWidth="025" borderColor="border">
              <InlineStack align="center">
                <Pagination
                  hasPrevious={d.hasPrevious}
                  hasNext={d.hasNext}
                  onPrevious={() =>
                    go({ before: rows[0]?.id ?? null, after: null })
                  }
                  onNext={() =>
                    go({
                      after: rows[rows.length - 1]?.id ?? null,
                      before: null,
                    })
                  }
                />
              </InlineStack>
            </Box>
          )}
        </Card>
      </BlockStack>
      <Box paddingBlockEnd="800" />
    </Page>
  );
}

function Filters({
  d,
}: {
  d: ReturnType<typeof useLoaderData<typeof loader>>;
}) {
  const f = d.filter;
  const applied = {
    status: f.status ?? "",
    event: f.eventName ?? "",
    from: f.from ?? "",
    to: f.to ?? "",
    order: f.order ?? "",
    dataset: f.dataset ?? "",
  };
  const [values, setValues] = useState(applied);
  // The fields follow the filter in the address (after Clear, pagination, a link from Home).
  useEffect(() => {
    setValues(applied);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [f.status, f.eventName, f.from, f.to, f.order, f.dataset]);
  // "event" names no filter field, so its select never shows an error, as before.
  const field = (name: keyof typeof values) => ({
    name,
    value: values[name],
    onChange: (value: string) => setValues((v) => ({ ...v, [name]: value })),
    error: d.invalid.find((i) => i.field === name)?.message,
  });
  const dateField = (name: "from" | "to", label: string) => (
    <TextField label={label} type="date" autoComplete="off" {...field(name)} />
  );
  return (
    <Card>
      <Form method="get" action="/app/events">
        <BlockStack gap="300">
          <InlineGrid
            columns={{ xs: 1, sm: 2, md: d.datasets.length ? 6 : 5 }}
            gap="300"
          >
            <Select
              label="Status"
              options={statusOptions(d.statusFilters)}
              {...field("status")}
            />
            <Select
              label="Event"
              {...field("event")}
              options={[
                { label: "All events", value: "" },
                ...d.eventNames.map((n) => ({
                  label: eventLabel(n),
                  value: n,
                })),
              ]}
            />
            {dateField("from", "From (UTC)")}
            {dateField("to", "To (UTC)")}
            <TextField
              label="Order number"
              autoComplete="off"
              placeholder="#1001"
              {...field("order")}
            />
            {d.datasets.length > 0 && (
              <Select
                label="Dataset"
                {...field("dataset")}
                options={[
                  { label: "All datasets", value: "" },
                  ...d.datasets.map((t) => ({ label: t.label, value: t.id })),
                ]}
              />
            )}
          </InlineGrid>
          {f.reason && <input type="hidden" name="reason" value={f.reason} />}
          <InlineStack gap="200" align="end">
            {f.reason && (
              <Text as="span" tone="subdued">
                Only “{reasonLabel(f.reason).label}”
              </Text>
            )}
            <Button url="/app/events" variant="tertiary">
              Clear
            </Button>
            <Button submit variant="primary">
              Apply filters
            </Button>
          </InlineStack>
        </BlockStack>
      </Form>
    </Card>
  );
}

/** What a replay did, then where the replayed events are, polled until none is waiting. */
function ReplayBanner({
  outcome,
  action = "/app/events?index",
}: {
  outcome: ReplayOutcome;
  action?: string;
}) {
  const progress = useFetcher<EventsAction>();
  const revalidator = useRevalidator();
  const p = progress.data?.intent === "progress" ? progress.data : null;
  const done = p !== null && p.waiting === 0;
  const ids = outcome.ids.join(",");
  useEffect(() => {
    if (!ids || done) return;
    const timer = setTimeout(
      () =>
        progress.submit(
          { intent: "progress", ids },
          { method: "post", action },
        ),
      p ? 1500 : 300,
    );
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ids, done, p]);
  useEffect(() => {
    if (done) revalidator.revalidate();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [done]);

  const notes: string[] = [];
  if (outcome.outsideWindow) {
    notes.push(
      `${formatNumber(outcome.outsideWindow)} could not be replayed: older than Meta's window (7 days; 62 for in-store sales), so Meta would reject them.`,
    );
  }
  if (outcome.more)
    notes.push(
      `Only the first ${formatNumber(outcome.more)} were re-queued: replay again for the rest.`,
    );
  if (outcome.requeued === 0) {
    return (
      <Banner tone="warning" title="Nothing was replayed">
        <p>
          {notes[0] ??
            "Only events Meta rejected or that became too old can be replayed."}
        </p>
      </Banner>
    );
  }
  const finished = p ? p.sent + p.failed : 0;
  return (
    <Banner
      tone={done ? (p!.failed ? "warning" : "success") : "info"}
      title={
        done
          ? `Replay finished: ${formatNumber(p!.sent)} sent to Meta${p!.failed ? `, ${formatNumber(p!.failed)} rejected again` : ""}`
          : `Replaying ${formatNumber(outcome.requeued)} event${outcome.requeued === 1 ? "" : "s"} with their original event ids…`
      }
    >
      <BlockStack gap="200">
        <div data-replay-progress={done ? "done" : "running"}>
          <ProgressBar
            progress={p && p.total ? Math.round((finished / p.total) * 100) : 5}
            tone={done && p!.failed ? "critical" : "success"}
            size="small"
          />
        </div>
        {p && !done && (
          <Text as="p">{`${formatNumber(p.sent)} sent · ${formatNumber(p.waiting)} waiting · ${formatNumber(p.failed)} rejected again`}</Text>
        )}
        {notes.map((n) => (
          <Text as="p" key={n}>
            {n}
          </Text>
        ))}
      </BlockStack>
    </Banner>
  );
}
