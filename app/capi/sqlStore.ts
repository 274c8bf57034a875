import { randomBytes } from "node:crypto";
import type BetterSqlite3 from "better-sqlite3";
import type { Pool, PoolClient, QueryConfig } from "pg";
import type { BrowserContext, OutboxEvent, Shop } from "./db";
import { OUTBOX_STATUSES } from "./types";

// The hot paths in plain SQL on the driver, beside Prisma (which owns the schema and does everything else): the
// order webhook's reads and writes, which run for every order, the pixel endpoint's, which run for every
// storefront event, and the dispatcher's claim and sent marks, which run for every batch of 1,000. Through Prisma each intake statement costs ~1 ms of CPU (the query compiler
// runs per query and the adapter re-prepares every statement), and a claim plus its sent mark ~100 ms where their
// SQL takes ~35 ms (npm run bench). Here each statement is prepared once per connection. Values are stored exactly as Prisma stores them (the tests read these rows through
// Prisma): SQLite DateTime as ISO-8601 text with "+00:00", Json as text, Boolean as 0/1; PostgreSQL timestamp(3)
// without time zone in UTC, jsonb.

/** The shop columns intake decides with. */
export type IntakeShop = Pick<
  Shop,
  "id" | "domain" | "settings" | "uninstalledAt" | "pixelId" | "tokenCiphertext" | "testEventCode" | "testEventCodeSetAt" | "ingestKey"
>;

/** The browser context columns a Purchase joins (purchaseMerge.ts). */
export type IntakeContext = Pick<
  BrowserContext,
  "id" | "orderId" | "fbp" | "fbc" | "clientIp" | "clientUserAgent" | "eventSourceUrl" | "consent"
>;

/** A new outbox row; every column intake sets (the others keep their database defaults). */
export interface NewOutboxEvent {
  shopId: string;
  eventName: string;
  eventId: string;
  source: string;
  status: string;
  suppressReason: string | null;
  lastErrorMessage: string | null;
  actionSource: string;
  eventTime: Date;
  payload: unknown;
  clientIp: string | null;
  clientUserAgent: string | null;
  countryCode: string | null;
  provinceCode: string | null;
  consent: unknown;
  lduApplied: boolean;
  orderId: string | null;
  orderName: string | null;
  checkoutToken: string | null;
  customerKey: string | null;
  emailHash: string | null;
  phoneHash: string | null;
  holdUntil: Date | null;
  nextAttemptAt: Date;
  browserSeenAt: Date | null;
  receivedAt: Date;
  releasedAt: Date | null;
  finalAt: Date | null;
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
  fbp: string | null;
  fbc: string | null;
  eventSourceUrl: string | null;
  orderId: string | null;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
}

/** The columns of a checkout's Purchase that a browser context is merged into. */
export type PurchaseRow = Pick<
  OutboxEvent,
  "id" | "eventId" | "status" | "browserSeenAt" | "payload" | "clientIp" | "clientUserAgent" | "consent" | "countryCode" | "provinceCode"
>;

export type InsertResult = "inserted" | "duplicate";

/** A row as the dispatcher sends it. */
export type ClaimedRow = Pick<OutboxEvent, "id" | "eventName" | "eventId" | "clientIp" | "clientUserAgent" | "attempts" | "actionSource" | "eventTime"> & {
  /**
   * The stored payload as JSON text, unparsed: parsing 1,000 payloads and serialising them again for the request
   * cost ~12 % of the dispatcher's time (npm run bench, delivery). outbox.ts eventForMeta adds the IP and UA.
   */
  payloadJson: string;
};

export interface SentFields {
  sentAt: Date;
  fbtraceId: string | null;
  metaResponse: unknown;
  sentWithIp: boolean;
  sentWithUserAgent: boolean;
}

