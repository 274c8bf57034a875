import type { Db, OutboxEvent, Prisma, Shop } from "../db";
import {
  type CapiEvent,
  type ConsentSnapshot,
  type CustomData,
  type ShopperKeys,
} from "../wire";
import { type OutboxStatus, type SuppressReason } from "./statuses";
import {
  DEFAULT_SETTINGS,
  parseSettings,
  type ShopSettings,
} from "../reference";
import { retryOnConflict } from "./backoff";
import {
  newRowId,
  type ClaimedRow,
  type ContextFields,
  type ErrorColumns,
  type InsertResult,
  type IntakeContext,
  type NewOutboxEvent,
  type NewReceipt,
  type PostingBrowser,
  type PurchaseRow,
  type ReleaseWrite,
  type RouteRow,
  type SqlStore,
} from "./sql";

// The durable outbox: the lifecycle of one row per (shop, event_name, event_id, lane), a lane per Meta dataset the
// event is routed to (decisions 131).
//   held -> pending -> sending -> sent, or the terminal failed | expired | suppressed.
// Raw IP and user agent sit in their own columns and are erased as soon as a row is final.
// The class Outbox at the end is the one writer of the pipeline's tables; what a release writes is decided by intake
// (intake/release.ts).

export const FINAL_STATUSES: OutboxStatus[] = [
  "sent",
  "failed",
  "expired",
  "suppressed",
];

/** Meta rejects a whole request when one event is older than this; physical_store events get 62 days. */
export const EVENT_WINDOW_MS = {
  default: 7 * 86_400_000,
  physical_store: 62 * 86_400_000,
};
/** Expire a little before Meta would, so a batch is never rejected for an event crossing the line in flight. */
const WINDOW_MARGIN_MS = 60 * 60_000;

export type OutboxRow = OutboxEvent;

export function isConnected(
  shop: Pick<Shop, "pixelId" | "tokenCiphertext">,
): boolean {
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
  return now.getTime() - setAt < settings.testEventCodeTtlHours * 3_600_000
    ? shop.testEventCode
    : null;
}

export function windowStart(actionSource: string, now: Date): Date {
  const window =
    actionSource === "physical_store"
      ? EVENT_WINDOW_MS.physical_store
      : EVENT_WINDOW_MS.default;
  return new Date(now.getTime() - window + WINDOW_MARGIN_MS);
}

export function isInsideWindow(
  row: Pick<OutboxRow, "actionSource" | "eventTime">,
  now = new Date(),
): boolean {
  return row.eventTime > windowStart(row.actionSource, now);
}

/** Fields that erase raw network identifiers when a row becomes final (decisions 8). */
function finalFields(now: Date) {
  return {
    clientIp: null,
    clientUserAgent: null,
    leaseOwner: null,
    leaseUntil: null,
    finalAt: now,
  };
}

export function asJson(value: unknown): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue;
}

/** A routed row's copy for one more dataset (decisions 130): the same event, delivered on its own. */
function copyTo(
  row: OutboxEvent,
  destinationId: string,
  now: Date,
): Prisma.OutboxEventCreateManyInput {
  const { consent, metaResponse: _sent, ...columns } = row;
  return {
    ...columns,
    id: newRowId(),
    lane: destinationId,
    destinationId,
    payload: asJson(row.payload),
    ...(consent === null ? {} : { consent: asJson(consent) }),
    updatedAt: now,
  };
}

/** The columns of a row waiting to be sent that decide what it becomes (intake/release.ts). */
export type Undecided = {
  eventId: string;
  payload: CapiEvent;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
  countryCode: string | null;
  provinceCode: string | null;
} & (
  { status: "held" | "suppressed" } | { status: "pending"; lduApplied: boolean }
);

/** What a release writes on a row (intake/release.ts decides it); a column left out keeps its value. */
export interface ReleaseUpdate {
  /** `suppressed` is final: the raw IP and user agent are erased with it. */
  status: "pending" | "suppressed";
  suppressReason?: SuppressReason | null;
  payload?: CapiEvent;
  actionSource?: string;
  /** null leaves the row's, which has none either. */
  consent?: unknown;
  clientIp?: string | null;
  clientUserAgent?: string | null;
  lduApplied?: boolean;
  holdUntil?: null;
  releasedAt?: Date;
  nextAttemptAt?: Date;
  finalAt?: null;
  browserSeenAt?: Date;
  browserValue?: number | null;
  browserCurrency?: string | null;
}

/** A release to write: the row, the status it was decided in, and the browser context it used. */
export interface RowRelease {
  id: string;
  /** Written only while the row still has it: a release, merge or replay that came first wins. */
  from: OutboxStatus;
  update: ReleaseUpdate;
  /** Marked used, its raw IP and user agent erased, once the row is written. */
  contextId: string | null;
}

/** A held Purchase whose hold is over, with its checkout's browser context and its shop's settings. */
export interface DueHeld {
  row: Undecided & { id: string };
  shopId: string;
  context: IntakeContext | null;
  settings: Prisma.JsonValue;
  salesCountry: string | null;
}

/** A checkout's Purchase as the browser's context finds it. */
export type Purchase = Omit<PurchaseRow, "payload"> & { payload: CapiEvent };

/** A customer as the outbox knows them: hashed identifiers (none: known by orders only) and order ids. */
export interface CustomerKeys {
  customerKey: string | null;
  emailHash: string | null;
  phoneHash: string | null;
  orderIds: string[];
}

