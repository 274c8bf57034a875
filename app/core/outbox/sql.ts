import { randomBytes } from "node:crypto";
import type BetterSqlite3 from "better-sqlite3";
import type { Pool, PoolClient, QueryConfig } from "pg";
import type { BrowserContext, OutboxEvent, Shop } from "../db";
import { OUTBOX_STATUSES } from "./statuses";
import { storableJson, storableText } from "./storableText";
import { retryOnConflict } from "./backoff";
import { sqliteTime } from "../fast";

// The hot paths in plain SQL on the driver, beside Prisma (which owns the schema and does everything else): the
// order webhook's reads and writes, which run for every order, the pixel endpoint's, which run for every
// storefront event, and the dispatcher's claim and sent marks, which run for every batch of 1,000. Through Prisma each intake statement costs ~1 ms of CPU (the query compiler
// runs per query and the adapter re-prepares every statement), and a claim plus its sent mark ~100 ms where their
// SQL takes ~35 ms (npm run bench). Here each statement is prepared once per connection. Values are stored exactly as Prisma stores them (the tests read these rows through
// Prisma): SQLite DateTime as ISO-8601 text with "+00:00", Json as text, Boolean as 0/1; PostgreSQL timestamp(3)
// without time zone in UTC, jsonb.
// Text and Json values are written storable (storableText.ts), and checkout tokens looked up the same way.
// The statements of the outbox's tables are outbox.ts's (class Outbox): nothing else calls them. findShop reads the
// Shop table for intake; the shops stage prepares its own write here (prepareWrite, decisions 56).

/** The shop columns intake decides with. */
export type IntakeShop = Pick<
  Shop,
  | "id"
  | "domain"
  | "settings"
  | "uninstalledAt"
  | "pixelId"
  | "tokenCiphertext"
  | "testEventCode"
  | "testEventCodeSetAt"
  | "ingestKey"
  | "shopifyId"
  | "primaryDomain"
  | "salesCountry"
  | "largestOrderValues"
>;

/** A statement of another stage's table, in both dialects, for SqlStore.prepareWrite. */
export interface WriteStatement {
  /** Unique among the store's statements: PostgreSQL prepares it under this name. */
  name: string;
  /** SQLite's text, with named parameters (@name). */
  sqlite: string;
  /** PostgreSQL's text, with $1… in the order of `params`; `table` quotes (and qualifies) a table's name. */
  postgresql: (table: (name: string) => string) => string;
  params: readonly string[];
}

/** The browser context columns a Purchase joins (intake/release.ts). */
export type IntakeContext = Pick<
  BrowserContext,
  | "id"
  | "clientId"
  | "orderId"
  | "fbp"
  | "fbc"
  | "clientIp"
  | "clientUserAgent"
  | "eventSourceUrl"
  | "consent"
  | "value"
  | "currency"
>;

/**
 * A new outbox row: what intake knows of the event. The columns it leaves out start empty (null, no LDU, due at
 * once; eventValues), the others keep their database defaults.
 */
export interface NewOutboxEvent {
  shopId: string;
  eventName: string;
  eventId: string;
  source: string;
  status: string;
  actionSource: string;
  eventTime: Date;
  payload: unknown;
  receivedAt: Date;
  suppressReason?: string | null;
  lastErrorMessage?: string | null;
  clientIp?: string | null;
  clientUserAgent?: string | null;
  countryCode?: string | null;
  provinceCode?: string | null;
  consent?: unknown;
  lduApplied?: boolean;
  orderId?: string | null;
  orderName?: string | null;
  checkoutToken?: string | null;
  orderSource?: string | null;
  value?: number | null;
  currency?: string | null;
  customerKey?: string | null;
  emailHash?: string | null;
  phoneHash?: string | null;
  /** Why each match key it lacks is missing (missingKeys.ts, decisions 150). */
  missingKeys?: string | null;
  holdUntil?: Date | null;
  nextAttemptAt?: Date;
  browserSeenAt?: Date | null;
  browserValue?: number | null;
  browserCurrency?: string | null;
  releasedAt?: Date | null;
  finalAt?: Date | null;
}

export interface NewReceipt {
  webhookId: string;
  shopDomain: string;
  topic: string;
  outcome: string;
  reason: string | null;
  orderId: string | null;
  receivedAt: Date;
}

/** What the browser tells of a checkout; null leaves the stored value as it is. */
export interface ContextFields {
  /** The pixel's clientId of the posting browser: with fbp, who may change the row (decisions 38). */
  clientId: string | null;
  fbp: string | null;
  fbc: string | null;
  eventSourceUrl: string | null;
  orderId: string | null;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
  /** What the pixel's own Purchase was worth (decisions 111). */
  value: number | null;
  currency: string | null;
}

/** The columns of a checkout's Purchase that a browser context is merged into. */
export type PurchaseRow = Pick<
  OutboxEvent,
  | "id"
  | "eventId"
  | "status"
  | "browserSeenAt"
  | "payload"
  | "clientIp"
  | "clientUserAgent"
  | "consent"
  | "countryCode"
  | "provinceCode"
>;

export type InsertResult = "inserted" | "duplicate";

/** The browser a pixel event came from: a PageView registers it, any other event needs it registered (decisions 39). */
export interface PostingBrowser {
  clientId: string | null;
  pageView: boolean;
}

/** A row as the dispatcher sends it. */
export type ClaimedRow = Pick<
  OutboxEvent,
  | "id"
  | "eventName"
  | "eventId"
  | "clientIp"
  | "clientUserAgent"
  | "attempts"
  | "actionSource"
  | "eventTime"
> & {
  /**
   * The stored payload as JSON text, unparsed: parsing 1,000 payloads and serialising them again for the request
   * cost ~12 % of the dispatcher's time (npm run bench, delivery). fast/eventsForMeta.ts adds the IP and UA.
   */
  payloadJson: string;
};

export type UnroutedRow = Pick<
  OutboxEvent,
  "id" | "countryCode" | "currency" | "orderSource" | "nextAttemptAt"
>;

/** A row to route: the dataset it goes to, and the lease that claims it as it is routed (null: routed only). */
export interface RouteRow {
  id: string;
  destinationId: string;
  lease: string | null;
}

/** A routed row as the route write returns it: claimed (`leaseOwner` its lease), or routed only, without its payload. */
export type RoutedClaim = Omit<ClaimedRow, "payloadJson"> &
  (
    | { leaseOwner: string; payloadJson: string }
    | { leaseOwner: null; payloadJson: null }
  );

export interface SentFields {
  sentAt: Date;
  fbtraceId: string | null;
  metaResponse: unknown;
  sentWithIp: boolean;
  sentWithUserAgent: boolean;
}

/** What Meta answered to a failed send, kept on the row for the admin. */
export interface ErrorColumns {
  lastErrorCode: number | null;
  lastErrorSubcode: number | null;
  lastErrorMessage: string;
  lastFbtraceId: string | null;
}

export interface RetryFields extends ErrorColumns {
  nextAttemptAt: Date;
  /** The request may have reached Meta: counted on the row. */
  ambiguous: boolean;
  /** false gives the attempt the claim counted back (the shop was paused, not the event refused). */
  countAttempt: boolean;
  now: Date;
}

export interface FinalFields extends ErrorColumns {
  status: "failed" | "expired";
  now: Date;
}

/** The columns a release may write (outbox.ts releaseWrite), with the type PostgreSQL reads each from JSON text as. */
const RELEASE_COLUMNS = {
  status: "text",
  suppressReason: "text",
  payload: "jsonb",
  actionSource: "text",
  consent: "jsonb",
  clientIp: "text",
  clientUserAgent: "text",
  lduApplied: "boolean",
  holdUntil: "timestamp(3)",
  releasedAt: "timestamp(3)",
  nextAttemptAt: "timestamp(3)",
  finalAt: "timestamp(3)",
  browserSeenAt: "timestamp(3)",
  browserValue: "double precision",
  browserCurrency: "text",
  leaseOwner: "text",
  leaseUntil: "timestamp(3)",
} as const;
export type ReleaseColumn = keyof typeof RELEASE_COLUMNS;

/** One row's release as the store writes it: a column left out keeps its value. */
export interface ReleaseWrite {
  id: string;
  /** Written only while the row still has this status. */
  from: string;
  set: Partial<Record<ReleaseColumn, unknown>>;
  /** The browser context it used: marked used, its raw IP and user agent erased, once the row is written. */
  contextId: string | null;
}

