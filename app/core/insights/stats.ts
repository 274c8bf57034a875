import type { Db } from "../db";
import type { UserData } from "../wire";
import type { OutboxStatus } from "../outbox";
import {
  estimateMatchQuality,
  MATCH_KEYS,
  matchKeysOf,
  type MatchKey,
  type MatchRating,
} from "./matchQuality";
import {
  countMissing,
  type MissingCounts,
  type MissingKeysRow,
} from "./missingKeys";

// Aggregates for the admin's dashboard, one shop at a time. Counting happens in the database (groupBy/count on
// the (shopId, …, receivedAt) indexes); only the match-key coverage reads payloads, and then only a capped sample
// of the latest sent events of each kind, so a busy shop's dashboard costs the same as a quiet one's.

/** Each window and the size of its chart buckets (24 hourly bars would leave no room for their labels). */
export const STATS_WINDOWS = {
  "24h": { label: "Last 24 hours", hours: 24, bucketHours: 3 },
  "7d": { label: "Last 7 days", hours: 7 * 24, bucketHours: 24 },
  "30d": { label: "Last 30 days", hours: 30 * 24, bucketHours: 24 },
} as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;
export const DEFAULT_STATS_WINDOW: StatsWindow = "7d";

export function parseStatsWindow(raw: string | null | undefined): StatsWindow {
  return raw && raw in STATS_WINDOWS
    ? (raw as StatsWindow)
    : DEFAULT_STATS_WINDOW;
}

export function windowSince(window: StatsWindow, now = new Date()): Date {
  return new Date(now.getTime() - STATS_WINDOWS[window].hours * 3_600_000);
}

/** Payloads read per event name for the match-key coverage (the latest sent ones in the window). */
export const COVERAGE_SAMPLE = 500;

/** How the dashboard groups statuses for a person: what reached Meta, what is on its way, what did not go. */
export type StatusGroup = "sent" | "waiting" | "notSent" | "failed";
export const STATUS_GROUPS: StatusGroup[] = [
  "sent",
  "waiting",
  "notSent",
  "failed",
];

export function statusGroup(status: string): StatusGroup {
  if (status === "sent") return "sent";
  if (status === "suppressed") return "notSent";
  if (status === "failed" || status === "expired") return "failed";
  return "waiting";
}

// ------------------------------------------------------------------------------------------------ counts

export interface EventNameCounts {
  eventName: string;
  received: number;
  byStatus: Record<OutboxStatus, number>;
  /** Suppressed events by reason (reasons as stored; see SUPPRESS_REASONS). */
  notSentByReason: Record<string, number>;
  /** Events sent with Meta's Limited Data Use flag. */
  ldu: number;
}

function emptyCounts(eventName: string): EventNameCounts {
  return {
    eventName,
    received: 0,
    byStatus: {
      held: 0,
      pending: 0,
      sending: 0,
      sent: 0,
      failed: 0,
      expired: 0,
      suppressed: 0,
    },
    notSentByReason: {},
    ldu: 0,
  };
}

interface CountGroup {
  status: string;
  suppressReason: string | null;
  lduApplied?: boolean;
  _count: { _all: number };
}

function addGroup(c: EventNameCounts, g: CountGroup): void {
  const n = g._count._all;
  c.received += n;
  if (g.status in c.byStatus) c.byStatus[g.status as OutboxStatus] += n;
  if (g.status === "suppressed") {
    const reason = g.suppressReason ?? "unknown";
    c.notSentByReason[reason] = (c.notSentByReason[reason] ?? 0) + n;
  }
  if (g.lduApplied && g.status !== "suppressed") c.ldu += n;
}

/** Counts per event name of the events received since `since`: Purchase first, then the busiest. */
export async function countsByEventName(
  db: Db,
  shopId: string,
  since: Date,
): Promise<EventNameCounts[]> {
  const groups = await db.outboxEvent.groupBy({
    by: ["eventName", "status", "suppressReason", "lduApplied"],
    where: { shopId, receivedAt: { gte: since } },
    _count: { _all: true },
  });
  const byName = new Map<string, EventNameCounts>();
  for (const g of groups) {
    const c = byName.get(g.eventName) ?? emptyCounts(g.eventName);
    byName.set(g.eventName, c);
    addGroup(c, g);
  }
  return [...byName.values()].sort(
    (a, b) =>
      Number(b.eventName === "Purchase") - Number(a.eventName === "Purchase") ||
      b.received - a.received ||
      a.eventName.localeCompare(b.eventName),
  );
}

/** Every event name with a total, for the dashboard's summary figures. */
export function totalCounts(rows: EventNameCounts[]): EventNameCounts {
  const total = emptyCounts("all");
  for (const r of rows) {
    total.received += r.received;
    total.ldu += r.ldu;
    for (const s of Object.keys(r.byStatus) as OutboxStatus[])
      total.byStatus[s] += r.byStatus[s];
    for (const [reason, n] of Object.entries(r.notSentByReason))
      total.notSentByReason[reason] = (total.notSentByReason[reason] ?? 0) + n;
  }
  return total;
}