/** What is held for a customer: their rows, and the checkouts and orders they were found through. */
export interface CustomerScope {
  rowIds: string[];
  eventIds: string[];
  checkoutTokens: string[];
  orderIds: string[];
}

/** The value columns of an order's event, as its payload carries them (the admin's value report, decisions 73). */
export function valueColumns(custom: CustomData | undefined): {
  value: number | null;
  currency: string | null;
} {
  return { value: custom?.value ?? null, currency: custom?.currency ?? null };
}

/** An order's newest state (decisions 67). */
export interface OrderStateRow {
  shopId: string;
  orderId: string;
  orderUpdatedAt: Date;
  value: number | null;
  currency: string | null;
  customData: CustomData;
}

/** One refund of an order (decisions 68). */
export interface RefundRow {
  shopId: string;
  refundId: string;
  orderId: string;
  amount: number;
  currency: string | null;
  refundedAt: Date;
}

/** Deletes run in one transaction with the outbox's own (privacy's data requests, the Shop row). */
export type Deletes = Prisma.PrismaPromise<Prisma.BatchPayload>[];

export const STALE_MESSAGE =
  "Older than Meta's event window: Meta would reject it.";

/**
 * Events that would be older than Meta's window by the time they are sent become `expired`, never sent. The
 * dispatcher also drops such rows from every batch it claims; this sweep is for rows nobody claims (a paused
 * shop's), so it runs rarely: it reads every waiting row.
 */
export async function expireStale(
  store: SqlStore,
  now = new Date(),
): Promise<number> {
  return store.expireStale(
    {
      website: windowStart("website", now),
      physicalStore: windowStart("physical_store", now),
    },
    STALE_MESSAGE,
    now,
  );
}

export interface ClaimedBatch {
  shopId: string;
  /** The dataset the rows go to: the shop's id for its own, a Destination's id otherwise (decisions 130). */
  destinationId: string;
  lease: string;
  rows: ClaimedRow[];
}

/**
 * The claims a routing page makes as it routes (decisions 184): per dataset that may send now, the lease its due rows
 * are claimed with and how many more rows that lease may take.
 */
export interface RouteClaims {
  room: ReadonlyMap<string, { lease: string; rows: number }>;
  leaseMs: number;
}

/** What routing reads of a row (decisions 130). */
export type RoutedRow = Pick<
  OutboxEvent,
  "countryCode" | "currency" | "orderSource"
>;

/** The columns that name an event and its fate, as the event log and a customer's data request list them. */
export const EVENT_SUMMARY_SELECT = {
  eventName: true,
  eventId: true,
  status: true,
  suppressReason: true,
  orderName: true,
  orderId: true,
  receivedAt: true,
  sentAt: true,
} as const;

export interface ClaimOptions {
  limit: number;
  leaseMs: number;
  now?: Date;
  /** A routed shop's dataset; null or absent: the rows of a shop that does not route. */
  destinationId?: string | null;
}

/** Leases up to `limit` due rows of one shop (SqlStore.claim: exactly one claimer per row). */
export async function claimBatch(
  store: SqlStore,
  shopId: string,
  lease: string,
  opts: ClaimOptions,
): Promise<ClaimedBatch> {
  const now = opts.now ?? new Date();
  const destinationId = opts.destinationId ?? null;
  const claim = (to: string | null, limit: number) =>
    store.claim(shopId, lease, {
      limit,
      leaseUntil: new Date(now.getTime() + opts.leaseMs),
      now,
      destinationId: to,
    });
  const rows = await claim(destinationId, opts.limit);
  // A shop that does not route sends its rows not routed, then any it routed to its own dataset while it had further
  // ones (decisions 180): two probes of one index rather than a second index on every row.
  if (destinationId === null && rows.length < opts.limit)
    rows.push(...(await claim(shopId, opts.limit - rows.length)));
  return { shopId, destinationId: destinationId ?? shopId, lease, rows };
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
  const groups = new Map<
    string,
    { sentWithIp: boolean; sentWithUserAgent: boolean; ids: string[] }
  >();
  for (const row of rows) {
    const flags = {
      sentWithIp: row.clientIp !== null,
      sentWithUserAgent: row.clientUserAgent !== null,
    };
    const key = `${flags.sentWithIp}|${flags.sentWithUserAgent}`;
    const group = groups.get(key) ?? { ...flags, ids: [] };
    group.ids.push(row.id);
    groups.set(key, group);
  }
  const metaResponse = {
    events_received: meta.eventsReceived,
    fbtrace_id: meta.fbtraceId,
    batch_size: rows.length,
  };
  let count = 0;
  for (const { ids, ...flags } of groups.values()) {
    count += await store.markSent(ids, lease, {
      sentAt: now,
      fbtraceId: meta.fbtraceId,
      metaResponse,
      ...flags,
    });
  }
  return count;
}

export interface ErrorFields {
  code: number | null;
  subcode: number | null;
  message: string;
  fbtraceId: string | null;
}

function errorColumns(err: ErrorFields): ErrorColumns {
  return {
    lastErrorCode: err.code,
    lastErrorSubcode: err.subcode,
    lastErrorMessage: err.message.slice(0, 1000),
    lastFbtraceId: err.fbtraceId,
  };
}

export interface ReplayResult {
  requeued: number;
  outsideWindow: number;
}