/** A held row whose hold is over, with its checkout's browser context and its shop's settings and sales country. */
export interface DueHeldRow {
  id: string;
  shopId: string;
  eventId: string;
  payload: unknown;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
  countryCode: string | null;
  provinceCode: string | null;
  settings: unknown;
  /** The shop's sales country: the release rule's region fallback (decisions 66-75). */
  salesCountry: string | null;
  context: IntakeContext | null;
}

export interface SqlStore {
  findShop(domain: string): Promise<IntakeShop | null>;
  findContext(
    shopId: string,
    checkoutToken: string,
  ): Promise<IntakeContext | null>;
  /**
   * The event, its receipt (webhooks) and (when one joined) the browser context marked used and stripped of its
   * raw IP and user agent, in one transaction. "duplicate" when a unique key (webhook id, or shop + event)
   * already exists.
   */
  insertEvent(
    event: NewOutboxEvent,
    receipt: NewReceipt | null,
    usedContextId: string | null,
  ): Promise<InsertResult>;
  insertReceipt(receipt: NewReceipt): Promise<InsertResult>;
  /**
   * A browser event, without a round trip of its own for the check: a PageView is written with its browser's mark
   * (insert-or-ignore, same transaction); any other event is written only when its browser is marked (a conditional
   * insert), else "unseen" and nothing is written (decisions 39).
   */
  insertBrowserEvent(
    event: NewOutboxEvent,
    browser: PostingBrowser,
  ): Promise<InsertResult | "unseen">;
  /**
   * Prepares another stage's write of its own table on this store's connection (decisions 56): on SQLite it joins
   * the group commit of the writes beside it, as an outbox write does; on PostgreSQL it is prepared once per
   * connection.
   */
  prepareWrite(
    statement: WriteStatement,
  ): (values: Record<string, unknown>) => Promise<void>;
  /**
   * The hold timer's page: up to `limit` held rows whose hold ended by `now`, with their contexts and settings, read
   * in one query; `decide` (the release rule, in memory) says what each becomes, and the page is written in one
   * statement. On PostgreSQL the page's rows are locked and rows another dispatcher holds skipped, so several
   * dispatchers release side by side. Returns how many rows were due.
   */
  releaseDue(
    now: Date,
    limit: number,
    decide: (due: DueHeldRow[]) => ReleaseWrite[],
  ): Promise<number>;
  /** Writes releases in one statement, each under its status guard; returns how many rows changed. */
  applyReleases(releases: ReleaseWrite[], now: Date): Promise<number>;
  /**
   * The shops that may send now (not paused, uninstalled or backing off) and have a due row: probes of the
   * (shopId, destinationId, status, nextAttemptAt) index per such shop, never a read of the backlog (decisions 87,
   * 180).
   */
  dueShops(now: Date): Promise<string[]>;
  hasReceipt(webhookId: string): Promise<boolean>;
  /**
   * Creates a checkout's browser context, or updates it when the post comes from the browser that created it (same
   * clientId; without one, same fbp), in one statement: no race between two posts of a checkout. False when the row
   * belongs to another browser and nothing was written (decisions 38).
   */
  saveContext(
    shopId: string,
    checkoutToken: string,
    fields: ContextFields,
    now: Date,
  ): Promise<boolean>;
  findPurchase(
    shopId: string,
    checkoutToken: string,
  ): Promise<PurchaseRow | null>;
  /** An order's newest state (decisions 67), as the order webhook reads it. */
  orderState(shopId: string, orderId: string): Promise<StoredOrderState | null>;
  /** A browser's link to its shopper's hashed keys (decisions 109), as a storefront event reads it. */
  shopperLink(
    shopId: string,
    clientId: string,
  ): Promise<StoredShopperLink | null>;
  /**
   * Leases up to `limit` due rows of one shop, oldest first. The lease token is unique per claim and each row goes
   * to exactly one claimer: on SQLite the status guard of the update; on PostgreSQL, with several dispatchers, one
   * statement that locks the due rows and skips those another transaction holds, so a claim never waits.
   */
  claim(
    shopId: string,
    lease: string,
    opts: {
      limit: number;
      leaseUntil: Date;
      now: Date;
      /** Only the rows routed to this destination; null: the rows not routed. */
      destinationId: string | null;
    },
  ): Promise<ClaimedRow[]>;
  // The writes below change rows that other dispatchers may hold: on PostgreSQL each locks its rows in id order
  // first, and is run again when it still loses a deadlock (decisions 42). Each returns how many rows it changed.
  /** A page of the shop's pending rows not routed yet, with what routing reads of them (decisions 132). */
  unrouted(shopId: string, limit: number): Promise<UnroutedRow[]>;
  /**
   * Routes rows to one dataset each, in one statement, each only while still pending and not routed; a row with a
   * lease is claimed by the same write, unless its dataset is paused or backing off (then it is left as it was).
   * Returns the rows it routed (decisions 184).
   */
  routeRows(
    routes: RouteRow[],
    leaseUntil: Date,
    now: Date,
  ): Promise<RoutedClaim[]>;
  /** Extends the lease of its rows to `leaseUntil`; returns the ids still the lease's (another may have reclaimed some). */
  renewLease(
    ids: string[],
    lease: string,
    leaseUntil: Date,
    now: Date,
  ): Promise<string[]>;
  /** Marks rows of a lease sent, erasing the raw IP and user agent; returns how many were still the lease's. */
  markSent(ids: string[], lease: string, fields: SentFields): Promise<number>;
  /** Rows of a lease back to pending for a later attempt, with the error. */
  markRetry(ids: string[], lease: string, fields: RetryFields): Promise<number>;
  /** Rows of a lease final (`failed` or `expired`), with the error, erasing the raw IP and user agent. */
  markFinal(ids: string[], lease: string, fields: FinalFields): Promise<number>;
  /** Every row leased under `leasePrefix` back to pending, due at `now` (a stopping dispatcher's). */
  releaseLeases(leasePrefix: string, now: Date): Promise<number>;
  /** Rows whose lease ran out back to pending, due at `now`; each counted as possibly sent already. */
  reclaimExpiredLeases(now: Date): Promise<number>;
  /**
   * Held and pending rows whose event time is before Meta's window become `expired` with `message`, erasing the
   * raw IP and user agent. The physical_store cutoff must be the earlier of the two (its window is longer).
   */
  expireStale(
    cutoffs: { website: Date; physicalStore: Date },
    message: string,
    now: Date,
  ): Promise<number>;
}

