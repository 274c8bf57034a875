import type { Db, OutboxEvent, Prisma, Shop } from "./db";
import { type CapiEvent, type ConsentSnapshot, type OutboxStatus, type SuppressReason } from "./types";
import { DEFAULT_SETTINGS, parseSettings, type ShopSettings } from "./settings";
import { applyLdu, decideConsent } from "./consent";
import { mergeBrowserContext } from "./purchaseMerge";
import { purchaseEventId } from "./eventId";
import type { ClaimedRow, SqlStore } from "./sqlStore";

// The durable outbox: the lifecycle of one row per (shop, event_name, event_id).
//   held -> pending -> sending -> sent, or the terminal failed | expired | suppressed.
// Raw IP and user agent sit in their own columns and are erased as soon as a row is final.

export const FINAL_STATUSES: OutboxStatus[] = ["sent", "failed", "expired", "suppressed"];

/** Meta rejects a whole request when one event is older than this; physical_store events get 62 days. */
export const EVENT_WINDOW_MS = { default: 7 * 86_400_000, physical_store: 62 * 86_400_000 };
/** Expire a little before Meta would, so a batch is never rejected for an event crossing the line in flight. */
const WINDOW_MARGIN_MS = 60 * 60_000;

export type OutboxRow = OutboxEvent;

export function isConnected(shop: Pick<Shop, "pixelId" | "tokenCiphertext">): boolean {
  return Boolean(shop.pixelId && shop.tokenCiphertext);
}

/** The shop's test event code while it is still valid; test codes expire so test mode cannot leak into production. */
export function activeTestEventCode(
  shop: Pick<Shop, "testEventCode" | "testEventCodeSetAt">,
  settings: ShopSettings,
  now = new Date(),
): string | null {
  if (!shop.testEventCode) return null;
  const setAt = shop.testEventCodeSetAt?.getTime() ?? 0;
  return now.getTime() - setAt < settings.testEventCodeTtlHours * 3_600_000 ? shop.testEventCode : null;
}

export function windowStart(actionSource: string, now: Date): Date {
  const window = actionSource === "physical_store" ? EVENT_WINDOW_MS.physical_store : EVENT_WINDOW_MS.default;
  return new Date(now.getTime() - window + WINDOW_MARGIN_MS);
}

export function isInsideWindow(row: Pick<OutboxRow, "actionSource" | "eventTime">, now = new Date()): boolean {
  return row.eventTime > windowStart(row.actionSource, now);
}

/** Fields that erase raw network identifiers when a row becomes final. */
export function finalFields(now: Date) {
  return { clientIp: null, clientUserAgent: null, leaseOwner: null, leaseUntil: null, finalAt: now };
}

export function asJson(value: unknown): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue;
}

export function readConsent(raw: unknown): ConsentSnapshot | null {
  if (!raw || typeof raw !== "object") return null;
  const c = raw as Record<string, unknown>;
  return typeof c.marketingAllowed === "boolean" ? (c as unknown as ConsentSnapshot) : null;
}

export type ReleaseDecision =
  | { status: "pending"; payload: CapiEvent; lduApplied: boolean }
  | { status: "suppressed"; reason: SuppressReason };

/** Consent is decided when an event leaves `held` (and again for pending rows after a policy change). */
export function decideRelease(
  row: Pick<OutboxRow, "consent" | "countryCode" | "provinceCode" | "payload">,
  settings: ShopSettings,
): ReleaseDecision {
  const decision = decideConsent({
    snapshot: readConsent(row.consent),
    countryCode: row.countryCode,
    provinceCode: row.provinceCode,
    policy: settings.consentPolicy,
    optInRegions: settings.optInRegions,
    lduStates: settings.lduStates,
  });
  if (!decision.send) return { status: "suppressed", reason: decision.reason };
  return {
    status: "pending",
    payload: applyLdu(row.payload as unknown as CapiEvent, decision),
    lduApplied: decision.ldu !== null,
  };
}

/** Data for an update that applies a release decision to a row. */
export function releaseUpdate(decision: ReleaseDecision, now: Date): Prisma.OutboxEventUpdateInput {
  if (decision.status === "suppressed") {
    return { status: "suppressed", suppressReason: decision.reason, holdUntil: null, releasedAt: now, ...finalFields(now) };
  }
  return {
    status: "pending",
    payload: asJson(decision.payload),
    lduApplied: decision.lduApplied,
    holdUntil: null,
    releasedAt: now,
    nextAttemptAt: now,
  };
}