/** The columns of Undecided, read by Prisma. */
const UNDECIDED_SELECT = {
  id: true,
  eventId: true,
  payload: true,
  clientIp: true,
  clientUserAgent: true,
  consent: true,
  countryCode: true,
  provinceCode: true,
} as const;

/**
 * The one writer of the pipeline's tables: OutboxEvent, WebhookReceipt, BrowserContext, BrowserClient, OrderState,
 * OrderRefund and ShopperLink. Every
 * insert, release, mark, replay, suppression, erasure and delete of their rows is a method here, whatever runs it
 * underneath: the statements of every order, storefront event and batch are prepared SQL (sql.ts), the rest is
 * Prisma. Reads for the admin stay with insights and the routes' loaders. Writes of several rows that other writers
 * may hold are run again when PostgreSQL picks them as a deadlock's victim (decisions 42).
 */
export class Outbox {
  constructor(
    private readonly db: Db,
    private readonly store: SqlStore,
  ) {}

  // --- Intake (intake/): an order webhook or a storefront event becomes a row.

  findContext(
    shopId: string,
    checkoutToken: string,
  ): Promise<IntakeContext | null> {
    return this.store.findContext(shopId, checkoutToken);
  }

  /** An order's event, its receipt and (when one joined) the browser context marked used, in one transaction. */
  insertOrder(
    event: NewOutboxEvent,
    receipt: NewReceipt | null,
    usedContextId: string | null,
  ): Promise<InsertResult> {
    return this.store.insertEvent(finalized(event), receipt, usedContextId);
  }

  /** A storefront event: a PageView registers its browser, any other event needs it registered (decisions 39). */
  insertBrowserEvent(
    event: NewOutboxEvent,
    browser: PostingBrowser,
  ): Promise<InsertResult | "unseen"> {
    return this.store.insertBrowserEvent(finalized(event), browser);
  }

  /** A webhook delivery that made no event. */
  recordReceipt(receipt: NewReceipt): Promise<InsertResult> {
    return this.store.insertReceipt(receipt);
  }

  hasReceipt(webhookId: string): Promise<boolean> {
    return this.store.hasReceipt(webhookId);
  }

  /** False when the checkout's context belongs to another browser and nothing was written (decisions 38). */
  saveContext(
    shopId: string,
    checkoutToken: string,
    fields: ContextFields,
    now: Date,
  ): Promise<boolean> {
    return this.store.saveContext(shopId, checkoutToken, fields, now);
  }

  async findPurchase(
    shopId: string,
    checkoutToken: string,
  ): Promise<Purchase | null> {
    return (await this.store.findPurchase(
      shopId,
      checkoutToken,
    )) as Purchase | null;
  }

  /** A checkout's consent update, on its Purchase while it waits for the browser (decided when the hold ends). */
  async recordHeldConsent(
    shopId: string,
    checkoutToken: string,
    consent: ConsentSnapshot,
  ): Promise<void> {
    await retryOnConflict(() =>
      this.db.outboxEvent.updateMany({
        where: { shopId, checkoutToken, eventName: "Purchase", status: "held" },
        data: { consent: asJson(consent) },
      }),
    );
  }

  /**
   * The browser's context came after its Purchase left `held`: nothing is sent again. The pixel's own Purchase
   * (`seen`) is recorded for the dedup figure with its value and currency (decisions 111), and the context's raw IP
   * and user agent, now of no use, are erased.
   */
  async useLateContext(
    shopId: string,
    checkoutToken: string,
    purchase: {
      id: string;
      seen: { value: number | null; currency: string | null } | null;
    },
    now: Date,
  ): Promise<void> {
    if (purchase.seen) {
      const { value, currency } = purchase.seen;
      await retryOnConflict(() =>
        this.db.outboxEvent.updateMany({
          where: { id: purchase.id, browserSeenAt: null },
          data: {
            browserSeenAt: now,
            browserValue: value,
            browserCurrency: currency,
          },
        }),
      );
    }
    await this.useContext({ shopId, checkoutToken }, now);
  }

  /**
   * The hold timer's page: held rows whose wait for browser context is over, with their checkout's context, read in
   * one query; `decide` (the release rule, called per row in memory) says what each becomes, and the page is written
   * in one statement (sql.ts releaseDue). Returns how many rows were due.
   */
  releaseDueHeld(
    now: Date,
    limit: number,
    decide: (due: DueHeld[]) => RowRelease[],
  ): Promise<number> {
    return this.store.releaseDue(now, limit, (rows) =>
      decide(
        rows.map(({ shopId, settings, salesCountry, context, ...row }) => ({
          row: {
            ...undecided(row as typeof row & { payload: Prisma.JsonValue }),
            status: "held",
          },
          shopId,
          context,
          settings: settings as Prisma.JsonValue,
          salesCountry,
        })),
      ).map((release) => releaseWrite(release, now)),
    );
  }

  /** A shop's pending rows after the id `after`, a page at a time (the re-decision after a consent policy change). */
  async pendingPage(
    shopId: string,
    after: string | null,
    limit: number,
  ): Promise<(Undecided & { id: string })[]> {
    const rows = await this.db.outboxEvent.findMany({
      where: {
        shopId,
        status: "pending",
        ...(after ? { id: { gt: after } } : {}),
      },
      select: { ...UNDECIDED_SELECT, lduApplied: true },
      orderBy: { id: "asc" },
      take: limit,
    });
    return rows.map((row) => ({
      ...undecided(row),
      status: "pending" as const,
    }));
  }