const EVENT_COLUMNS = [
  "id",
  "shopId",
  "eventName",
  "eventId",
  "source",
  "status",
  "suppressReason",
  "lastErrorMessage",
  "actionSource",
  "eventTime",
  "payload",
  "clientIp",
  "clientUserAgent",
  "countryCode",
  "provinceCode",
  "consent",
  "lduApplied",
  "orderId",
  "orderName",
  "checkoutToken",
  "orderSource",
  "value",
  "currency",
  "customerKey",
  "emailHash",
  "phoneHash",
  "missingKeys",
  "holdUntil",
  "nextAttemptAt",
  "browserSeenAt",
  "browserValue",
  "browserCurrency",
  "receivedAt",
  "releasedAt",
  "finalAt",
  "updatedAt",
] as const;
const RECEIPT_COLUMNS = [
  "id",
  "webhookId",
  "shopDomain",
  "topic",
  "outcome",
  "reason",
  "orderId",
  "receivedAt",
] as const;
const SHOP_COLUMNS = [
  "id",
  "domain",
  "settings",
  "uninstalledAt",
  "pixelId",
  "tokenCiphertext",
  "testEventCode",
  "testEventCodeSetAt",
  "ingestKey",
  "shopifyId",
  "primaryDomain",
  "salesCountry",
  "largestOrderValues",
] as const;
const CONTEXT_COLUMNS = [
  "id",
  "clientId",
  "orderId",
  "fbp",
  "fbc",
  "clientIp",
  "clientUserAgent",
  "eventSourceUrl",
  "consent",
  "value",
  "currency",
] as const;
const CONTEXT_FIELDS = [
  "fbp",
  "fbc",
  "eventSourceUrl",
  "orderId",
  "clientIp",
  "clientUserAgent",
  "consent",
  "value",
  "currency",
] as const;
const CONTEXT_INSERT = [...CONTEXT_FIELDS, "clientId"] as const;
/** What the release rule decides a waiting row on (outbox.ts Undecided). */
const UNDECIDED_COLUMNS = [
  "payload",
  "clientIp",
  "clientUserAgent",
  "consent",
  "countryCode",
  "provinceCode",
] as const;
export interface StoredOrderState {
  orderUpdatedAt: Date;
  value: number | null;
  currency: string | null;
  customData: unknown;
}
export interface StoredShopperLink {
  userData: unknown;
  linkedAt: Date;
}
const PURCHASE_COLUMNS = [
  "id",
  "eventId",
  "status",
  "browserSeenAt",
  ...UNDECIDED_COLUMNS,
] as const;
const DUE_HELD_COLUMNS = [
  "id",
  "shopId",
  "eventId",
  ...UNDECIDED_COLUMNS,
] as const;
const CLAIMED_COLUMNS = [
  "id",
  "eventName",
  "eventId",
  "clientIp",
  "clientUserAgent",
  "attempts",
  "actionSource",
  "eventTime",
] as const;
/** Json columns: written as JSON text, read back parsed. */
export const JSON_COLUMNS = new Set([
  "payload",
  "consent",
  "settings",
  "metaResponse",
  "largestOrderValues",
  "customData",
  "userData",
]);
/** DateTime columns the statements read: SQLite gives their text, read back as Dates. */
export const DATE_COLUMNS = new Set([
  "uninstalledAt",
  "testEventCodeSetAt",
  "eventTime",
  "browserSeenAt",
  "orderUpdatedAt",
  "linkedAt",
  "nextAttemptAt",
]);
// "Not any other status" rather than `= 'pending'`: with an equality on status, SQLite (without statistics it
// guesses few rows match) walks every pending row through a status index instead of looking the ids up by key.
const NOT_PENDING = OUTBOX_STATUSES.filter((st) => st !== "pending")
  .map((st) => `'${st}'`)
  .join(", ");

// A random part drawn once per process (two small randomBytes calls per order cost more than the rest of the id).
const processTag = randomBytes(6).toString("hex");
let idCounter = 0;
/** Row ids like Prisma's cuid(): unique across processes, and roughly in creation order. */
export function newRowId(): string {
  idCounter = (idCounter + 1) % 1_679_616;
  return `c${Date.now().toString(36)}${idCounter.toString(36).padStart(4, "0")}${processTag}`;
}

const list = (columns: readonly string[]) =>
  columns.map((c) => `"${c}"`).join(", ");

/**
 * The SQL of one dialect: table names (schema-qualified on PostgreSQL), placeholders, a list of ids bound as one
 * value, and the payload column as JSON text.
 */
