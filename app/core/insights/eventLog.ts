import type { Db, OutboxEvent, Prisma } from "../db";
import type { CapiEvent } from "../wire";
import {
  EVENT_SUMMARY_SELECT,
  FINAL_STATUSES,
  isInsideWindow,
  type Outbox,
  type OutboxStatus,
  type ReplayResult,
} from "../outbox";
import { classifyGraphError, type GraphErrorInfo } from "../meta";

// The admin's event log: filtered, keyset-paginated lists of one shop's events, one event as it went to Meta, and
// replay. Every query takes the shop id first: nothing here can reach another shop's rows.

export const EVENT_LOG_PAGE_SIZE = 50;

/** Statuses a merchant can replay: Meta refused them, or they waited too long. `replay` keeps only those still in Meta's window. */
export const REPLAYABLE_STATUSES: OutboxStatus[] = ["failed", "expired"];

/** At most this many events are re-queued per bulk replay (the rest on the next click). */
export const BULK_REPLAY_LIMIT = 1000;

/** Filter values for the status select; "waiting" covers held, pending and sending. */
export const STATUS_FILTERS = {
  sent: ["sent"],
  waiting: ["held", "pending", "sending"],
  suppressed: ["suppressed"],
  failed: ["failed"],
  expired: ["expired"],
} as const satisfies Record<string, OutboxStatus[]>;
export type StatusFilter = keyof typeof STATUS_FILTERS;

export interface EventFilter {
  status?: StatusFilter;
  reason?: string;
  eventName?: string;
  /** UTC dates, inclusive, YYYY-MM-DD. */
  from?: string;
  to?: string;
  order?: string;
  /** One dataset's events (decisions 130): a Destination's id, or the shop's id for its own dataset. */
  dataset?: string;
}