  /** Which of these Purchase event ids the shop has a row for already (reconciliation skips them). */
  async existingPurchases(
    shopId: string,
    eventIds: string[],
  ): Promise<Set<string>> {
    const rows = await this.db.outboxEvent.findMany({
      where: { shopId, eventName: "Purchase", eventId: { in: eventIds } },
      select: { eventId: true },
    });
    return new Set(rows.map((r) => r.eventId));
  }

  /** The shop's orders kept before Connect (decisions 9). */
  async keptBeforeConnect(
    shopId: string,
  ): Promise<
    (Undecided & Pick<OutboxRow, "id" | "actionSource" | "eventTime">)[]
  > {
    const rows = await this.db.outboxEvent.findMany({
      where: { shopId, status: "suppressed", suppressReason: "not_connected" },
      select: { ...UNDECIDED_SELECT, actionSource: true, eventTime: true },
    });
    return rows.map((row) => ({
      ...undecided(row),
      status: "suppressed" as const,
    }));
  }

  /** Writes releases (intake/release.ts) in one statement; returns how many rows they changed. */
  applyReleases(releases: RowRelease[], now: Date): Promise<number> {
    return this.store.applyReleases(
      releases.map((release) => releaseWrite(release, now)),
      now,
    );
  }

  /**
   * The browser that checked out an order is the order's shopper's from now on (decisions 109): its link holds the
   * order's hashed match keys, the newest order's replacing an earlier one.
   */
  async linkShopper(
    shopId: string,
    clientId: string,
    userData: ShopperKeys,
    now: Date,
  ): Promise<void> {
    const columns = {
      userData: asJson(userData),
      customerKey: userData.external_id?.[0] ?? null,
      emailHash: userData.em?.[0] ?? null,
      phoneHash: userData.ph?.[0] ?? null,
      linkedAt: now,
    };
    await retryOnConflict(() =>
      this.db.shopperLink.upsert({
        where: { shopId_clientId: { shopId, clientId } },
        create: { shopId, clientId, ...columns },
        update: columns,
      }),
    );
  }

  /** The hashed match keys of the browser's shopper, when an order linked it since `since`. */
  async shopperKeys(
    shopId: string,
    clientId: string,
    since: Date,
  ): Promise<ShopperKeys | null> {
    const link = await this.store.shopperLink(shopId, clientId);
    return link && link.linkedAt >= since
      ? (link.userData as unknown as ShopperKeys)
      : null;
  }

  /** Rows not sent yet (held or pending) become suppressed: an order cancelled (decisions 10), the app uninstalled. */
  async suppressUnsent(
    where: { shopId: string; eventName?: string; eventId?: string },
    reason: SuppressReason,
    now: Date,
  ): Promise<number> {
    const res = await retryOnConflict(() =>
      this.db.outboxEvent.updateMany({
        where: { ...where, status: { in: ["held", "pending"] } },
        data: {
          status: "suppressed",
          suppressReason: reason,
          ...finalFields(now),
        },
      }),
    );
    return res.count;
  }

  /**
   * An order as its newest webhook shows it (decisions 67). Written only when newer than the state kept (by the
   * order's updated_at, one conditional statement): a late, older webhook changes nothing. True when written.
   */
  async saveOrderState(state: OrderStateRow): Promise<boolean> {
    const { shopId, orderId, ...fields } = state;
    const data = { ...fields, customData: asJson(fields.customData) };
    const newer = await retryOnConflict(() =>
      this.db.orderState.updateMany({
        where: {
          shopId,
          orderId,
          orderUpdatedAt: { lt: state.orderUpdatedAt },
        },
        data,
      }),
    );
    if (newer.count) return true;
    try {
      await this.db.orderState.create({ data: { shopId, orderId, ...data } });
      return true;
    } catch (err) {
      // The state exists and is as new or newer (or a concurrent delivery wrote it first).
      if ((err as { code?: string }).code === "P2002") return false;
      throw err;
    }
  }

  async orderState(
    shopId: string,
    orderId: string,
  ): Promise<OrderStateRow | null> {
    const row = await this.store.orderState(shopId, orderId);
    return (
      row && {
        shopId,
        orderId,
        ...row,
        customData: row.customData as CustomData,
      }
    );
  }