function statements(
  dialect: "sqlite" | "postgresql",
  table: (name: string) => string,
  param: (i: number) => string,
  inIds: (i: number) => string,
  payloadText: string,
) {
  const params = (n: number, from = 1) =>
    Array.from({ length: n }, (_, i) => param(from + i)).join(", ");
  const outbox = table("OutboxEvent");
  // PostgreSQL: a write of several outbox rows first locks them in id order. Two writers that lock the rows they
  // share in the same order never wait for each other in a circle; in the order a plan happens to visit them they
  // deadlocked (decisions 42). SQLite has one writer at a time.
  const inIdOrder = (where: string) =>
    dialect === "postgresql"
      ? `"id" IN (SELECT "id" FROM ${outbox} WHERE ${where} ORDER BY "id" FOR UPDATE)`
      : where;
  // A leased row's next attempt is when its lease runs out (reclaimExpiredLeases).
  const lease =
    `"status" = 'sending', "leaseOwner" = ${param(1)}, "leaseUntil" = ${param(2)}, "nextAttemptAt" = ${param(3)}, ` +
    `"attempts" = "attempts" + 1, "updatedAt" = ${param(4)}`;
  const claimed = `RETURNING ${list(CLAIMED_COLUMNS)}, ${payloadText} AS "payloadJson"`;
  const pg = dialect === "postgresql";
  // Claim order: the claim index's own order. Its leading columns are fixed by the WHERE, so this is the order of
  // nextAttemptAt; said in full, because PostgreSQL does not take "destinationId" IS NULL as fixing the column, and
  // for ORDER BY "nextAttemptAt" alone read every due row and sorted them (decisions 180).
  const claimOrder = `"shopId", "destinationId", "status", "nextAttemptAt"`;
  // SQLite: the claim index by name. With statistics (ANALYZE) its planner took the unique key's shopId prefix
  // instead, a read of every row of the shop.
  const byClaimIndex = pg
    ? ""
    : ` INDEXED BY "OutboxEvent_shopId_destinationId_status_nextAttemptAt_idx"`;
  // A claim takes nothing of a dataset paused or backing off (the Shop row for the own dataset, whose id is the
  // shop's, a Destination row for a further one): a send loop that read the dataset before another one paused it
  // must not send the rows that pause put back (decisions 181). `dataset` and `at` are placeholders, in this order.
  const maySend = (dataset: string, at: string) =>
    ["Shop", "Destination"]
      .map(
        (t) =>
          `AND NOT EXISTS (SELECT 1 FROM ${table(t)} AS "p" WHERE "p"."id" = ${dataset} ` +
          `AND ("p"."pausedReason" IS NOT NULL OR "p"."sendNotBefore" > ${at})) `,
      )
      .join("");
  const pgClaim = (destination: string, dataset: string) =>
    pg
      ? // One statement: the due rows nobody holds, locked and leased. Rows other claims or writes hold are
        // skipped, not waited for.
        `WITH "due" AS (SELECT "id" AS "dueId" FROM ${outbox} WHERE "shopId" = ${param(5)} ${destination}AND "status" = 'pending' ` +
        `AND "nextAttemptAt" <= ${param(4)} ${maySend(dataset, param(4))}ORDER BY ${claimOrder} LIMIT ${param(6)} FOR UPDATE SKIP LOCKED) ` +
        `UPDATE ${outbox} SET ${lease} FROM "due" WHERE "id" = "dueId" ${claimed}`
      : `UPDATE ${outbox} SET ${lease} WHERE "id" ${inIds(5)} AND "status" NOT IN (${NOT_PENDING}) ${claimed}`;
  const contextObject =
    `CASE WHEN "c"."id" IS NULL THEN NULL ELSE ${pg ? "jsonb_build_object" : "json_object"}(` +
    CONTEXT_COLUMNS.map(
      (c) =>
        `'${c}', ${c === "consent" && !pg ? `json("c"."${c}")` : `"c"."${c}"`}`,
    ).join(", ") +
    `) END`;
  const releaseRows = pg
    ? `SELECT "e"->>'id' AS "rid", "e"->>'from' AS "rfrom", "e"->'u' AS "u" FROM jsonb_array_elements(${param(2)}::jsonb) AS "e"`
    : `SELECT value->>'$.id' AS "rid", value->>'$.from' AS "rfrom", value->'$.u' AS "u" FROM json_each(${param(2)})`;
  const releaseHas = (c: string) =>
    pg ? `"u" ? '${c}'` : `json_type("u", '$.${c}') IS NOT NULL`;
  const releaseValue = (c: string, type: string) =>
    pg
      ? `("u"->>'${c}')${type === "text" ? "" : `::${type}`}`
      : `"u"->>'$.${c}'`;
  const dueIn = (from: string, where: string) =>
    `SELECT 1 FROM ${from}${outbox} AS "o"${byClaimIndex} WHERE "o"."shopId" = "s"."id" AND ${where} ` +
    `AND "o"."status" = 'pending' AND "o"."nextAttemptAt" <= ${param(2)}`;
  // What a final row keeps of its lease and its network identifiers (outbox.ts finalFields).
  const final = (at: string) =>
    `"clientIp" = NULL, "clientUserAgent" = NULL, "leaseOwner" = NULL, "leaseUntil" = NULL, "finalAt" = ${at}`;
  return {
    // SQLite: the due ids, then their update, under the status guard. Without a destination: the rows not routed.
    candidates:
      `SELECT "id" FROM ${outbox}${byClaimIndex} WHERE "shopId" = ${param(1)} AND "destinationId" IS NULL AND "status" = 'pending' ` +
      `AND "nextAttemptAt" <= ${param(2)} ${maySend(param(1), param(2))}ORDER BY ${claimOrder} LIMIT ${param(3)}`,
    // A routed shop's claims are per destination (decisions 130), through the (shopId, destinationId, status,
    // nextAttemptAt) index.
    destinationCandidates:
      `SELECT "id" FROM ${outbox}${byClaimIndex} WHERE "shopId" = ${param(1)} AND "destinationId" = ${param(4)} AND "status" = 'pending' ` +
      `AND "nextAttemptAt" <= ${param(2)} ${maySend(param(4), param(2))}ORDER BY ${claimOrder} LIMIT ${param(3)}`,
    claim: pgClaim(`AND "destinationId" IS NULL `, param(5)),
    unrouted:
      `SELECT "id", "countryCode", "currency", "orderSource", "nextAttemptAt" FROM ${outbox}${byClaimIndex} ` +
      `WHERE "shopId" = ${param(1)} AND "destinationId" IS NULL AND "status" = 'pending' ORDER BY ${claimOrder} LIMIT ${param(2)}`,
    // A page of routes in one statement, from a JSON array of {id, d, l} (as the release's page, decisions 86); the
    // status as the claim's "not any other status", so that SQLite looks the ids up by key. A row with a lease (l)
    // is claimed in the same write, as the claim leases it, while its dataset may send (decisions 181, 184).
    route:
      `UPDATE ${outbox} SET "destinationId" = "dest", "leaseOwner" = "rlease", ` +
      `"status" = CASE WHEN "rlease" IS NULL THEN "status" ELSE 'sending' END, ` +
      `"leaseUntil" = CASE WHEN "rlease" IS NULL THEN "leaseUntil" ELSE ${param(1)} END, ` +
      `"nextAttemptAt" = CASE WHEN "rlease" IS NULL THEN "nextAttemptAt" ELSE ${param(2)} END, ` +
      `"attempts" = "attempts" + CASE WHEN "rlease" IS NULL THEN 0 ELSE 1 END, "updatedAt" = ${param(3)} FROM (${
        pg
          ? `SELECT "e"->>'id' AS "rid", "e"->>'d' AS "dest", "e"->>'l' AS "rlease" FROM jsonb_array_elements(${param(4)}::jsonb) AS "e"`
          : `SELECT value->>'$.id' AS "rid", value->>'$.d' AS "dest", value->>'$.l' AS "rlease" FROM json_each(${param(4)})`
      }) AS "r" WHERE "id" = "rid" AND "status" NOT IN (${NOT_PENDING}) AND "destinationId" IS NULL ` +
      `AND ("rlease" IS NULL OR (TRUE ${maySend(`"dest"`, param(5))}))` +
      (pg
        ? ` AND ${inIdOrder(`"id" IN (SELECT "e"->>'id' FROM jsonb_array_elements(${param(4)}::jsonb) AS "e")`)}`
        : "") +
      // A row only routed is not sent by this loop: its payload is not read back.
      ` RETURNING ${list(CLAIMED_COLUMNS)}, CASE WHEN "leaseOwner" IS NULL THEN NULL ELSE ${payloadText} END AS "payloadJson", "leaseOwner"`,
    destinationClaim: pgClaim(`AND "destinationId" = ${param(7)} `, param(7)),
    renewLease:
      `UPDATE ${outbox} SET "leaseUntil" = ${param(1)}, "nextAttemptAt" = ${param(2)}, "updatedAt" = ${param(3)} ` +
      `WHERE ${inIdOrder(`"id" ${inIds(4)} AND "leaseOwner" = ${param(5)}`)} RETURNING "id"`,
    markSent:
      `UPDATE ${outbox} SET "status" = 'sent', "sentAt" = ${param(1)}, "lastFbtraceId" = ${param(2)}, "metaResponse" = ${param(3)}, ` +
      `"sentWithIp" = ${param(4)}, "sentWithUserAgent" = ${param(5)}, ${final(param(6))}, "updatedAt" = ${param(7)} ` +
      `WHERE ${inIdOrder(`"id" ${inIds(8)} AND "leaseOwner" = ${param(9)}`)}`,
    markRetry:
      `UPDATE ${outbox} SET "status" = 'pending', "leaseOwner" = NULL, "leaseUntil" = NULL, "nextAttemptAt" = ${param(1)}, ` +
      `"ambiguousSends" = "ambiguousSends" + ${param(2)}, "attempts" = "attempts" - ${param(3)}, "lastErrorCode" = ${param(4)}, ` +
      `"lastErrorSubcode" = ${param(5)}, "lastErrorMessage" = ${param(6)}, "lastFbtraceId" = ${param(7)}, "updatedAt" = ${param(8)} ` +
      `WHERE ${inIdOrder(`"id" ${inIds(9)} AND "leaseOwner" = ${param(10)}`)}`,
    markFinal:
      `UPDATE ${outbox} SET "status" = ${param(1)}, "lastErrorCode" = ${param(2)}, "lastErrorSubcode" = ${param(3)}, ` +
      `"lastErrorMessage" = ${param(4)}, "lastFbtraceId" = ${param(5)}, ${final(param(6))}, "updatedAt" = ${param(7)} ` +
      `WHERE ${inIdOrder(`"id" ${inIds(8)} AND "leaseOwner" = ${param(9)}`)}`,
    releaseLeases:
      `UPDATE ${outbox} SET "status" = 'pending', "leaseOwner" = NULL, "leaseUntil" = NULL, "nextAttemptAt" = ${param(1)}, ` +
      `"updatedAt" = ${param(2)} WHERE ${inIdOrder(`"status" = 'sending' AND substr("leaseOwner", 1, ${param(3)}) = ${param(4)}`)}`,
    reclaimExpiredLeases:
      `UPDATE ${outbox} SET "status" = 'pending', "leaseOwner" = NULL, "leaseUntil" = NULL, "nextAttemptAt" = ${param(1)}, ` +
      `"ambiguousSends" = "ambiguousSends" + 1, "updatedAt" = ${param(2)} ` +
      `WHERE ${inIdOrder(`"status" = 'sending' AND "nextAttemptAt" < ${param(3)} AND "leaseUntil" < ${param(4)}`)}`,
    expireStale:
      // The website cutoff bounds the (status, eventTime) index range; physical_store events have a longer window.
      `UPDATE ${outbox} SET "status" = 'expired', "lastErrorMessage" = ${param(1)}, ${final(param(2))}, "updatedAt" = ${param(3)} ` +
      `WHERE ${inIdOrder(
        `"status" IN ('held', 'pending') AND "eventTime" < ${param(4)} AND ("actionSource" <> 'physical_store' OR "eventTime" < ${param(5)})`,
      )}`,
    // A shop whose own dataset is paused or backing off may still send to another destination (decisions 130).
    dueShops:
      `SELECT "s"."id" FROM ${table("Shop")} AS "s" WHERE "s"."uninstalledAt" IS NULL ` +
      `AND (("s"."pausedReason" IS NULL AND ("s"."sendNotBefore" IS NULL OR "s"."sendNotBefore" <= ${param(1)})) ` +
      `OR EXISTS (SELECT 1 FROM ${table("Destination")} AS "d" WHERE "d"."shopId" = "s"."id" AND "d"."pausedReason" IS NULL ` +
      `AND ("d"."sendNotBefore" IS NULL OR "d"."sendNotBefore" <= ${param(1)}))) ` +
      // One probe of the (shopId, destinationId, status, nextAttemptAt) index per place a due row can be: not routed,
      // routed to the own dataset, routed to a further one (decisions 180).
      // One EXISTS over the three, not an OR of three: PostgreSQL would hash every pending row for an OR.
      `AND EXISTS (${dueIn("", `"o"."destinationId" IS NULL`)} UNION ALL ${dueIn("", `"o"."destinationId" = "s"."id"`)} ` +
      // CROSS JOIN: SQLite then reads the shop's destinations first, each one a probe, not every row of the shop.
      `UNION ALL ${dueIn(`${table("Destination")} AS "d2" CROSS JOIN `, `"d2"."shopId" = "s"."id" AND "o"."destinationId" = "d2"."id"`)})`,
    // The hold timer's page (SqlStore.releaseDue): due rows, their shop's settings and sales country (the release
    // rule's region fallback) and their checkout's context, in one query through the (status, holdUntil) index and
    // the context's unique key.
    dueHeld:
      `SELECT ${DUE_HELD_COLUMNS.map((c) => `"o"."${c}"`).join(", ")}, "s"."settings", "s"."salesCountry", ${contextObject} AS "context" ` +
      `FROM ${outbox} AS "o" JOIN ${table("Shop")} AS "s" ON "s"."id" = "o"."shopId" ` +
      `LEFT JOIN ${table("BrowserContext")} AS "c" ON "c"."shopId" = "o"."shopId" AND "c"."checkoutToken" = "o"."checkoutToken" ` +
      `WHERE "o"."status" = 'held' AND "o"."holdUntil" <= ${param(1)} ORDER BY "o"."holdUntil" LIMIT ${param(2)}` +
      (dialect === "postgresql" ? ` FOR UPDATE OF "o" SKIP LOCKED` : ""),
    // A page of releases in one statement: a JSON array of {id, from, u}, u holding only the columns written.
    release:
      `UPDATE ${outbox} SET ${Object.entries(RELEASE_COLUMNS)
        .map(
          ([c, type]) =>
            `"${c}" = CASE WHEN ${releaseHas(c)} THEN ${releaseValue(c, type)} ELSE "${c}" END`,
        )
        .join(", ")}, "updatedAt" = ${param(1)} FROM (${releaseRows}) AS "r" ` +
      `WHERE "id" = "rid" AND "status" = "rfrom"` +
      (pg
        ? ` AND ${inIdOrder(`"id" IN (SELECT "e"->>'id' FROM jsonb_array_elements(${param(2)}::jsonb) AS "e")`)}`
        : "") +
      ` RETURNING "id"`,
    useContexts:
      `UPDATE ${table("BrowserContext")} SET "usedAt" = ${param(1)}, "updatedAt" = ${param(2)}, "clientIp" = NULL, "clientUserAgent" = NULL ` +
      `WHERE "id" ${inIds(3)}`,
    shop: `SELECT ${list(SHOP_COLUMNS)} FROM ${table("Shop")} WHERE "domain" = ${param(1)}`,
    context: `SELECT ${list(CONTEXT_COLUMNS)} FROM ${table("BrowserContext")} WHERE "shopId" = ${param(1)} AND "checkoutToken" = ${param(2)}`,
    useContext: `UPDATE ${table("BrowserContext")} SET "usedAt" = ${param(1)}, "updatedAt" = ${param(2)}, "clientIp" = NULL, "clientUserAgent" = NULL WHERE "id" = ${param(3)}`,
    event: `INSERT INTO ${table("OutboxEvent")} (${list(EVENT_COLUMNS)}) VALUES (${params(EVENT_COLUMNS.length)})`,
    seenEvent:
      `INSERT INTO ${table("OutboxEvent")} (${list(EVENT_COLUMNS)}) SELECT ${params(EVENT_COLUMNS.length)} WHERE EXISTS (SELECT 1 ` +
      `FROM ${table("BrowserClient")} WHERE "shopId" = ${param(EVENT_COLUMNS.length + 1)} AND "clientId" = ${param(EVENT_COLUMNS.length + 2)})`,
    seeBrowser: `INSERT INTO ${table("BrowserClient")} ("shopId", "clientId", "seenAt") VALUES (${params(3)}) ON CONFLICT DO NOTHING`,
    receipt: `INSERT INTO ${table("WebhookReceipt")} (${list(RECEIPT_COLUMNS)}) VALUES (${params(RECEIPT_COLUMNS.length)})`,
    hasReceipt: `SELECT 1 FROM ${table("WebhookReceipt")} WHERE "webhookId" = ${param(1)}`,
    saveContext:
      // Only what the browser gave this time overwrites what an earlier post stored, and only the browser that
      // created the row may change it (decisions 38): its clientId, or its fbp when it posted without a clientId.
      `INSERT INTO ${table("BrowserContext")} AS "c" ("id", "shopId", "checkoutToken", ${list(CONTEXT_INSERT)}, "receivedAt", "updatedAt") ` +
      `VALUES (${params(CONTEXT_INSERT.length + 5)}) ON CONFLICT ("shopId", "checkoutToken") DO UPDATE SET ` +
      `${CONTEXT_FIELDS.map((c) => `"${c}" = COALESCE(excluded."${c}", "c"."${c}")`).join(", ")}, ` +
      `"clientId" = COALESCE("c"."clientId", excluded."clientId"), "updatedAt" = excluded."updatedAt" ` +
      `WHERE "c"."clientId" = excluded."clientId" OR ("c"."clientId" IS NULL AND "c"."fbp" = excluded."fbp")`,
    purchase: `SELECT ${list(PURCHASE_COLUMNS)} FROM ${outbox} WHERE "shopId" = ${param(1)} AND "checkoutToken" = ${param(2)} AND "eventName" = 'Purchase' LIMIT 1`,
    // Read for every order webhook and every storefront event: prepared here rather than a Prisma query each.
    orderState: `SELECT "orderUpdatedAt", "value", "currency", "customData" FROM ${table("OrderState")} WHERE "shopId" = ${param(1)} AND "orderId" = ${param(2)}`,
    shopperLink: `SELECT "userData", "linkedAt" FROM ${table("ShopperLink")} WHERE "shopId" = ${param(1)} AND "clientId" = ${param(2)}`,
  };
}