export function groupCounts(c: EventNameCounts): Record<StatusGroup, number> {
  const out: Record<StatusGroup, number> = {
    sent: 0,
    waiting: 0,
    notSent: 0,
    failed: 0,
  };
  for (const [status, n] of Object.entries(c.byStatus))
    out[statusGroup(status)] += n;
  return out;
}

// -------------------------------------------------------------------------------------------- over time

export interface TimeBucket {
  /** ISO start of the bucket (UTC 3-hour slot or UTC day), clipped to the window's start. */
  start: string;
  counts: Record<StatusGroup, number>;
}

/** The window cut at UTC 3-hour slots (24 h) or UTC midnights (7 and 30 days); the first bucket starts at the window's start. */
export function bucketBounds(window: StatsWindow, now = new Date()): Date[] {
  const since = windowSince(window, now);
  const step = STATS_WINDOWS[window].bucketHours * 3_600_000;
  const bounds = [since];
  let next = Math.floor(since.getTime() / step) * step + step;
  while (next < now.getTime()) {
    bounds.push(new Date(next));
    next += step;
  }
  bounds.push(now);
  return bounds;
}

/**
 * Events per bucket by status group. One indexed groupBy per bucket (at most 31): portable across SQLite and
 * PostgreSQL, with no date arithmetic in SQL, and each one reads only its own slice of the index.
 */
export async function eventsOverTime(
  db: Db,
  shopId: string,
  window: StatsWindow,
  now = new Date(),
): Promise<TimeBucket[]> {
  const bounds = bucketBounds(window, now);
  const slices = bounds
    .slice(0, -1)
    .map((start, i) => ({ start, end: bounds[i + 1] }));
  return Promise.all(
    slices.map(async ({ start, end }, i) => {
      const last = i === slices.length - 1;
      const groups = await db.outboxEvent.groupBy({
        by: ["status"],
        where: {
          shopId,
          receivedAt: last ? { gte: start, lte: end } : { gte: start, lt: end },
        },
        _count: { _all: true },
      });
      const counts: Record<StatusGroup, number> = {
        sent: 0,
        waiting: 0,
        notSent: 0,
        failed: 0,
      };
      for (const g of groups) counts[statusGroup(g.status)] += g._count._all;
      return { start: start.toISOString(), counts };
    }),
  );
}

// ------------------------------------------------------------------------------------------ match keys

export interface KeyCoverage {
  eventName: string;
  /** Sent events read for this figure (at most COVERAGE_SAMPLE). */
  sampled: number;
  /** Share (0..1) of the sampled events carrying each key. */
  shares: Record<MatchKey, number>;
  /** Of the sampled events lacking each key, how many lacked it for each reason (decisions 150). */
  missing: MissingCounts;
  /** Sampled events sent under Limited Data Use: their keys went, Meta restricts what it does with them. */
  ldu: number;
  score: number;
  rating: MatchRating;
}

export interface CoverageRow extends MissingKeysRow {
  payload: unknown;
  sentWithIp: boolean;
  sentWithUserAgent: boolean;
  lduApplied: boolean;
}

/**
 * Key shares of events as Meta got them (the stored payload plus the IP and user agent sent with it), and why the
 * events without a key lacked it.
 */
export function coverageOf(
  rows: CoverageRow[],
): Pick<KeyCoverage, "shares" | "missing" | "ldu"> {
  const hits = Object.fromEntries(MATCH_KEYS.map((k) => [k, 0])) as Record<
    MatchKey,
    number
  >;
  const missing: MissingCounts = {};
  let ldu = 0;
  for (const row of rows) {
    const userData = ((row.payload as { user_data?: UserData } | null)
      ?.user_data ?? {}) as UserData;
    const keys = matchKeysOf({
      ...userData,
      // Erased after delivery; the flags say whether they went.
      client_ip_address: row.sentWithIp ? "sent" : null,
      client_user_agent: row.sentWithUserAgent ? "sent" : null,
    });
    for (const k of keys) hits[k]++;
    countMissing(
      missing,
      row,
      MATCH_KEYS.filter((k) => !keys.includes(k)),
    );
    if (row.lduApplied) ldu++;
  }
  const n = rows.length;
  const shares = Object.fromEntries(
    MATCH_KEYS.map((k) => [k, n ? hits[k] / n : 0]),
  ) as Record<MatchKey, number>;
  return { shares, missing, ldu };
}