  /**
   * The order changed while its Purchase waits (held or pending): the payload carries its value and contents as
   * they are now (decisions 67). A row that moves meanwhile (released, claimed) is read again; a row claimed or
   * sent is left as it is. True when a row was written.
   */
  async refreshUnsent(
    where: { shopId: string; eventName: string; eventId: string },
    customData: CustomData,
  ): Promise<boolean> {
    // Every unsent row of the event: a routed event has one per dataset (decisions 131).
    let refreshed = false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const rows = await this.db.outboxEvent.findMany({
        where: { ...where, status: { in: ["held", "pending"] } },
        select: { id: true, status: true, payload: true },
      });
      let moved = false;
      for (const row of rows) {
        const payload = {
          ...(row.payload as unknown as CapiEvent),
          custom_data: customData,
        };
        const res = await retryOnConflict(() =>
          this.db.outboxEvent.updateMany({
            where: { id: row.id, status: row.status },
            data: { payload: asJson(payload), ...valueColumns(customData) },
          }),
        );
        if (res.count) refreshed = true;
        else moved = true;
      }
      if (!moved) break;
    }
    return refreshed;
  }

  /** The Purchase of an event id while it is held or pending. */
  async unsentPurchase(
    shopId: string,
    eventId: string,
  ): Promise<{ id: string; payload: CapiEvent } | null> {
    const row = await this.db.outboxEvent.findFirst({
      where: {
        shopId,
        eventName: "Purchase",
        eventId,
        status: { in: ["held", "pending"] },
      },
      select: { id: true, payload: true },
    });
    return row && { id: row.id, payload: row.payload as unknown as CapiEvent };
  }

  /** A refund, once (by its id): "duplicate" when it was recorded before (decisions 68). */
  async recordRefund(refund: RefundRow): Promise<"inserted" | "duplicate"> {
    try {
      await this.db.orderRefund.create({ data: refund });
      return "inserted";
    } catch (err) {
      if ((err as { code?: string }).code === "P2002") return "duplicate";
      throw err;
    }
  }

  /** What was refunded of an order, per currency. */
  async refundsOf(
    shopId: string,
    orderId: string,
  ): Promise<{ amount: number; currency: string | null }[]> {
    return this.db.orderRefund.findMany({
      where: { shopId, orderId },
      select: { amount: true, currency: true },
    });
  }

  /** A browser context that joined its Purchase: marked used, its raw IP and user agent erased (sql.ts useContext). */
  private async useContext(
    where: Prisma.BrowserContextWhereInput,
    now: Date,
  ): Promise<void> {
    await retryOnConflict(() =>
      this.db.browserContext.updateMany({
        where,
        data: { usedAt: now, clientIp: null, clientUserAgent: null },
      }),
    );
  }

  // --- Delivery (delivery/): claims, leases and marks, and the sweeps of the dispatcher's housekeeping.

  /**
   * Leases up to `limit` due rows of one shop (of one destination with `destinationId`, for a shop that routes):
   * exactly one claimer per row.
   */
  claim(
    shopId: string,
    lease: string,
    opts: ClaimOptions,
  ): Promise<ClaimedBatch> {
    return claimBatch(this.store, shopId, lease, opts);
  }

  /**
   * Routes a page of the shop's pending rows not routed yet (decisions 132). `route` names the datasets a row goes
   * to. A row for one dataset is routed by one prepared statement for the page, and claimed by it when `claims`
   * holds a lease with room for that dataset (decisions 184); a row for several goes to the first, and a copy of it
   * (its lane: that dataset's id) to each further one, made in the same transaction and only by the router whose
   * guarded update took the row, claimed later; a row no dataset takes is kept back ("no_destination"). Every write
   * only takes a row still pending and not routed. Returns how many rows it routed, and the rows it claimed by lease.
   */
  async routePending(
    shopId: string,
    route: (row: RoutedRow) => string[],
    now: Date,
    limit = 1_000,
    claims?: RouteClaims,
  ): Promise<{ routed: number; claimed: Map<string, ClaimedRow[]> }> {
    const claimed = new Map<string, ClaimedRow[]>();
    const rows = await this.store.unrouted(shopId, limit);
    if (rows.length === 0) return { routed: 0, claimed };
    const plans = rows.map((row) => ({ row, to: route(row) }));
    const leased = new Map<string, number>();
    const single: RouteRow[] = [];
    for (const { row, to } of plans) {
      if (to.length !== 1) continue;
      const due = row.nextAttemptAt.getTime() <= now.getTime();
      const room = due ? claims?.room.get(to[0]) : undefined;
      const n = leased.get(to[0]) ?? 0;
      const lease = room && n < room.rows ? room.lease : null;
      if (lease) leased.set(to[0], n + 1);
      single.push({ id: row.id, destinationId: to[0], lease });
    }
    const written = await this.store.routeRows(
      single,
      new Date(now.getTime() + (claims?.leaseMs ?? 0)),
      now,
    );
    for (const claim of written) {
      if (claim.leaseOwner === null) continue;
      const { leaseOwner, ...row } = claim;
      const rows = claimed.get(leaseOwner) ?? [];
      rows.push(row);
      claimed.set(leaseOwner, rows);
    }
    const others = plans.filter(({ to }) => to.length !== 1);
    if (others.length === 0) return { routed: written.length, claimed };
    const byFirst = new Map<string | null, string[]>();
    for (const { row, to } of others) {
      const ids = byFirst.get(to[0] ?? null) ?? [];
      ids.push(row.id);
      byFirst.set(to[0] ?? null, ids);
    }
    const copiedRouted = await retryOnConflict(() =>
      this.db.$transaction(async (tx) => {
        const taken = new Set<string>();
        for (const [first, ids] of byFirst) {
          const won = await tx.outboxEvent.updateManyAndReturn({
            where: {
              id: { in: ids },
              status: "pending",
              destinationId: null,
            },
            data:
              first === null
                ? {
                    status: "suppressed",
                    suppressReason: "no_destination",
                    ...finalFields(now),
                  }
                : { destinationId: first, updatedAt: now },
            select: { id: true },
          });
          for (const { id } of won) taken.add(id);
        }
        const copied = others.filter(
          ({ row, to }) => to.length > 1 && taken.has(row.id),
        );
        if (copied.length > 0) {
          // The whole rows (payloads) of those only.
          const full = new Map(
            (
              await tx.outboxEvent.findMany({
                where: { id: { in: copied.map(({ row }) => row.id) } },
              })
            ).map((row) => [row.id, row]),
          );
          await tx.outboxEvent.createMany({
            data: copied.flatMap(({ row, to }) =>
              to
                .slice(1)
                .map((destinationId) =>
                  copyTo(full.get(row.id)!, destinationId, now),
                ),
            ),
          });
        }
        return taken.size;
      }),
    );
    return { routed: written.length + copiedRouted, claimed };
  }

  /**
   * A destination being removed: its rows not sent yet are kept back ("destination_removed"), final, so that no
   * dispatcher sends them with its token any more and a replay does not bring them back (decisions 130).
   */
  async dropDestination(
    shopId: string,
    destinationId: string,
    now: Date,
  ): Promise<number> {
    const res = await retryOnConflict(() =>
      this.db.outboxEvent.updateMany({
        where: {
          shopId,
          destinationId,
          status: { in: ["pending", "sending"] },
        },
        data: {
          status: "suppressed",
          suppressReason: "destination_removed",
          ...finalFields(now),
        },
      }),
    );
    return res.count;
  }

  /** The shops that may send now and have a due row (sql.ts dueShops). */
  dueShops(now: Date): Promise<string[]> {
    return this.store.dueShops(now);
  }

  /** Extends the lease of its rows; returns the ids still the lease's (another dispatcher may have reclaimed some). */
  renewLease(
    ids: string[],
    lease: string,
    leaseUntil: Date,
    now: Date,
  ): Promise<string[]> {
    return this.store.renewLease(ids, lease, leaseUntil, now);
  }

  /** Rows of a lease sent, their raw IP and user agent erased; returns how many were still the lease's. */
  markSent(
    rows: Pick<ClaimedRow, "id" | "clientIp" | "clientUserAgent">[],
    lease: string,
    meta: { fbtraceId: string | null; eventsReceived: number },
    now = new Date(),
  ): Promise<number> {
    return markSent(this.store, rows, lease, meta, now);
  }

  /** Back to pending for a later attempt; `ambiguous` records that the request may have reached Meta. */
  async markRetry(
    ids: string[],
    lease: string,
    err: ErrorFields,
    opts: { nextAttemptAt: Date; ambiguous: boolean; countAttempt: boolean },
    now = new Date(),
  ): Promise<void> {
    await this.store.markRetry(ids, lease, {
      ...errorColumns(err),
      ...opts,
      now,
    });
  }

  /** Terminal: Meta rejected the event itself (`failed`) or it is too old (`expired`). */
  async markFinal(
    ids: string[],
    lease: string,
    status: "failed" | "expired",
    err: ErrorFields,
    now = new Date(),
  ): Promise<void> {
    await this.store.markFinal(ids, lease, {
      ...errorColumns(err),
      status,
      now,
    });
  }

  /** Every row leased under `leasePrefix` back to pending (a stopping dispatcher's). */
  releaseLeases(leasePrefix: string, now: Date): Promise<number> {
    return this.store.releaseLeases(leasePrefix, now);
  }

  /** Rows whose lease ran out back to pending; they may have reached Meta, so each resend is counted. */
  reclaimExpiredLeases(now: Date): Promise<number> {
    return this.store.reclaimExpiredLeases(now);
  }

  expireStale(now = new Date()): Promise<number> {
    return expireStale(this.store, now);
  }

  /** Deletes final rows (and stale browser context, and browsers seen) older than each shop's retention period. */
  async prune(now = new Date()): Promise<number> {
    const db = this.db;
    const shops = await db.shop.findMany({
      select: { id: true, domain: true, settings: true },
    });
    let removed = 0;
    for (const shop of shops) {
      const cutoff = new Date(
        now.getTime() - parseSettings(shop.settings).retentionDays * 86_400_000,
      );
      const res = await retryOnConflict(() =>
        db.outboxEvent.deleteMany({
          where: {
            shopId: shop.id,
            status: { in: FINAL_STATUSES },
            finalAt: { lt: cutoff },
          },
        }),
      );
      await db.webhookReceipt.deleteMany({
        where: { shopDomain: shop.domain, receivedAt: { lt: cutoff } },
      });
      // An order's newest state and its refunds matter while its Purchase may still go, and for the admin's
      // periods (decisions 67, 68): kept as long as the shop's events.
      await db.orderState.deleteMany({
        where: { shopId: shop.id, receivedAt: { lt: cutoff } },
      });
      await db.orderRefund.deleteMany({
        where: { shopId: shop.id, refundedAt: { lt: cutoff } },
      });
      // A browser seen longer ago registers again with its next page view (decisions 39).
      await db.browserClient.deleteMany({
        where: { shopId: shop.id, seenAt: { lt: cutoff } },
      });
      // A shopper's link ends with the retention period of the order that made it (decisions 109).
      await db.shopperLink.deleteMany({
        where: { shopId: shop.id, linkedAt: { lt: cutoff } },
      });
      removed += res.count;
    }
    // Receipts of domains without a shop row (never installed, or redacted since) follow the default period.
    const known = new Set(shops.map((s) => s.domain));
    const cutoff = new Date(
      now.getTime() - DEFAULT_SETTINGS.retentionDays * 86_400_000,
    );
    const stale = await db.webhookReceipt.groupBy({
      by: ["shopDomain"],
      where: { receivedAt: { lt: cutoff } },
    });
    const orphans = stale.map((r) => r.shopDomain).filter((d) => !known.has(d));
    if (orphans.length)
      await db.webhookReceipt.deleteMany({
        where: { shopDomain: { in: orphans }, receivedAt: { lt: cutoff } },
      });
    // Browser context (raw IP and UA) is only useful until its order arrives; Shopify retries webhooks for ~4 h.
    await db.browserContext.deleteMany({
      where: { receivedAt: { lt: new Date(now.getTime() - 86_400_000) } },
    });
    return removed;
  }

  // --- The admin and the ops CLI.

  /**
   * Re-queues failed (or, by request, other final) events, keeping their event ids so Meta deduplicates.
   * Only events still inside Meta's window can go; the rest stay as they are and are counted.
   */
  async replay(
    filter: {
      shopId: string;
      statuses: OutboxStatus[];
      since?: Date;
      ids?: string[];
    },
    now = new Date(),
  ): Promise<ReplayResult> {
    const where = {
      shopId: filter.shopId,
      status: { in: filter.statuses },
      // A removed destination's events have nowhere to go (decisions 134). Prisma's `not` leaves out nulls.
      AND: [
        {
          OR: [
            { suppressReason: null },
            { suppressReason: { not: "destination_removed" } },
          ],
        },
      ],
      ...(filter.since ? { receivedAt: { gte: filter.since } } : {}),
      ...(filter.ids ? { id: { in: filter.ids } } : {}),
    };
    const inside = {
      OR: [
        {
          actionSource: { not: "physical_store" },
          eventTime: { gt: windowStart("website", now) },
        },
        {
          actionSource: "physical_store",
          eventTime: { gt: windowStart("physical_store", now) },
        },
      ],
    };
    const requeued = await retryOnConflict(() =>
      this.db.outboxEvent.updateMany({
        where: { ...where, ...inside },
        data: {
          status: "pending",
          nextAttemptAt: now,
          attempts: 0,
          suppressReason: null,
          finalAt: null,
          leaseOwner: null,
        },
      }),
    );
    const outsideWindow = await this.db.outboxEvent.count({ where });
    return { requeued: requeued.count, outsideWindow };
  }

  // --- Privacy (privacy/): Shopify's redaction webhooks.

  /**
   * Everything held for the customer: rows found by a hashed identifier or an order id, plus every event of those
   * orders' checkouts (browser checkout steps may carry no identifier, only the checkout token).
   */
  async customerScope(
    shopId: string,
    keys: CustomerKeys,
  ): Promise<CustomerScope> {
    const db = this.db;
    const select = {
      id: true,
      eventId: true,
      checkoutToken: true,
      orderId: true,
    } as const;
    const hashed = hashedKeys(keys);
    const direct = [
      ...(hashed.length
        ? await db.outboxEvent.findMany({
            where: { shopId, OR: hashed },
            select,
          })
        : []),
      ...(await inPages(keys.orderIds, (page) =>
        db.outboxEvent.findMany({
          where: { shopId, orderId: { in: page } },
          select,
        }),
      )),
    ];
    const orderIds = present([
      ...keys.orderIds,
      ...direct.map((r) => r.orderId),
    ]);
    const contexts = await inPages(orderIds, (page) =>
      db.browserContext.findMany({
        where: { shopId, orderId: { in: page } },
        select: { checkoutToken: true },
      }),
    );
    const checkoutTokens = present([
      ...direct.map((r) => r.checkoutToken),
      ...contexts.map((c) => c.checkoutToken),
    ]);
    const viaCheckout = await inPages(checkoutTokens, (page) =>
      db.outboxEvent.findMany({
        where: { shopId, checkoutToken: { in: page } },
        select,
      }),
    );
    const rows = [
      ...new Map([...direct, ...viaCheckout].map((r) => [r.id, r])).values(),
    ];
    return {
      rowIds: rows.map((r) => r.id),
      eventIds: rows.map((r) => r.eventId),
      checkoutTokens,
      orderIds,
    };
  }

  /** The rows of a customer as a data request reports them. */
  customerEvents(rowIds: string[]) {
    return inPages(rowIds, (page) =>
      this.db.outboxEvent.findMany({
        where: { id: { in: page } },
        select: {
          ...EVENT_SUMMARY_SELECT,
          payload: true,
          clientIp: true,
          clientUserAgent: true,
        },
      }),
    );
  }

  /** The browsers linked to the customer by their hashed keys (decisions 109), as a data request reports them. */
  async customerLinks(
    shopId: string,
    keys: Omit<CustomerKeys, "orderIds">,
  ): Promise<{ userData: Prisma.JsonValue; linkedAt: Date }[]> {
    const or = hashedKeys(keys) as Prisma.ShopperLinkWhereInput[];
    return or.length
      ? this.db.shopperLink.findMany({
          where: { shopId, OR: or },
          select: { userData: true, linkedAt: true },
        })
      : [];
  }

  /**
   * customers/redact: the customer's events, their checkouts' browser context, the marks of the browsers that
   * checked out as them (decisions 39), the links of those browsers and of any browser linked to the customer's
   * hashed keys (decisions 109) and their orders' webhook receipts, deleted in one transaction with `alongside`.
   * Returns how many rows the events, contexts, links and `alongside` deletes removed.
   */
  async eraseCustomer(
    shopId: string,
    scope: CustomerScope,
    keys: Omit<CustomerKeys, "orderIds">,
    alongside: Deletes,
  ): Promise<{
    events: number;
    contexts: number;
    links: number;
    alongside: number;
  }> {
    const { customerKey } = keys;
    const db = this.db;
    const shop = await db.shop.findUnique({
      where: { id: shopId },
      select: { domain: true },
    });
    const owners = [
      ...(await inPages(scope.checkoutTokens, (page) =>
        db.browserContext.findMany({
          where: { shopId, checkoutToken: { in: page } },
          select: { clientId: true },
        }),
      )),
      ...(customerKey
        ? await db.browserContext.findMany({
            where: { shopId, customerKey },
            select: { clientId: true },
          })
        : []),
    ];
    const clientIds = present(owners.map((c) => c.clientId));
    const linked = [
      ...hashedKeys(keys),
      ...(clientIds.length ? [{ clientId: { in: clientIds } }] : []),
    ] as Prisma.ShopperLinkWhereInput[];
    const [events, contexts, others, , links] = await deleteInOneTransaction(
      db,
      [
        pages(scope.rowIds).map((page) =>
          db.outboxEvent.deleteMany({ where: { id: { in: page } } }),
        ),
        // The contexts of the customer's orders are among these checkouts (customerScope found them by order id).
        [
          ...pages(scope.checkoutTokens).map((page) =>
            db.browserContext.deleteMany({
              where: { shopId, checkoutToken: { in: page } },
            }),
          ),
          ...(customerKey
            ? [db.browserContext.deleteMany({ where: { shopId, customerKey } })]
            : []),
        ],
        alongside,
        pages(clientIds).map((page) =>
          db.browserClient.deleteMany({
            where: { shopId, clientId: { in: page } },
          }),
        ),
        linked.length
          ? [db.shopperLink.deleteMany({ where: { shopId, OR: linked } })]
          : [],
        pages(scope.orderIds).map((page) =>
          db.webhookReceipt.deleteMany({
            where: { shopDomain: shop?.domain ?? "", orderId: { in: page } },
          }),
        ),
      ],
    );
    return { events, contexts, links, alongside: others };
  }

  /**
   * shop/redact: the shop's webhook receipts (kept by domain), deleted in one transaction with `alongside`: the Shop
   * row, whose delete cascades to its events, browser contexts and browsers. Returns the rows each of those deleted.
   */
  async eraseShop(domain: string, alongside: Deletes): Promise<number[]> {
    const results = await this.db.$transaction([
      ...alongside,
      this.db.webhookReceipt.deleteMany({ where: { shopDomain: domain } }),
    ]);
    return results.slice(0, alongside.length).map((r) => r.count);
  }
}