export interface ParsedFilter {
  filter: EventFilter;
  /** Parameters that were present but unusable, with why: shown to the merchant, never silently dropped. */
  invalid: { field: keyof EventFilter; message: string }[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const NAME = /^[A-Za-z0-9_]{1,64}$/;

function isDate(value: string): boolean {
  return (
    DATE.test(value) &&
    !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
    new Date(`${value}T00:00:00Z`).toISOString().startsWith(value)
  );
}

export function parseEventFilter(params: URLSearchParams): ParsedFilter {
  const filter: EventFilter = {};
  const invalid: ParsedFilter["invalid"] = [];
  const get = (name: string) => params.get(name)?.trim() || "";

  const status = get("status");
  if (status) {
    if (status in STATUS_FILTERS) filter.status = status as StatusFilter;
    else
      invalid.push({
        field: "status",
        message: `Unknown status "${status.slice(0, 40)}".`,
      });
  }
  const reason = get("reason");
  if (reason) {
    if (NAME.test(reason)) filter.reason = reason;
    else invalid.push({ field: "reason", message: "Unknown reason." });
  }
  const eventName = get("event");
  if (eventName) {
    if (NAME.test(eventName)) filter.eventName = eventName;
    else
      invalid.push({
        field: "eventName",
        message: "Event names are letters, digits and underscores.",
      });
  }
  for (const field of ["from", "to"] as const) {
    const value = get(field);
    if (!value) continue;
    if (isDate(value)) filter[field] = value;
    else
      invalid.push({
        field,
        message: `"${value.slice(0, 40)}" is not a date (use YYYY-MM-DD).`,
      });
  }
  if (filter.from && filter.to && filter.from > filter.to) {
    invalid.push({
      field: "to",
      message: "The end date is before the start date.",
    });
    delete filter.to;
  }
  const dataset = get("dataset");
  if (dataset) {
    if (NAME.test(dataset)) filter.dataset = dataset;
    else invalid.push({ field: "dataset", message: "Unknown dataset." });
  }
  const order = get("order");
  if (order) {
    if (order.length <= 64) filter.order = order;
    else
      invalid.push({
        field: "order",
        message: "That order number is too long.",
      });
  }
  return { filter, invalid };
}

/** The where clause of a filter, always inside one shop. */
export function eventWhere(
  shopId: string,
  filter: EventFilter,
): Prisma.OutboxEventWhereInput {
  const where: Prisma.OutboxEventWhereInput = { shopId };
  if (filter.status) where.status = { in: [...STATUS_FILTERS[filter.status]] };
  if (filter.reason) where.suppressReason = filter.reason;
  if (filter.eventName) where.eventName = filter.eventName;
  if (filter.from || filter.to) {
    where.receivedAt = {
      ...(filter.from ? { gte: new Date(`${filter.from}T00:00:00Z`) } : {}),
      ...(filter.to
        ? {
            lt: new Date(
              new Date(`${filter.to}T00:00:00Z`).getTime() + 86_400_000,
            ),
          }
        : {}),
    };
  }
  if (filter.order) {
    // "#1001", "1001" or the order's id: Shopify shows the name, support tickets often quote the id.
    const bare = filter.order.replace(/^#/, "");
    where.OR = [
      { orderName: filter.order },
      { orderName: `#${bare}` },
      { orderId: bare },
    ];
  }
  if (filter.dataset)
    // A row never routed (a shop with one dataset for all orders) went to the shop's own dataset.
    where.AND = [
      filter.dataset === shopId
        ? { OR: [{ destinationId: shopId }, { destinationId: null }] }
        : { destinationId: filter.dataset },
    ];
  return where;
}

/**
 * The events waiting (pending or being sent) per dataset: by a Destination's id, the shop's own dataset by the
 * shop's id with the rows not routed yet.
 */
export async function backlogByDataset(
  db: Db,
  shopId: string,
): Promise<Map<string, number>> {
  const groups = await db.outboxEvent.groupBy({
    by: ["destinationId"],
    where: { shopId, status: { in: ["pending", "sending"] } },
    _count: true,
  });
  const backlog = new Map<string, number>();
  for (const g of groups) {
    const id = g.destinationId ?? shopId;
    backlog.set(id, (backlog.get(id) ?? 0) + g._count);
  }
  return backlog;
}

const VALUE_PAIR_SELECT = {
  payload: true,
  browserValue: true,
  browserCurrency: true,
} as const;

/** A Purchase whose two copies Meta got with different values or currencies (decisions 111). */
export interface ValueMismatch {
  server: { value: number | null; currency: string | null };
  browser: { value: number | null; currency: string | null };
}

/**
 * The server's and the pixel's copies of a Purchase disagree on value or currency: Meta keeps the copy that
 * arrives first, so the value it reports depends on a race. Null when they agree, or the pixel's copy is unknown
 * (only what both copies carry is compared; amounts to the cent).
 */
export function valueMismatch(
  row: Prisma.OutboxEventGetPayload<{ select: typeof VALUE_PAIR_SELECT }>,
): ValueMismatch | null {
  const { browserValue, browserCurrency } = row;
  if (browserValue === null && browserCurrency === null) return null;
  const custom = (row.payload as unknown as CapiEvent).custom_data;
  const server = {
    value: typeof custom?.value === "number" ? custom.value : null,
    currency: custom?.currency ?? null,
  };
  const differ = <T>(a: T | null, b: T | null, same: (a: T, b: T) => boolean) =>
    a !== null && b !== null && !same(a, b);
  const mismatch =
    differ(server.value, browserValue, (a, b) => Math.abs(a - b) < 0.005) ||
    differ(server.currency, browserCurrency, (a, b) => a === b);
  return mismatch
    ? { server, browser: { value: browserValue, currency: browserCurrency } }
    : null;
}

const LIST_SELECT = {
  id: true,
  ...EVENT_SUMMARY_SELECT,
  source: true,
  attempts: true,
  lastErrorCode: true,
  lastErrorSubcode: true,
  lastErrorMessage: true,
  destinationId: true,
  ...VALUE_PAIR_SELECT,
} as const;

export type EventListRow = Prisma.OutboxEventGetPayload<{
  select: typeof LIST_SELECT;
}>;

export interface EventPage {
  rows: EventListRow[];
  hasNext: boolean;
  hasPrevious: boolean;
}

/** One page, newest first; `after`/`before` are the ids of the last/first row of the page the merchant came from. */
export async function listEvents(
  db: Db,
  shopId: string,
  filter: EventFilter,
  cursor: { after?: string | null; before?: string | null } = {},
  pageSize = EVENT_LOG_PAGE_SIZE,
): Promise<EventPage> {
  const where = eventWhere(shopId, filter);
  const orderBy: Prisma.OutboxEventOrderByWithRelationInput[] = [
    { receivedAt: "desc" },
    { id: "desc" },
  ];
  const id = cursor.after ?? cursor.before ?? null;
  // A cursor of another shop (or a pruned row) starts over at the first page rather than paging by its position.
  const anchor = id
    ? await db.outboxEvent.findFirst({
        where: { id, shopId },
        select: { id: true },
      })
    : null;
  // Forward from the start or after the anchor; backward (a negative take) before it.
  const forward = !anchor || Boolean(cursor.after);
  const rows = await db.outboxEvent.findMany({
    where,
    orderBy,
    ...(anchor ? { cursor: { id: anchor.id }, skip: 1 } : {}),
    take: forward ? pageSize + 1 : -(pageSize + 1),
    select: LIST_SELECT,
  });
  const more = rows.length > pageSize;
  return forward
    ? { rows: rows.slice(0, pageSize), hasNext: more, hasPrevious: !!anchor }
    : { rows: rows.slice(-pageSize), hasNext: true, hasPrevious: more };
}

/** The event names a shop has, for the filter. */
export async function eventNamesOf(db: Db, shopId: string): Promise<string[]> {
  const groups = await db.outboxEvent.groupBy({
    by: ["eventName"],
    where: { shopId },
  });
  return groups.map((g) => g.eventName).sort();
}

// ------------------------------------------------------------------------------------------ one event

/** Shown in place of the raw IP address and user agent, which are deleted once an event is final. */
export const REMOVED_AFTER_DELIVERY = "removed after delivery";
export const KEPT_UNTIL_DELIVERY = "kept until delivery, then deleted";

/**
 * The event as Meta gets it, for the merchant's eyes: the stored payload (customer data already hashed), with the
 * raw IP address and user agent never shown — named as sent and deleted, or as waiting to be sent and deleted.
 */
export function payloadAsSent(
  row: Pick<
    OutboxEvent,
    | "payload"
    | "status"
    | "clientIp"
    | "clientUserAgent"
    | "sentWithIp"
    | "sentWithUserAgent"
  >,
): CapiEvent {
  const event = row.payload as unknown as CapiEvent;
  const final = FINAL_STATUSES.includes(row.status as OutboxStatus);
  const note = (held: string | null, sent: boolean) => {
    if (!final) return held ? KEPT_UNTIL_DELIVERY : null;
    // A delivered event records what went; for the other final states the values, if any, are gone either way.
    return row.status !== "sent" || sent ? REMOVED_AFTER_DELIVERY : null;
  };
  const ip = note(row.clientIp, row.sentWithIp);
  const ua = note(row.clientUserAgent, row.sentWithUserAgent);
  return {
    ...event,
    user_data: {
      ...event.user_data,
      ...(ip ? { client_ip_address: ip } : {}),
      ...(ua ? { client_user_agent: ua } : {}),
    },
  };
}

export interface EventError {
  code: number | null;
  subcode: number | null;
  message: string | null;
  fbtraceId: string | null;
  /** What it means and the fix, from the error table. */
  explanation: Pick<GraphErrorInfo, "title" | "fix" | "kind">;
}

/** Meta's last error on a row, explained; null when the last attempt did not fail. */
export function errorOf(
  row: Pick<
    OutboxEvent,
    | "status"
    | "lastErrorCode"
    | "lastErrorSubcode"
    | "lastErrorMessage"
    | "lastFbtraceId"
  >,
): EventError | null {
  if (
    row.status === "sent" ||
    (row.lastErrorCode === null &&
      !row.lastErrorMessage &&
      row.status !== "expired")
  )
    return null;
  const info =
    row.status === "expired"
      ? classifyGraphError({ code: 100, subcode: 2804003 })
      : classifyGraphError({
          code: row.lastErrorCode ?? undefined,
          subcode: row.lastErrorSubcode ?? undefined,
        });
  return {
    code: row.lastErrorCode,
    subcode: row.lastErrorSubcode,
    message: row.lastErrorMessage,
    fbtraceId: row.lastFbtraceId,
    explanation: { title: info.title, fix: info.fix, kind: info.kind },
  };
}

export async function findEvent(
  db: Db,
  shopId: string,
  id: string,
): Promise<OutboxEvent | null> {
  return db.outboxEvent.findFirst({ where: { id, shopId } });
}

export function isReplayable(
  row: Pick<OutboxEvent, "status" | "actionSource" | "eventTime">,
  now = new Date(),
): boolean {
  return (
    REPLAYABLE_STATUSES.includes(row.status as OutboxStatus) &&
    isInsideWindow(row, now)
  );
}

/** The replayable events among those a filter shows (a status filter narrows, never widens, the set). */
function replayableWhere(
  shopId: string,
  filter: EventFilter,
): Prisma.OutboxEventWhereInput {
  return {
    AND: [eventWhere(shopId, filter), { status: { in: REPLAYABLE_STATUSES } }],
  };
}

export async function countReplayable(
  db: Db,
  shopId: string,
  filter: EventFilter,
): Promise<number> {
  return db.outboxEvent.count({ where: replayableWhere(shopId, filter) });
}

export interface ReplayOutcome extends ReplayResult {
  /** The rows re-queued, so the admin can follow them to Meta. */
  ids: string[];
  /** More replayable events matched than one bulk replay takes: the number it takes, else false. */
  more: number | false;
}

/** Re-queues the shop's replayable events among `ids`, or matching `filter`; same event ids, so Meta deduplicates. */
export async function replayEvents(
  db: Db,
  outbox: Outbox,
  shopId: string,
  target: { ids: string[] } | { filter: EventFilter },
  now = new Date(),
): Promise<ReplayOutcome> {
  const where =
    "ids" in target
      ? {
          shopId,
          id: { in: target.ids.slice(0, BULK_REPLAY_LIMIT) },
          status: { in: REPLAYABLE_STATUSES },
        }
      : replayableWhere(shopId, target.filter);
  const matched = await db.outboxEvent.findMany({
    where,
    select: { id: true, actionSource: true, eventTime: true },
    orderBy: { receivedAt: "desc" },
    take: BULK_REPLAY_LIMIT + 1,
  });
  const batch = matched.slice(0, BULK_REPLAY_LIMIT);
  if (batch.length === 0)
    return { requeued: 0, outsideWindow: 0, ids: [], more: false };
  const result = await outbox.replay(
    { shopId, statuses: REPLAYABLE_STATUSES, ids: batch.map((r) => r.id) },
    now,
  );
  // The same window rule as replay's, so progress follows exactly the rows it re-queued.
  const ids = batch.filter((r) => isInsideWindow(r, now)).map((r) => r.id);
  return {
    ...result,
    ids,
    more: matched.length > BULK_REPLAY_LIMIT && BULK_REPLAY_LIMIT,
  };
}

export interface ReplayProgress {
  total: number;
  sent: number;
  waiting: number;
  failed: number;
}

/** Where replayed events are now: the admin polls this until none is waiting. */
export async function replayProgress(
  db: Db,
  shopId: string,
  ids: string[],
): Promise<ReplayProgress> {
  const groups = await db.outboxEvent.groupBy({
    by: ["status"],
    where: { shopId, id: { in: ids.slice(0, BULK_REPLAY_LIMIT) } },
    _count: { _all: true },
  });
  const progress: ReplayProgress = { total: 0, sent: 0, waiting: 0, failed: 0 };
  for (const g of groups) {
    const n = g._count._all;
    progress.total += n;
    if (g.status === "sent") progress.sent += n;
    else if (FINAL_STATUSES.includes(g.status as OutboxStatus))
      progress.failed += n;
    else progress.waiting += n;
  }
  return progress;
}