/** Releases held rows whose wait for browser context is over; the consent fallback decides. */
export async function releaseDueHeld(db: Db, now = new Date(), limit = 500): Promise<number> {
  const rows = await db.outboxEvent.findMany({
    where: { status: "held", holdUntil: { lte: now } },
    include: { shop: { select: { settings: true } } },
    take: limit,
  });
  for (const row of rows) {
    // Context posted after the order arrived (a checkout step, a consent change) still joins it, as at intake.
    const ctx = row.checkoutToken
      ? await db.browserContext.findUnique({ where: { shopId_checkoutToken: { shopId: row.shopId, checkoutToken: row.checkoutToken } } })
      : null;
    const merged = ctx
      ? mergeBrowserContext({ payload: row.payload as unknown as CapiEvent, clientIp: row.clientIp, clientUserAgent: row.clientUserAgent, consent: row.consent }, ctx)
      : null;
    const decision = decideRelease(
      merged ? { ...row, payload: asJson(merged.payload) as Prisma.JsonValue, consent: (merged.consent ?? null) as Prisma.JsonValue } : row,
      parseSettings(row.shop.settings),
    );
    // The status guard keeps a concurrent merge (which releases the row itself) from being overwritten.
    const res = await db.outboxEvent.updateMany({
      where: { id: row.id, status: "held" },
      data: {
        ...(merged ? { consent: merged.consent ? asJson(merged.consent) : undefined, clientIp: merged.clientIp, clientUserAgent: merged.clientUserAgent } : {}),
        // The pixel's own Purchase (same event id) counts for the dedup figure, as at intake.
        ...(ctx && purchaseEventId(ctx.orderId) === row.eventId ? { browserSeenAt: now } : {}),
        ...releaseUpdate(decision, now),
      } as Prisma.OutboxEventUpdateManyMutationInput,
    });
    if (ctx && res.count) await db.browserContext.updateMany({ where: { id: ctx.id }, data: { usedAt: now, clientIp: null, clientUserAgent: null } });
  }
  return rows.length;
}

const REDECIDE_PAGE = 1_000;

/**
 * Re-decides consent for a shop's rows not yet sent, after the merchant changed the consent policy. Read a page
 * at a time: a paused shop's backlog can be large. Rows in flight at that moment (`sending`) go as decided before.
 */
export async function redecidePending(db: Db, shopId: string, now = new Date()): Promise<number> {
  const shop = await db.shop.findUniqueOrThrow({ where: { id: shopId } });
  const settings = parseSettings(shop.settings);
  let changed = 0;
  for (let after: string | null = null; ; ) {
    const rows: RedecideRow[] = await db.outboxEvent.findMany({
      where: { shopId, status: "pending", ...(after ? { id: { gt: after } } : {}) },
      select: { id: true, consent: true, countryCode: true, provinceCode: true, payload: true, lduApplied: true },
      orderBy: { id: "asc" },
      take: REDECIDE_PAGE,
    });
    changed += await redecidePage(db, rows, settings, now);
    if (rows.length < REDECIDE_PAGE) return changed;
    after = rows[rows.length - 1].id;
  }
}

type RedecideRow = Pick<OutboxRow, "id" | "consent" | "countryCode" | "provinceCode" | "payload" | "lduApplied">;

async function redecidePage(
  db: Db,
  rows: RedecideRow[],
  settings: ShopSettings,
  now: Date,
): Promise<number> {
  let changed = 0;
  for (const row of rows) {
    const decision = decideRelease(row, settings);
    if (decision.status === "suppressed" || decision.lduApplied !== row.lduApplied) {
      // A row still going keeps its retry schedule: only what may be sent changes.
      const data =
        decision.status === "pending" ? { payload: asJson(decision.payload), lduApplied: decision.lduApplied } : releaseUpdate(decision, now);
      const res = await db.outboxEvent.updateMany({
        where: { id: row.id, status: "pending" },
        data: data as Prisma.OutboxEventUpdateManyMutationInput,
      });
      changed += res.count;
    }
  }
  return changed;
}

/** Rows leased by a dispatcher that died go back to pending; they may have reached Meta, so the resend is recorded. */
export async function reclaimExpiredLeases(db: Db, now = new Date()): Promise<number> {
  const res = await db.outboxEvent.updateMany({
    // A claim sets nextAttemptAt to the lease's end, so the index on (status, nextAttemptAt) finds these.
    where: { status: "sending", nextAttemptAt: { lt: now }, leaseUntil: { lt: now } },
    data: { status: "pending", leaseOwner: null, leaseUntil: null, nextAttemptAt: now, ambiguousSends: { increment: 1 } },
  });
  return res.count;
}

export const STALE_MESSAGE = "Older than Meta's event window: Meta would reject it.";

/**
 * Events that would be older than Meta's window by the time they are sent become `expired`, never sent. The
 * dispatcher also drops such rows from every batch it claims; this sweep is for rows nobody claims (a paused
 * shop's), so it runs rarely: it reads every waiting row.
 */