/** A row written final keeps no raw IP or user agent (decisions 8). */
function finalized(event: NewOutboxEvent): NewOutboxEvent {
  return FINAL_STATUSES.includes(event.status as OutboxStatus)
    ? {
        ...event,
        clientIp: null,
        clientUserAgent: null,
        finalAt: event.receivedAt,
      }
    : event;
}

function undecided<R extends { payload: Prisma.JsonValue }>(
  row: R,
): Omit<R, "payload"> & { payload: CapiEvent } {
  return { ...row, payload: row.payload as unknown as CapiEvent };
}

/** A release as the store writes it: the row's new columns, and a suppressed row's final ones (decisions 8). */
function releaseWrite(
  { id, from, update, contextId }: RowRelease,
  now: Date,
): ReleaseWrite {
  const { consent, ...columns } = update;
  return {
    id,
    from,
    contextId,
    set: {
      ...columns,
      ...(consent != null ? { consent } : {}),
      ...(columns.status === "suppressed" ? finalFields(now) : {}),
    },
  };
}

/** The customer's hashed identifiers as conditions on an event (or a shopper link: the same three columns). */
function hashedKeys(
  k: Omit<CustomerKeys, "orderIds">,
): Prisma.OutboxEventWhereInput[] {
  const or: Prisma.OutboxEventWhereInput[] = [];
  if (k.customerKey) or.push({ customerKey: k.customerKey });
  if (k.emailHash) or.push({ emailHash: k.emailHash });
  if (k.phoneHash) or.push({ phoneHash: k.phoneHash });
  return or;
}