type Encode = (column: string, value: unknown) => unknown;

function eventValues(e: NewOutboxEvent, encode: Encode): unknown[] {
  const row: Record<string, unknown> = {
    ...e,
    id: newRowId(),
    lduApplied: e.lduApplied ?? false,
    nextAttemptAt: e.nextAttemptAt ?? e.receivedAt,
    updatedAt: e.receivedAt,
  };
  return EVENT_COLUMNS.map((c) => encode(c, row[c] ?? null));
}

function receiptValues(r: NewReceipt, encode: Encode): unknown[] {
  const row: Record<string, unknown> = { ...r, id: newRowId() };
  return RECEIPT_COLUMNS.map((c) => encode(c, row[c] ?? null));
}

function contextValues(
  shopId: string,
  checkoutToken: string,
  fields: ContextFields,
  now: Date,
  encode: Encode,
): unknown[] {
  const at = encode("", now);
  return [
    newRowId(),
    shopId,
    checkoutToken,
    ...CONTEXT_INSERT.map((c) => encode(c, fields[c] ?? null)),
    at,
    at,
  ];
}

// Meta's (or a proxy's) answer is outside text too.
const errorValues = (e: ErrorColumns) => [
  e.lastErrorCode,
  e.lastErrorSubcode,
  e.lastErrorMessage === null ? null : storableText(e.lastErrorMessage),
  e.lastFbtraceId === null ? null : storableText(e.lastFbtraceId),
];

/** A page of releases as the one JSON value the release statement reads: each column encoded as it is stored. */
function releaseJson(writes: ReleaseWrite[], encode: Encode): string {
  return JSON.stringify(
    writes.map(({ id, from, set }) => ({
      id,
      from,
      u: Object.fromEntries(
        Object.entries(set)
          .filter(([, v]) => v !== undefined)
          .map(([c, v]) => [c, encode(c, v)]),
      ),
    })),
  );
}

/** The context ids of the releases the statement wrote (its RETURNING ids). */
function usedContexts(writes: ReleaseWrite[], written: { id: string }[]) {
  const ids = new Set(written.map((r) => r.id));
  return writes.flatMap((w) =>
    w.contextId && ids.has(w.id) ? [w.contextId] : [],
  );
}

function decodeDueHeld(
  row: Record<string, unknown>,
  decode: (row: unknown) => Omit<DueHeldRow, "context">,
): DueHeldRow {
  const context = row.context;
  return {
    ...decode({ ...row, context: undefined }),
    context:
      typeof context === "string"
        ? (JSON.parse(context) as IntakeContext)
        : ((context ?? null) as IntakeContext | null),
  };
}

/** A database row to the shape Prisma would have returned (Dates, parsed Json). */
function decodeRow<T>(
  row: Record<string, unknown>,
  parseDate: (v: unknown) => Date,
  jsonAsText: boolean,
): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) out[k] = null;
    else if (JSON_COLUMNS.has(k))
      out[k] = jsonAsText ? JSON.parse(v as string) : v;
    else if (DATE_COLUMNS.has(k)) out[k] = parseDate(v);
    else out[k] = v;
  }
  return out as T;
}