export async function expireStale(db: Db, now = new Date()): Promise<number> {
  const data = {
    status: "expired",
    lastErrorMessage: STALE_MESSAGE,
    ...finalFields(now),
  };
  const online = await db.outboxEvent.updateMany({
    where: {
      status: { in: ["held", "pending"] },
      actionSource: { not: "physical_store" },
      eventTime: { lt: windowStart("website", now) },
    },
    data,
  });
  const stores = await db.outboxEvent.updateMany({
    where: {
      status: { in: ["held", "pending"] },
      actionSource: "physical_store",
      eventTime: { lt: windowStart("physical_store", now) },
    },
    data,
  });
  return online.count + stores.count;
}

export interface ClaimedBatch {
  shopId: string;
  lease: string;
  rows: ClaimedRow[];
}

/** Leases up to `limit` due rows of one shop (SqlStore.claim: exactly one claimer per row). */
export async function claimBatch(
  store: SqlStore,
  shopId: string,
  lease: string,
  opts: { limit: number; leaseMs: number; now?: Date },
): Promise<ClaimedBatch> {
  const now = opts.now ?? new Date();
  const rows = await store.claim(shopId, lease, { limit: opts.limit, leaseUntil: new Date(now.getTime() + opts.leaseMs), now });
  return { shopId, lease, rows };
}

/**
 * The event exactly as it goes to Meta, as JSON text: the stored (hashed) payload with the raw IP and user agent
 * added to its user_data. They are spliced into the text rather than parsed and serialised again; a payload the
 * splice cannot place them in safely (no top-level user_data object, or one that names them already) is merged
 * as objects instead.
 */
export function eventForMeta(row: Pick<ClaimedRow, "payloadJson" | "clientIp" | "clientUserAgent">): string {
  const json = row.payloadJson;
  if (!row.clientIp && !row.clientUserAgent) return json;
  const added = [
    ...(row.clientIp ? [`"client_ip_address":${JSON.stringify(row.clientIp)}`] : []),
    ...(row.clientUserAgent ? [`"client_user_agent":${JSON.stringify(row.clientUserAgent)}`] : []),
  ].join(",");
  const at = json.includes('"client_ip_address"') || json.includes('"client_user_agent"') ? -1 : userDataStart(json);
  if (at < 0) {
    const event = JSON.parse(json) as CapiEvent;
    return JSON.stringify({ ...event, user_data: { ...event.user_data, ...JSON.parse(`{${added}}`) } });
  }
  const empty = /^\s*\}/.test(json.slice(at, at + 8));
  return `${json.slice(0, at)}${added}${empty ? "" : ","}${json.slice(at)}`;
}