export interface SqlStore {
  findShop(domain: string): Promise<IntakeShop | null>;
  findContext(shopId: string, checkoutToken: string): Promise<IntakeContext | null>;
  /**
   * The event, its receipt (webhooks) and (when one joined) the browser context marked used and stripped of its
   * raw IP and user agent, in one transaction. "duplicate" when a unique key (webhook id, or shop + event)
   * already exists.
   */
  insertEvent(event: NewOutboxEvent, receipt: NewReceipt | null, usedContextId: string | null): Promise<InsertResult>;
  insertReceipt(receipt: NewReceipt): Promise<InsertResult>;
  hasReceipt(webhookId: string): Promise<boolean>;
  /** Creates or updates a checkout's browser context in one statement (no race between two posts of a checkout). */
  saveContext(shopId: string, checkoutToken: string, fields: ContextFields, now: Date): Promise<void>;
  findPurchase(shopId: string, checkoutToken: string): Promise<PurchaseRow | null>;
  /**
   * Leases up to `limit` due rows of one shop, oldest first. The lease token is unique per claim and the status
   * guard of the update gives each row to exactly one claimer, on SQLite and on PostgreSQL with several
   * dispatchers (a row claimed concurrently is re-checked under its row lock and skipped).
   */
  claim(shopId: string, lease: string, opts: { limit: number; leaseUntil: Date; now: Date }): Promise<ClaimedRow[]>;
  /** Marks rows of a lease sent, erasing the raw IP and user agent; returns how many were still the lease's. */
  markSent(ids: string[], lease: string, fields: SentFields): Promise<number>;
}

const EVENT_COLUMNS = [
  "id", "shopId", "eventName", "eventId", "source", "status", "suppressReason", "lastErrorMessage", "actionSource", "eventTime", "payload",
  "clientIp", "clientUserAgent", "countryCode", "provinceCode", "consent", "lduApplied", "orderId", "orderName",
  "checkoutToken", "customerKey", "emailHash", "phoneHash", "holdUntil", "nextAttemptAt", "browserSeenAt", "receivedAt",
  "releasedAt", "finalAt", "updatedAt",
] as const;
const RECEIPT_COLUMNS = ["id", "webhookId", "shopDomain", "topic", "outcome", "reason", "orderId", "receivedAt"] as const;
const SHOP_COLUMNS = ["id", "domain", "settings", "uninstalledAt", "pixelId", "tokenCiphertext", "testEventCode", "testEventCodeSetAt", "ingestKey"] as const;
const CONTEXT_COLUMNS = ["id", "orderId", "fbp", "fbc", "clientIp", "clientUserAgent", "eventSourceUrl", "consent"] as const;
const CONTEXT_FIELDS = ["fbp", "fbc", "eventSourceUrl", "orderId", "clientIp", "clientUserAgent", "consent"] as const;
const PURCHASE_COLUMNS = ["id", "eventId", "status", "browserSeenAt", "payload", "clientIp", "clientUserAgent", "consent", "countryCode", "provinceCode"] as const;
const CLAIMED_COLUMNS = ["id", "eventName", "eventId", "clientIp", "clientUserAgent", "attempts", "actionSource", "eventTime"] as const;
const JSON_COLUMNS = new Set(["payload", "consent", "settings", "metaResponse"]);
const DATE_COLUMNS = new Set(["uninstalledAt", "testEventCodeSetAt", "eventTime", "browserSeenAt"]);
// "Not any other status" rather than `= 'pending'`: with an equality on status, SQLite (without statistics it
// guesses few rows match) walks every pending row through a status index instead of looking the ids up by key.
const NOT_PENDING = OUTBOX_STATUSES.filter((st) => st !== "pending").map((st) => `'${st}'`).join(", ");

// A random part drawn once per process (two small randomBytes calls per order cost more than the rest of the id).
const processTag = randomBytes(6).toString("hex");
let idCounter = 0;
/** Row ids like Prisma's cuid(): unique across processes, and roughly in creation order. */
export function newRowId(): string {
  idCounter = (idCounter + 1) % 1_679_616;
  return `c${Date.now().toString(36)}${idCounter.toString(36).padStart(4, "0")}${processTag}`;
}

const list = (columns: readonly string[]) => columns.map((c) => `"${c}"`).join(", ");

/**
 * The SQL of one dialect: table names (schema-qualified on PostgreSQL), placeholders, a list of ids bound as one
 * value, and the payload column as JSON text.
 */