/** Coverage and estimated match quality per event name, from the latest sent events of each in the window. */
export async function keyCoverage(
  db: Db,
  shopId: string,
  since: Date,
  eventNames: string[],
  sample = COVERAGE_SAMPLE,
): Promise<KeyCoverage[]> {
  const out: KeyCoverage[] = [];
  for (const eventName of eventNames) {
    const rows = await db.outboxEvent.findMany({
      where: { shopId, eventName, status: "sent", receivedAt: { gte: since } },
      orderBy: { receivedAt: "desc" },
      take: sample,
      select: {
        payload: true,
        sentWithIp: true,
        sentWithUserAgent: true,
        lduApplied: true,
        missingKeys: true,
        consent: true,
        checkoutToken: true,
      },
    });
    if (rows.length === 0) continue;
    const coverage = coverageOf(rows);
    out.push({
      eventName,
      sampled: rows.length,
      ...coverage,
      ...estimateMatchQuality(coverage.shares),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- dedup

export interface DedupCoverage {
  purchasesSent: number;
  withBrowserEvent: number;
  /** null when no Purchase was sent in the window. */
  share: number | null;
}

/** Share of the Purchases sent whose browser counterpart (same event_id) reached the app: Meta can deduplicate those. */
export async function dedupCoverage(
  db: Db,
  shopId: string,
  since: Date,
): Promise<DedupCoverage> {
  const where = {
    shopId,
    eventName: "Purchase",
    status: "sent",
    receivedAt: { gte: since },
  };
  const [purchasesSent, withBrowserEvent] = await Promise.all([
    db.outboxEvent.count({ where }),
    db.outboxEvent.count({ where: { ...where, browserSeenAt: { not: null } } }),
  ]);
  return {
    purchasesSent,
    withBrowserEvent,
    share: purchasesSent ? withBrowserEvent / purchasesSent : null,
  };
}

// ------------------------------------------------------------------------------------- reconciliation

/**
 * The accepted-share alert: over the last 7 days, at least 20 orders that should have reached Meta, and fewer than
 * 90% of them accepted. Orders not sent on purpose (consent, test orders, disabled sources…) and orders still
 * waiting are left out: they are not failures.
 */
export const RECONCILIATION_ALERT = {
  window: "7d",
  minOrders: 20,
  minShare: 0.9,
} as const satisfies {
  window: StatsWindow;
  minOrders: number;
  minShare: number;
};

export interface Reconciliation {
  /** Orders whose webhook arrived: a Purchase was made, or the payload could not be read. */
  ordersReceived: number;
  accepted: number;
  waiting: number;
  notSent: number;
  notSentByReason: Record<string, number>;
  failed: number;
  expired: number;
  /** Order webhooks the app could not read (invalid payload). */
  unreadable: number;
  /** accepted / (accepted + failed + expired + unreadable); null when there is none of those. */
  acceptedShare: number | null;
  alert: boolean;
}

export function reconcile(
  purchases: EventNameCounts | undefined,
  unreadable: number,
): Reconciliation {
  const c = purchases ?? emptyCounts("Purchase");
  const s = c.byStatus;
  const accepted = s.sent;
  const waiting = s.held + s.pending + s.sending;
  const shouldHaveReached = accepted + s.failed + s.expired + unreadable;
  const acceptedShare = shouldHaveReached ? accepted / shouldHaveReached : null;
  return {
    ordersReceived: c.received + unreadable,
    accepted,
    waiting,
    notSent: s.suppressed,
    notSentByReason: c.notSentByReason,
    failed: s.failed,
    expired: s.expired,
    unreadable,
    acceptedShare,
    alert:
      acceptedShare !== null &&
      shouldHaveReached >= RECONCILIATION_ALERT.minOrders &&
      acceptedShare < RECONCILIATION_ALERT.minShare,
  };
}

/** Order webhooks of the shop that were authenticated but unusable, one per order. */
export async function unreadableOrders(
  db: Db,
  shopDomain: string,
  since: Date,
): Promise<number> {
  const groups = await db.webhookReceipt.groupBy({
    by: ["orderId"],
    where: {
      shopDomain,
      outcome: "rejected",
      topic: { in: ["orders/paid", "orders/create"] },
      receivedAt: { gte: since },
    },
    _count: { _all: true },
  });
  // Without an order id, each delivery stands for an order of its own.
  return groups.reduce(
    (sum, g) => sum + (g.orderId === null ? g._count._all : 1),
    0,
  );
}

/**
 * Orders received vs Purchases accepted by Meta vs not sent on purpose, like a channel accuracy report. An order
 * whose webhook never arrived and that reconciliation recovered counts as received, and as `recovered` (decisions 80).
 */
export async function reconciliation(
  db: Db,
  shop: { id: string; domain: string },
  since: Date,
): Promise<Reconciliation & { recovered: number }> {
  const [groups, unreadable] = await Promise.all([
    db.outboxEvent.groupBy({
      by: ["source", "status", "suppressReason"],
      where: {
        shopId: shop.id,
        eventName: "Purchase",
        source: { in: ["webhook", "reconciliation"] },
        receivedAt: { gte: since },
      },
      _count: { _all: true },
    }),
    unreadableOrders(db, shop.domain, since),
  ]);
  const purchases = emptyCounts("Purchase");
  let recovered = 0;
  for (const g of groups) {
    addGroup(purchases, g);
    if (g.source === "reconciliation") recovered += g._count._all;
  }
  return { ...reconcile(purchases, unreadable), recovered };
}