/** The index just inside the top-level `"user_data": {` of a JSON object's text, or -1. */
function userDataStart(json: string): number {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (end < json.length && json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      if (end >= json.length) return -1;
      if (depth === 1 && end - i === 10 && json.startsWith('"user_data"', i)) {
        const value = /^\s*:\s*\{/.exec(json.slice(end + 1, end + 8));
        return value ? end + 1 + value[0].length : -1;
      }
      i = end;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return -1;
}

export async function markSent(
  store: SqlStore,
  rows: Pick<ClaimedRow, "id" | "clientIp" | "clientUserAgent">[],
  lease: string,
  meta: { fbtraceId: string | null; eventsReceived: number },
  now = new Date(),
): Promise<number> {
  // Whether the IP and user agent went to Meta is recorded for the admin's match-key coverage, from the claimed rows
  // (what was sent), as the erasure removes both. Grouped by those two flags (usually one group), each row is
  // written once: a large share of the dispatcher's time is these writes (npm run bench, delivery).
  const groups = new Map<string, { sentWithIp: boolean; sentWithUserAgent: boolean; ids: string[] }>();
  for (const row of rows) {
    const flags = { sentWithIp: row.clientIp !== null, sentWithUserAgent: row.clientUserAgent !== null };
    const key = `${flags.sentWithIp}|${flags.sentWithUserAgent}`;
    const group = groups.get(key) ?? { ...flags, ids: [] };
    group.ids.push(row.id);
    groups.set(key, group);
  }
  const metaResponse = { events_received: meta.eventsReceived, fbtrace_id: meta.fbtraceId, batch_size: rows.length };
  let count = 0;
  for (const { ids, ...flags } of groups.values()) {
    count += await store.markSent(ids, lease, { sentAt: now, fbtraceId: meta.fbtraceId, metaResponse, ...flags });
  }
  return count;
}

export interface ErrorFields {
  code: number | null;
  subcode: number | null;
  message: string;
  fbtraceId: string | null;
}

function errorData(err: ErrorFields) {
  return {
    lastErrorCode: err.code,
    lastErrorSubcode: err.subcode,
    lastErrorMessage: err.message.slice(0, 1000),
    lastFbtraceId: err.fbtraceId,
  };
}

/** Back to pending for a later attempt; `ambiguous` records that the request may have reached Meta. */
export async function markRetry(
  db: Db,
  ids: string[],
  lease: string,
  err: ErrorFields,
  opts: { nextAttemptAt: Date; ambiguous: boolean; countAttempt: boolean },
): Promise<void> {
  await db.outboxEvent.updateMany({
    where: { id: { in: ids }, leaseOwner: lease },
    data: {
      status: "pending",
      leaseOwner: null,
      leaseUntil: null,
      nextAttemptAt: opts.nextAttemptAt,
      ...(opts.ambiguous ? { ambiguousSends: { increment: 1 } } : {}),
      ...(opts.countAttempt ? {} : { attempts: { decrement: 1 } }),
      ...errorData(err),
    },
  });
}

/** Terminal: Meta rejected the event itself (`failed`) or it is too old (`expired`). */
export async function markFinalError(
  db: Db,
  ids: string[],
  lease: string,
  status: "failed" | "expired",
  err: ErrorFields,
  now = new Date(),
): Promise<void> {
  await db.outboxEvent.updateMany({
    where: { id: { in: ids }, leaseOwner: lease },
    data: { status, ...errorData(err), ...finalFields(now) },
  });
}

/** Gives back every lease of a stopping dispatcher, so another one can send those rows at once. */
export async function releaseLeases(db: Db, leasePrefix: string, now = new Date()): Promise<number> {
  const res = await db.outboxEvent.updateMany({
    where: { status: "sending", leaseOwner: { startsWith: leasePrefix } },
    data: { status: "pending", leaseOwner: null, leaseUntil: null, nextAttemptAt: now },
  });
  return res.count;
}

export interface ReplayResult {
  requeued: number;
  outsideWindow: number;
}

/**
 * Re-queues failed (or, by request, other final) events, keeping their event ids so Meta deduplicates.
 * Only events still inside Meta's window can go; the rest stay as they are and are counted.
 */
export async function replay(
  db: Db,
  filter: { shopId: string; statuses: OutboxStatus[]; since?: Date; ids?: string[] },
  now = new Date(),
): Promise<ReplayResult> {
  const where = {
    shopId: filter.shopId,
    status: { in: filter.statuses },
    ...(filter.since ? { receivedAt: { gte: filter.since } } : {}),
    ...(filter.ids ? { id: { in: filter.ids } } : {}),
  };
  const inside = {
    OR: [
      { actionSource: { not: "physical_store" }, eventTime: { gt: windowStart("website", now) } },
      { actionSource: "physical_store", eventTime: { gt: windowStart("physical_store", now) } },
    ],
  };
  const requeued = await db.outboxEvent.updateMany({
    where: { ...where, ...inside },
    data: { status: "pending", nextAttemptAt: now, attempts: 0, suppressReason: null, finalAt: null, leaseOwner: null },
  });
  const outsideWindow = await db.outboxEvent.count({ where });
  return { requeued: requeued.count, outsideWindow };
}

/** Deletes final rows (and stale browser context) older than each shop's retention period. */
export async function prune(db: Db, now = new Date()): Promise<number> {
  const shops = await db.shop.findMany({ select: { id: true, domain: true, settings: true } });
  let removed = 0;
  for (const shop of shops) {
    const cutoff = new Date(now.getTime() - parseSettings(shop.settings).retentionDays * 86_400_000);
    const res = await db.outboxEvent.deleteMany({
      where: { shopId: shop.id, status: { in: FINAL_STATUSES }, finalAt: { lt: cutoff } },
    });
    await db.webhookReceipt.deleteMany({ where: { shopDomain: shop.domain, receivedAt: { lt: cutoff } } });
    removed += res.count;
  }
  // Receipts of domains without a shop row (never installed, or redacted since) follow the default period.
  const known = new Set(shops.map((s) => s.domain));
  const cutoff = new Date(now.getTime() - DEFAULT_SETTINGS.retentionDays * 86_400_000);
  const stale = await db.webhookReceipt.groupBy({ by: ["shopDomain"], where: { receivedAt: { lt: cutoff } } });
  const orphans = stale.map((r) => r.shopDomain).filter((d) => !known.has(d));
  if (orphans.length) await db.webhookReceipt.deleteMany({ where: { shopDomain: { in: orphans }, receivedAt: { lt: cutoff } } });
  // Browser context (raw IP and UA) is only useful until its order arrives; Shopify retries webhooks for ~4 h.
  await db.browserContext.deleteMany({ where: { receivedAt: { lt: new Date(now.getTime() - 86_400_000) } } });
  return removed;
}