function statements(table: (name: string) => string, param: (i: number) => string, inIds: (i: number) => string, payloadText: string) {
  const params = (n: number, from = 1) => Array.from({ length: n }, (_, i) => param(from + i)).join(", ");
  const outbox = table("OutboxEvent");
  return {
    candidates:
      `SELECT "id" FROM ${outbox} WHERE "shopId" = ${param(1)} AND "status" = 'pending' AND "nextAttemptAt" <= ${param(2)} ` +
      `ORDER BY "nextAttemptAt" ASC LIMIT ${param(3)}`,
    claim:
      // A leased row's next attempt is when its lease runs out: reclaimExpiredLeases finds it through the
      // (status, nextAttemptAt) index.
      `UPDATE ${outbox} SET "status" = 'sending', "leaseOwner" = ${param(1)}, "leaseUntil" = ${param(2)}, "nextAttemptAt" = ${param(3)}, ` +
      `"attempts" = "attempts" + 1, "updatedAt" = ${param(4)} WHERE "id" ${inIds(5)} AND "status" NOT IN (${NOT_PENDING}) ` +
      `RETURNING ${list(CLAIMED_COLUMNS)}, ${payloadText} AS "payloadJson"`,
    markSent:
      `UPDATE ${outbox} SET "status" = 'sent', "sentAt" = ${param(1)}, "lastFbtraceId" = ${param(2)}, "metaResponse" = ${param(3)}, ` +
      `"sentWithIp" = ${param(4)}, "sentWithUserAgent" = ${param(5)}, "clientIp" = NULL, "clientUserAgent" = NULL, ` +
      `"leaseOwner" = NULL, "leaseUntil" = NULL, "finalAt" = ${param(6)}, "updatedAt" = ${param(7)} ` +
      `WHERE "id" ${inIds(8)} AND "leaseOwner" = ${param(9)}`,
    shop: `SELECT ${list(SHOP_COLUMNS)} FROM ${table("Shop")} WHERE "domain" = ${param(1)}`,
    context: `SELECT ${list(CONTEXT_COLUMNS)} FROM ${table("BrowserContext")} WHERE "shopId" = ${param(1)} AND "checkoutToken" = ${param(2)}`,
    useContext: `UPDATE ${table("BrowserContext")} SET "usedAt" = ${param(1)}, "updatedAt" = ${param(2)}, "clientIp" = NULL, "clientUserAgent" = NULL WHERE "id" = ${param(3)}`,
    event: `INSERT INTO ${table("OutboxEvent")} (${list(EVENT_COLUMNS)}) VALUES (${params(EVENT_COLUMNS.length)})`,
    receipt: `INSERT INTO ${table("WebhookReceipt")} (${list(RECEIPT_COLUMNS)}) VALUES (${params(RECEIPT_COLUMNS.length)})`,
    hasReceipt: `SELECT 1 FROM ${table("WebhookReceipt")} WHERE "webhookId" = ${param(1)}`,
    saveContext:
      // Only what the browser gave this time overwrites what an earlier post stored.
      `INSERT INTO ${table("BrowserContext")} AS "c" ("id", "shopId", "checkoutToken", ${list(CONTEXT_FIELDS)}, "receivedAt", "updatedAt") ` +
      `VALUES (${params(CONTEXT_FIELDS.length + 5)}) ON CONFLICT ("shopId", "checkoutToken") DO UPDATE SET ` +
      `${CONTEXT_FIELDS.map((c) => `"${c}" = COALESCE(excluded."${c}", "c"."${c}")`).join(", ")}, "updatedAt" = excluded."updatedAt"`,
    purchase:
      `SELECT ${list(PURCHASE_COLUMNS)} FROM ${outbox} WHERE "shopId" = ${param(1)} AND "checkoutToken" = ${param(2)} AND "eventName" = 'Purchase' LIMIT 1`,
  };
}

type Encode = (column: string, value: unknown) => unknown;

function eventValues(e: NewOutboxEvent, encode: Encode): unknown[] {
  const row: Record<string, unknown> = { ...e, id: newRowId(), updatedAt: e.receivedAt };
  return EVENT_COLUMNS.map((c) => encode(c, row[c] ?? null));
}

function receiptValues(r: NewReceipt, encode: Encode): unknown[] {
  const row: Record<string, unknown> = { ...r, id: newRowId() };
  return RECEIPT_COLUMNS.map((c) => encode(c, row[c] ?? null));
}

function contextValues(shopId: string, checkoutToken: string, fields: ContextFields, now: Date, encode: Encode): unknown[] {
  const at = encode("", now);
  return [newRowId(), shopId, checkoutToken, ...CONTEXT_FIELDS.map((c) => encode(c, fields[c] ?? null)), at, at];
}

/** A database row to the shape Prisma would have returned (Dates, parsed Json). */
function decodeRow<T>(row: Record<string, unknown>, parseDate: (v: unknown) => Date, jsonAsText: boolean): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) out[k] = null;
    else if (JSON_COLUMNS.has(k)) out[k] = jsonAsText ? JSON.parse(v as string) : v;
    else if (DATE_COLUMNS.has(k)) out[k] = parseDate(v);
    else out[k] = v;
  }
  return out as T;
}