// --- SQLite (better-sqlite3): synchronous and in-process. The connection must have no busy timeout of its own:
// SQLite's busy handler sleeps in the thread, which here is the event loop of every request of the process. A
// statement that finds the file locked (another process writing) is retried after a timer instead.

const encodeSqlite: Encode = (column, value) => {
  if (value === null) return null;
  if (value instanceof Date) return sqliteTime(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (JSON_COLUMNS.has(column)) return storableJson(value);
  return typeof value === "string" ? storableText(value) : value;
};

/** The SQLite store's statements (exported for the test that checks their columns against the schema). */
export function sqliteStatements() {
  return statements(
    "sqlite",
    (name) => `"${name}"`,
    () => "?",
    () => "IN (SELECT value FROM json_each(?))",
    `"payload"`,
  );
}

/** A page of routes as the route statement reads it. */
const routeJson = (routes: RouteRow[]) =>
  JSON.stringify(
    routes.map((r) => ({ id: r.id, d: r.destinationId, l: r.lease })),
  );

/** SQLite's positional values for a claim's `maySend` (dataset and time, for the Shop then the Destination row). */
const maySendArgs = (dataset: string, now: Date) => {
  const at = sqliteTime(now);
  return [dataset, at, dataset, at];
};

export function sqliteStore(
  database: BetterSqlite3.Database,
  options: { busyTimeoutMs: number },
): SqlStore {
  const locked = async <T>(fn: () => T): Promise<T> => {
    const deadline = Date.now() + options.busyTimeoutMs;
    // Short waits: the other process's commits take well under a millisecond, and a waiter that backed off
    // further kept losing the lock to it (p99 of the pixel endpoint, two processes: 75 ms at a 50 ms cap).
    for (let delayMs = 1; ; delayMs = 2) {
      try {
        return fn();
      } catch (err) {
        if (
          (err as { code?: string }).code !== "SQLITE_BUSY" ||
          Date.now() >= deadline
        )
          throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
  const sql = sqliteStatements();
  const decode = <T>(row: unknown) =>
    decodeRow<T>(
      row as Record<string, unknown>,
      (v) => new Date(v as string),
      true,
    );
  const prepared = Object.fromEntries(
    Object.entries(sql).map(([k, text]) => [k, database.prepare(text)]),
  ) as Record<keyof typeof sql, BetterSqlite3.Statement>;
  // Group commit. A commit writes every page it changed to the WAL, one write per page and one page per index it
  // touched (an order's outbox row touches up to twelve B-trees, a storefront row's eight: decisions 185), which made
  // it ~75 % of an insert's cost. The writes of every request served in one turn of the event loop are queued and
  // committed together, each in a savepoint of its own: a write that fails (a duplicate, say) is undone alone; an
  // error that ended the transaction fails the group. A savepoint copies each page its write changes to the
  // statement journal, which SQLite moves to a temporary file once it passes 64 kB unless temporary files are kept
  // in memory: the journal cost 7 % of the pixel endpoint's CPU with the file, 2 % without (decisions 187).
  database.pragma("temp_store = MEMORY");
  type Write = {
    run: () => void;
    resolve: () => void;
    reject: (err: unknown) => void;
  };
  let queue: Write[] = [];
  const savepoint = database.transaction((run: () => void) => run());
  const commitGroup = database.transaction((group: Write[]) =>
    group.map((write) => {
      try {
        savepoint(write.run);
        return null;
      } catch (err) {
        if (!database.inTransaction) throw err;
        return err;
      }
    }),
  );
  const flush = async () => {
    const group = queue;
    queue = [];
    try {
      const errors = await locked(() => commitGroup.immediate(group));
      group.forEach((write, i) =>
        errors[i] ? write.reject(errors[i]) : write.resolve(),
      );
    } catch (err) {
      for (const write of group) write.reject(err);
    }
  };
  const write = (run: () => void) =>
    new Promise<void>((resolve, reject) => {
      if (queue.push({ run, resolve, reject }) === 1) setImmediate(flush);
    });
  /** One statement for the page (status-guarded), and the contexts it used marked, in one transaction. */
  const applyReleases = async (writes: ReleaseWrite[], now: Date) => {
    if (writes.length === 0) return 0;
    const at = sqliteTime(now);
    const json = releaseJson(writes, encodeSqlite);
    let changed = 0;
    await write(() => {
      const written = prepared.release.all(at, json) as { id: string }[];
      const contexts = usedContexts(writes, written);
      if (contexts.length)
        prepared.useContexts.run(at, at, JSON.stringify(contexts));
      changed = written.length;
    });
    return changed;
  };
  const unique = async (run: () => void): Promise<InsertResult> => {
    try {
      await write(run);
      return "inserted";
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
        return "duplicate";
      throw err;
    }
  };
  return {
    async findShop(domain) {
      const row = (await locked(() => prepared.shop.get(domain))) as
        Record<string, unknown> | undefined;
      return row ? decode<IntakeShop>(row) : null;
    },
    async findContext(shopId, checkoutToken) {
      const token = storableText(checkoutToken);
      const row = (await locked(() => prepared.context.get(shopId, token))) as
        Record<string, unknown> | undefined;
      return row ? decode<IntakeContext>(row) : null;
    },
    async insertEvent(event, receipt, usedContextId) {
      const row = eventValues(event, encodeSqlite);
      const receiptRow = receipt && receiptValues(receipt, encodeSqlite);
      const at = sqliteTime(event.receivedAt);
      return unique(() => {
        prepared.event.run(row);
        if (receiptRow) prepared.receipt.run(receiptRow);
        if (usedContextId) prepared.useContext.run(at, at, usedContextId);
      });
    },
    async insertReceipt(receipt) {
      return unique(() =>
        prepared.receipt.run(receiptValues(receipt, encodeSqlite)),
      );
    },
    async insertBrowserEvent(event, { clientId, pageView }) {
      if (!pageView && !clientId) return "unseen";
      const row = eventValues(event, encodeSqlite);
      const at = sqliteTime(event.receivedAt);
      let seen = true;
      const result = await unique(() => {
        if (!pageView) {
          seen =
            prepared.seenEvent.run(...row, event.shopId, clientId).changes > 0;
          return;
        }
        prepared.event.run(row);
        if (clientId) prepared.seeBrowser.run(event.shopId, clientId, at);
      });
      return seen ? result : "unseen";
    },
    prepareWrite(statement) {
      const prepared = database.prepare(statement.sqlite);
      return (values) => write(() => prepared.run(values));
    },
    async releaseDue(now, limit, decide) {
      const rows = (await locked(() =>
        prepared.dueHeld.all(sqliteTime(now), limit),
      )) as Record<string, unknown>[];
      const writes = decide(rows.map((row) => decodeDueHeld(row, decode)));
      if (writes.length) await applyReleases(writes, now);
      return rows.length;
    },
    applyReleases: (writes, now) => applyReleases(writes, now),
    async unrouted(shopId, limit) {
      const rows = await locked(() => prepared.unrouted.all(shopId, limit));
      return rows.map((row) => decode<UnroutedRow>(row));
    },
    async routeRows(routes, leaseUntil, now) {
      if (routes.length === 0) return [];
      const json = routeJson(routes);
      const until = sqliteTime(leaseUntil);
      const at = sqliteTime(now);
      let routed: unknown[] = [];
      await write(() => {
        routed = prepared.route.all(until, until, at, json, at, at);
      });
      return routed.map((row) => decode<RoutedClaim>(row));
    },
    async dueShops(now) {
      const at = sqliteTime(now);
      const rows = (await locked(() =>
        prepared.dueShops.all(at, at, at, at, at),
      )) as {
        id: string;
      }[];
      return rows.map((r) => r.id);
    },
    async hasReceipt(webhookId) {
      return (
        (await locked(() => prepared.hasReceipt.get(webhookId))) !== undefined
      );
    },
    async saveContext(shopId, checkoutToken, fields, now) {
      const values = contextValues(
        shopId,
        checkoutToken,
        fields,
        now,
        encodeSqlite,
      );
      let changes = 0;
      await write(() => (changes = prepared.saveContext.run(values).changes));
      return changes > 0;
    },
    async findPurchase(shopId, checkoutToken) {
      const row = await locked(() =>
        prepared.purchase.get(shopId, storableText(checkoutToken)),
      );
      return row ? decode<PurchaseRow>(row) : null;
    },
    async orderState(shopId, orderId) {
      const row = await locked(() => prepared.orderState.get(shopId, orderId));
      return row ? decode<StoredOrderState>(row) : null;
    },
    async shopperLink(shopId, clientId) {
      const row = await locked(() =>
        prepared.shopperLink.get(shopId, storableText(clientId)),
      );
      return row ? decode<StoredShopperLink>(row) : null;
    },
    async claim(shopId, lease, { limit, leaseUntil, now, destinationId }) {
      const ids = (await locked(() =>
        destinationId === null
          ? prepared.candidates.all(
              shopId,
              sqliteTime(now),
              ...maySendArgs(shopId, now),
              limit,
            )
          : prepared.destinationCandidates.all(
              shopId,
              destinationId,
              sqliteTime(now),
              ...maySendArgs(destinationId, now),
              limit,
            ),
      )) as { id: string }[];
      if (ids.length === 0) return [];
      const at = sqliteTime(now);
      const until = sqliteTime(leaseUntil);
      const rows = await locked(() =>
        prepared.claim.all(
          lease,
          until,
          until,
          at,
          JSON.stringify(ids.map((r) => r.id)),
        ),
      );
      return rows.map((row) => decode<ClaimedRow>(row));
    },
    async markSent(ids, lease, f) {
      const at = sqliteTime(f.sentAt);
      const flags = [f.sentWithIp ? 1 : 0, f.sentWithUserAgent ? 1 : 0];
      const res = await locked(() =>
        prepared.markSent.run(
          at,
          f.fbtraceId,
          JSON.stringify(f.metaResponse),
          ...flags,
          at,
          at,
          JSON.stringify(ids),
          lease,
        ),
      );
      return res.changes;
    },
    async renewLease(ids, lease, leaseUntil, now) {
      const until = sqliteTime(leaseUntil);
      const held = await locked(() =>
        prepared.renewLease.all(
          until,
          until,
          sqliteTime(now),
          JSON.stringify(ids),
          lease,
        ),
      );
      return (held as { id: string }[]).map((r) => r.id);
    },
    async markRetry(ids, lease, f) {
      const counts = [f.ambiguous ? 1 : 0, f.countAttempt ? 0 : 1];
      const values = [
        sqliteTime(f.nextAttemptAt),
        ...counts,
        ...errorValues(f),
        sqliteTime(f.now),
        JSON.stringify(ids),
        lease,
      ];
      return (await locked(() => prepared.markRetry.run(values))).changes;
    },
    async markFinal(ids, lease, f) {
      const at = sqliteTime(f.now);
      return (
        await locked(() =>
          prepared.markFinal.run(
            f.status,
            ...errorValues(f),
            at,
            at,
            JSON.stringify(ids),
            lease,
          ),
        )
      ).changes;
    },
    async releaseLeases(leasePrefix, now) {
      const at = sqliteTime(now);
      return (
        await locked(() =>
          prepared.releaseLeases.run(at, at, leasePrefix.length, leasePrefix),
        )
      ).changes;
    },
    async reclaimExpiredLeases(now) {
      const at = sqliteTime(now);
      return (
        await locked(() => prepared.reclaimExpiredLeases.run(at, at, at, at))
      ).changes;
    },
    async expireStale(cutoffs, message, now) {
      const at = sqliteTime(now);
      const values = [
        message,
        at,
        at,
        sqliteTime(cutoffs.website),
        sqliteTime(cutoffs.physicalStore),
      ];
      return (await locked(() => prepared.expireStale.run(values))).changes;
    },
  };
}

// --- PostgreSQL (pg): named statements are prepared once per pooled connection.

const asDate = (v: unknown) => v as Date;

const encodePg: Encode = (column, value) => {
  if (value === null) return null;
  // timestamp(3) without time zone holds UTC (as Prisma writes it): PostgreSQL ignores the "Z" of the ISO text.
  if (value instanceof Date) return value.toISOString();
  if (JSON_COLUMNS.has(column)) return storableJson(value);
  return typeof value === "string" ? storableText(value) : value;
};
const PG_TIMESTAMP = 1114;
/** The first key of the claims' advisory locks ("CAPI" in ASCII), apart from others' (Prisma migrate's is one bigint). */
const CLAIM_LOCK_CLASS = 0x43415049;
/** A destination's turn to claim (decisions 42, 130): a transaction-scoped advisory lock on the destination. */
const CLAIM_TURN = `SELECT pg_advisory_xact_lock(${CLAIM_LOCK_CLASS}, hashtext($1))`;
type TypeParsers = {
  getTypeParser: (oid: number, format?: "text" | "binary") => unknown;
};

/** A table's quoted name, in `schema` when one is given. */
const pgTable = (schema?: string) => (name: string) =>
  schema ? `"${schema.replaceAll('"', '""')}"."${name}"` : `"${name}"`;

/** The PostgreSQL store's statements, in `schema` when one is given (exported for the schema test). */
export function pgStatements(schema?: string) {
  const qualify = pgTable(schema);
  const n = EVENT_COLUMNS.length;
  const r = RECEIPT_COLUMNS.length;
  const receiptInsert =
    `INSERT INTO ${qualify("WebhookReceipt")} (${list(RECEIPT_COLUMNS)}) ` +
    `VALUES (${RECEIPT_COLUMNS.map((_, i) => `$${n + 1 + i}`).join(", ")})`;
  const base = statements(
    "postgresql",
    qualify,
    (i) => `$${i}`,
    (i) => `= ANY($${i}::text[])`,
    `"payload"::text`,
  );
  return {
    ...base,
    // An order's event and its webhook receipt, and (orderUsing) the browser context it joined marked used, in one
    // statement: one round trip and one implicit transaction instead of BEGIN, two or three statements and COMMIT
    // (decisions 89). A duplicate webhook or event fails the whole statement, as it failed the transaction.
    order: `WITH "receipt" AS (${receiptInsert}) ${base.event}`,
    orderUsing:
      `WITH "receipt" AS (${receiptInsert}), "used" AS (UPDATE ${qualify("BrowserContext")} SET "usedAt" = $${n + r + 1}, ` +
      `"updatedAt" = $${n + r + 1}, "clientIp" = NULL, "clientUserAgent" = NULL WHERE "id" = $${n + r + 2}) ${base.event}`,
    // The PageView and its browser's registration in one statement (one round trip, one transaction).
    pageView:
      `WITH "seen" AS (INSERT INTO ${qualify("BrowserClient")} ("shopId", "clientId", "seenAt") ` +
      `VALUES ($${n + 1}, $${n + 2}, $${n + 3}) ON CONFLICT DO NOTHING) ${base.event}`,
  };
}

export function pgStore(
  pool: Pool,
  options: { schema?: string; types: TypeParsers },
): SqlStore {
  // timestamp without time zone holds UTC; pg's own parser would read it in the process's local zone.
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === PG_TIMESTAMP
        ? (v: string) => new Date(`${v.replace(" ", "T")}Z`)
        : options.types.getTypeParser(oid, format),
  };
  const sql = pgStatements(options.schema);
  const decode = <T>(row: unknown) =>
    decodeRow<T>(row as Record<string, unknown>, asDate, false);
  const q = (name: keyof typeof sql, values: unknown[]): QueryConfig =>
    ({ name: `capi_${name}`, text: sql[name], values, types }) as QueryConfig;
  /** A write of rows other dispatchers may hold: run again when it loses a deadlock (decisions 42). */
  const write = (name: keyof typeof sql, values: unknown[]) =>
    retryOnConflict(() => pool.query(q(name, values)));
  const isUnique = (err: unknown) =>
    (err as { code?: string }).code === "23505";
  const unique = async (fn: () => Promise<unknown>): Promise<InsertResult> => {
    try {
      await fn();
      return "inserted";
    } catch (err) {
      if (isUnique(err)) return "duplicate";
      throw err;
    }
  };
  const transaction = async <T>(
    fn: (client: PoolClient) => Promise<T>,
  ): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };
  /** One statement for the page (status-guarded, rows locked in id order), then the contexts it used. */
  const applyReleases = async (
    client: PoolClient,
    writes: ReleaseWrite[],
    now: Date,
  ) => {
    if (writes.length === 0) return 0;
    const at = encodePg("", now);
    const { rows } = await client.query(
      q("release", [at, releaseJson(writes, encodePg)]),
    );
    const contexts = usedContexts(writes, rows as { id: string }[]);
    if (contexts.length)
      await client.query(q("useContexts", [at, at, contexts]));
    return rows.length;
  };
  return {
    async findShop(domain) {
      const { rows } = await pool.query(q("shop", [domain]));
      return rows[0] ? decode<IntakeShop>(rows[0]) : null;
    },
    async findContext(shopId, checkoutToken) {
      const { rows } = await pool.query(
        q("context", [shopId, storableText(checkoutToken)]),
      );
      return rows[0] ? decode<IntakeContext>(rows[0]) : null;
    },
    async insertEvent(event, receipt, usedContextId) {
      // One statement needs no transaction (BEGIN and COMMIT would be two more round trips).
      if (!receipt && !usedContextId)
        return unique(() =>
          pool.query(q("event", eventValues(event, encodePg))),
        );
      if (receipt) {
        const values = [
          ...eventValues(event, encodePg),
          ...receiptValues(receipt, encodePg),
        ];
        return unique(() =>
          pool.query(
            usedContextId
              ? q("orderUsing", [
                  ...values,
                  encodePg("", event.receivedAt),
                  usedContextId,
                ])
              : q("order", values),
          ),
        );
      }
      return unique(() =>
        transaction(async (client) => {
          await client.query(q("event", eventValues(event, encodePg)));
          if (usedContextId)
            await client.query(
              q("useContext", [
                encodePg("", event.receivedAt),
                encodePg("", event.receivedAt),
                usedContextId,
              ]),
            );
        }),
      );
    },
    async insertReceipt(receipt) {
      return unique(() =>
        pool.query(q("receipt", receiptValues(receipt, encodePg))),
      );
    },
    async insertBrowserEvent(event, { clientId, pageView }) {
      if (!pageView && !clientId) return "unseen";
      const row = eventValues(event, encodePg);
      if (!pageView) {
        let seen = true;
        const result = await unique(async () => {
          seen =
            ((
              await pool.query(q("seenEvent", [...row, event.shopId, clientId]))
            ).rowCount ?? 0) > 0;
        });
        return seen ? result : "unseen";
      }
      const seenAt = encodePg("", event.receivedAt);
      return unique(() =>
        pool.query(
          clientId
            ? q("pageView", [...row, event.shopId, clientId, seenAt])
            : q("event", row),
        ),
      );
    },
    prepareWrite(statement) {
      const config = {
        name: `capi_${statement.name}`,
        text: statement.postgresql(pgTable(options.schema)),
        types,
      };
      return async (values) => {
        await pool.query({
          ...config,
          values: statement.params.map((p) => values[p]),
        } as QueryConfig);
      };
    },
    async releaseDue(now, limit, decide) {
      // The page's rows stay locked while the rule decides them (in memory, a few ms): other dispatchers skip them.
      return retryOnConflict(() =>
        transaction(async (client) => {
          const { rows } = await client.query(
            q("dueHeld", [encodePg("", now), limit]),
          );
          const writes = decide(
            rows.map((row: Record<string, unknown>) =>
              decodeDueHeld(row, decode),
            ),
          );
          await applyReleases(client, writes, now);
          return rows.length;
        }),
      );
    },
    applyReleases(writes, now) {
      if (writes.length === 0) return Promise.resolve(0);
      return retryOnConflict(() =>
        transaction((client) => applyReleases(client, writes, now)),
      );
    },
    async unrouted(shopId, limit) {
      const { rows } = await pool.query(q("unrouted", [shopId, limit]));
      return rows.map((row: unknown) => decode<UnroutedRow>(row));
    },
    async routeRows(routes, leaseUntil, now) {
      if (routes.length === 0) return [];
      const until = encodePg("", leaseUntil);
      const at = encodePg("", now);
      const { rows } = await write("route", [
        until,
        until,
        at,
        routeJson(routes),
        at,
      ]);
      return rows.map((row: unknown) => decode<RoutedClaim>(row));
    },
    async dueShops(now) {
      const at = encodePg("", now);
      const { rows } = await pool.query(q("dueShops", [at, at]));
      return rows.map((r: { id: string }) => r.id);
    },
    async hasReceipt(webhookId) {
      return (await pool.query(q("hasReceipt", [webhookId]))).rowCount! > 0;
    },
    async saveContext(shopId, checkoutToken, fields, now) {
      const res = await pool.query(
        q(
          "saveContext",
          contextValues(shopId, checkoutToken, fields, now, encodePg),
        ),
      );
      return (res.rowCount ?? 0) > 0;
    },
    async findPurchase(shopId, checkoutToken) {
      const { rows } = await pool.query(
        q("purchase", [shopId, storableText(checkoutToken)]),
      );
      return rows[0] ? decode<PurchaseRow>(rows[0]) : null;
    },
    async orderState(shopId, orderId) {
      const { rows } = await pool.query(q("orderState", [shopId, orderId]));
      return rows[0] ? decode<StoredOrderState>(rows[0]) : null;
    },
    async shopperLink(shopId, clientId) {
      const { rows } = await pool.query(
        q("shopperLink", [shopId, storableText(clientId)]),
      );
      return rows[0] ? decode<StoredShopperLink>(rows[0]) : null;
    },
    async claim(shopId, lease, { limit, leaseUntil, now, destinationId }) {
      const until = encodePg("", leaseUntil);
      const values = [lease, until, until, encodePg("", now), shopId, limit];
      // The claims of one shop take turns: side by side, each skipping the rows the other had locked so far,
      // they split a backlog into fragments (four claims of 1,000 got 220, 43, 471 and 466 rows). A claim waits
      // for its turn before it holds any row, and the claim it waits for never waits, so this cannot deadlock.
      const { rows } = await retryOnConflict(() =>
        transaction(async (client) => {
          await client.query({
            name: "capi_claimTurn",
            text: CLAIM_TURN,
            values: [destinationId ?? shopId],
          });
          return client.query(
            destinationId === null
              ? q("claim", values)
              : q("destinationClaim", [...values, destinationId]),
          );
        }),
      );
      return rows.map((row) => decode<ClaimedRow>(row));
    },
    async markSent(ids, lease, f) {
      const at = encodePg("", f.sentAt);
      return (
        (
          await write("markSent", [
            at,
            f.fbtraceId,
            JSON.stringify(f.metaResponse),
            f.sentWithIp,
            f.sentWithUserAgent,
            at,
            at,
            ids,
            lease,
          ])
        ).rowCount ?? 0
      );
    },
    async renewLease(ids, lease, leaseUntil, now) {
      const until = encodePg("", leaseUntil);
      const { rows } = await write("renewLease", [
        until,
        until,
        encodePg("", now),
        ids,
        lease,
      ]);
      return rows.map((r: { id: string }) => r.id);
    },
    async markRetry(ids, lease, f) {
      const counts = [f.ambiguous ? 1 : 0, f.countAttempt ? 0 : 1];
      const values = [
        encodePg("", f.nextAttemptAt),
        ...counts,
        ...errorValues(f),
        encodePg("", f.now),
        ids,
        lease,
      ];
      return (await write("markRetry", values)).rowCount ?? 0;
    },
    async markFinal(ids, lease, f) {
      const at = encodePg("", f.now);
      return (
        (
          await write("markFinal", [
            f.status,
            ...errorValues(f),
            at,
            at,
            ids,
            lease,
          ])
        ).rowCount ?? 0
      );
    },
    async releaseLeases(leasePrefix, now) {
      const at = encodePg("", now);
      return (
        (
          await write("releaseLeases", [
            at,
            at,
            leasePrefix.length,
            leasePrefix,
          ])
        ).rowCount ?? 0
      );
    },
    async reclaimExpiredLeases(now) {
      const at = encodePg("", now);
      return (
        (await write("reclaimExpiredLeases", [at, at, at, at])).rowCount ?? 0
      );
    },
    async expireStale(cutoffs, message, now) {
      const at = encodePg("", now);
      const values = [
        message,
        at,
        at,
        encodePg("", cutoffs.website),
        encodePg("", cutoffs.physicalStore),
      ];
      return (await write("expireStale", values)).rowCount ?? 0;
    },
  };
}