const present = <T>(values: (T | null | undefined)[]): T[] => [
  ...new Set(values.filter((v): v is T => v != null && v !== "")),
];

/**
 * Values per `in` list, well below the bound parameters a statement may have (SQLite 32,766, PostgreSQL 65,535): a
 * customer's orders, and so their checkouts, can number tens of thousands.
 */
const PAGE = 5_000;

function pages<V>(values: V[]): V[][] {
  return Array.from({ length: Math.ceil(values.length / PAGE) }, (_, i) =>
    values.slice(i * PAGE, (i + 1) * PAGE),
  );
}

/** `fn` over the values a page at a time, in order, results concatenated. */
async function inPages<V, R>(
  values: V[],
  fn: (page: V[]) => Promise<R[]>,
): Promise<R[]> {
  const out: R[] = [];
  for (const page of pages(values)) out.push(...(await fn(page)));
  return out;
}

/** Runs groups of deletes in one transaction; returns the rows each group deleted. */
async function deleteInOneTransaction(
  db: Db,
  groups: Deletes[],
): Promise<number[]> {
  const results = await db.$transaction(groups.flat());
  let at = 0;
  return groups.map((group) =>
    results
      .slice(at, (at += group.length))
      .reduce((sum, r) => sum + r.count, 0),
  );
}