// --- SQLite (better-sqlite3): synchronous and in-process. The connection must have no busy timeout of its own:
// SQLite's busy handler sleeps in the thread, which here is the event loop of every request of the process. A
// statement that finds the file locked (another process writing) is retried after a timer instead.

const sqliteTime = (d: Date) => d.toISOString().replace("Z", "+00:00");
const encodeSqlite: Encode = (column, value) => {
  if (value === null) return null;
  if (value instanceof Date) return sqliteTime(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (JSON_COLUMNS.has(column)) return JSON.stringify(value);
  return value;
};

export function sqliteStore(database: BetterSqlite3.Database, options: { busyTimeoutMs: number }): SqlStore {
  const locked = async <T>(fn: () => T): Promise<T> => {
    const deadline = Date.now() + options.busyTimeoutMs;
    // Short waits: the other process's commits take well under a millisecond, and a waiter that backed off
    // further kept losing the lock to it (p99 of the pixel endpoint, two processes: 75 ms at a 50 ms cap).
    for (let delayMs = 1; ; delayMs = 2) {
      try {
        return fn();
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
  const sql = statements((name) => `"${name}"`, () => "?", () => "IN (SELECT value FROM json_each(?))", `"payload"`);
  const decode = <T>(row: unknown) => decodeRow<T>(row as Record<string, unknown>, (v) => new Date(v as string), true);
  const prepared = Object.fromEntries(Object.entries(sql).map(([k, text]) => [k, database.prepare(text)])) as Record<
    keyof typeof sql,
    BetterSqlite3.Statement
  >;
  // Group commit. A commit writes every page it changed to the WAL, one write per page and one page per index it
  // touched (an outbox row touches twelve), which made it ~75 % of an insert's cost. The writes of every request
  // served in one turn of the event loop are queued and committed together, each in a savepoint of its own: a
  // write that fails (a duplicate, say) is undone alone; an error that ended the transaction fails the group.
  type Write = { run: () => void; resolve: () => void; reject: (err: unknown) => void };
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
      group.forEach((write, i) => (errors[i] ? write.reject(errors[i]) : write.resolve()));
    } catch (err) {
      for (const write of group) write.reject(err);
    }
  };
  const write = (run: () => void) =>
    new Promise<void>((resolve, reject) => {
      if (queue.push({ run, resolve, reject }) === 1) setImmediate(flush);
    });
  const unique = async (run: () => void): Promise<InsertResult> => {
    try {
      await write(run);
      return "inserted";
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return "duplicate";
      throw err;
    }
  };
  return {
    async findShop(domain) {
      const row = (await locked(() => prepared.shop.get(domain))) as Record<string, unknown> | undefined;
      return row ? decode<IntakeShop>(row) : null;
    },
    async findContext(shopId, checkoutToken) {
      const row = (await locked(() => prepared.context.get(shopId, checkoutToken))) as Record<string, unknown> | undefined;
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
      return unique(() => prepared.receipt.run(receiptValues(receipt, encodeSqlite)));
    },
    async hasReceipt(webhookId) {
      return (await locked(() => prepared.hasReceipt.get(webhookId))) !== undefined;
    },
    async saveContext(shopId, checkoutToken, fields, now) {
      const values = contextValues(shopId, checkoutToken, fields, now, encodeSqlite);
      await write(() => prepared.saveContext.run(values));
    },
    async findPurchase(shopId, checkoutToken) {
      const row = await locked(() => prepared.purchase.get(shopId, checkoutToken));
      return row ? decode<PurchaseRow>(row) : null;
    },
    async claim(shopId, lease, { limit, leaseUntil, now }) {
      const ids = (await locked(() => prepared.candidates.all(shopId, sqliteTime(now), limit))) as { id: string }[];
      if (ids.length === 0) return [];
      const at = sqliteTime(now);
      const until = sqliteTime(leaseUntil);
      const rows = await locked(() => prepared.claim.all(lease, until, until, at, JSON.stringify(ids.map((r) => r.id))));
      return rows.map((row) => decode<ClaimedRow>(row));
    },
    async markSent(ids, lease, f) {
      const at = sqliteTime(f.sentAt);
      const flags = [f.sentWithIp ? 1 : 0, f.sentWithUserAgent ? 1 : 0];
      const res = await locked(() => prepared.markSent.run(at, f.fbtraceId, JSON.stringify(f.metaResponse), ...flags, at, at, JSON.stringify(ids), lease));
      return res.changes;
    },
  };
}

// --- PostgreSQL (pg): named statements are prepared once per pooled connection.

const asDate = (v: unknown) => v as Date;

const encodePg: Encode = (column, value) => {
  if (value === null) return null;
  // timestamp(3) without time zone holds UTC (as Prisma writes it): PostgreSQL ignores the "Z" of the ISO text.
  if (value instanceof Date) return value.toISOString();
  if (JSON_COLUMNS.has(column)) return JSON.stringify(value);
  return value;
};
const PG_TIMESTAMP = 1114;
type TypeParsers = { getTypeParser: (oid: number, format?: "text" | "binary") => unknown };

export function pgStore(pool: Pool, options: { schema?: string; types: TypeParsers }): SqlStore {
  // timestamp without time zone holds UTC; pg's own parser would read it in the process's local zone.
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === PG_TIMESTAMP ? (v: string) => new Date(`${v.replace(" ", "T")}Z`) : options.types.getTypeParser(oid, format),
  };
  const qualify = (name: string) => (options.schema ? `"${options.schema.replaceAll('"', '""')}"."${name}"` : `"${name}"`);
  const sql = statements(qualify, (i) => `$${i}`, (i) => `= ANY($${i}::text[])`, `"payload"::text`);
  const decode = <T>(row: unknown) => decodeRow<T>(row as Record<string, unknown>, asDate, false);
  const q = (name: keyof typeof sql, values: unknown[]): QueryConfig => ({ name: `capi_${name}`, text: sql[name], values, types } as QueryConfig);
  const isUnique = (err: unknown) => (err as { code?: string }).code === "23505";
  const unique = async (fn: () => Promise<unknown>): Promise<InsertResult> => {
    try {
      await fn();
      return "inserted";
    } catch (err) {
      if (isUnique(err)) return "duplicate";
      throw err;
    }
  };
  const transaction = async (fn: (client: PoolClient) => Promise<void>) => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await fn(client);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };
  return {
    async findShop(domain) {
      const { rows } = await pool.query(q("shop", [domain]));
      return rows[0] ? decode<IntakeShop>(rows[0]) : null;
    },
    async findContext(shopId, checkoutToken) {
      const { rows } = await pool.query(q("context", [shopId, checkoutToken]));
      return rows[0] ? decode<IntakeContext>(rows[0]) : null;
    },
    async insertEvent(event, receipt, usedContextId) {
      // One statement needs no transaction (BEGIN and COMMIT would be two more round trips).
      if (!receipt && !usedContextId) return unique(() => pool.query(q("event", eventValues(event, encodePg))));
      return unique(() =>
        transaction(async (client) => {
          await client.query(q("event", eventValues(event, encodePg)));
          if (receipt) await client.query(q("receipt", receiptValues(receipt, encodePg)));
          if (usedContextId) await client.query(q("useContext", [encodePg("", event.receivedAt), encodePg("", event.receivedAt), usedContextId]));
        }),
      );
    },
    async insertReceipt(receipt) {
      return unique(() => pool.query(q("receipt", receiptValues(receipt, encodePg))));
    },
    async hasReceipt(webhookId) {
      return (await pool.query(q("hasReceipt", [webhookId]))).rowCount! > 0;
    },
    async saveContext(shopId, checkoutToken, fields, now) {
      await pool.query(q("saveContext", contextValues(shopId, checkoutToken, fields, now, encodePg)));
    },
    async findPurchase(shopId, checkoutToken) {
      const { rows } = await pool.query(q("purchase", [shopId, checkoutToken]));
      return rows[0] ? decode<PurchaseRow>(rows[0]) : null;
    },
    async claim(shopId, lease, { limit, leaseUntil, now }) {
      const { rows: ids } = await pool.query(q("candidates", [shopId, encodePg("", now), limit]));
      if (ids.length === 0) return [];
      const until = encodePg("", leaseUntil);
      const { rows } = await pool.query(q("claim", [lease, until, until, encodePg("", now), ids.map((r: { id: string }) => r.id)]));
      return rows.map((row) => decode<ClaimedRow>(row));
    },
    async markSent(ids, lease, f) {
      const at = encodePg("", f.sentAt);
      const res = await pool.query(q("markSent", [at, f.fbtraceId, JSON.stringify(f.metaResponse), f.sentWithIp, f.sentWithUserAgent, at, at, ids, lease]));
      return res.rowCount ?? 0;
    },
  };
}
