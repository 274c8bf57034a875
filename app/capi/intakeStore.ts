import { randomBytes } from "node:crypto";
import type BetterSqlite3 from "better-sqlite3";
import type { Pool, PoolClient, QueryConfig } from "pg";
import type { BrowserContext, Shop } from "./db";

// The order webhook's reads and writes in plain SQL on the driver, beside Prisma (which owns the schema and does
// everything else). Intake is the one path that runs for every order at webhook rates, and through Prisma each of
// its statements costs ~1 ms of CPU (the query compiler runs per query and the adapter re-prepares every
// statement): the benchmark's 500 orders/s on two cores is out of reach that way. Here each statement is prepared
// once per connection. Values are stored exactly as Prisma stores them (the tests read these rows through
// Prisma): SQLite DateTime as ISO-8601 text with "+00:00", Json as text, Boolean as 0/1; PostgreSQL timestamp(3)
// without time zone in UTC, jsonb.

/** The shop columns intake decides with. */
export type IntakeShop = Pick<
  Shop,
  "id" | "domain" | "settings" | "uninstalledAt" | "pixelId" | "tokenCiphertext" | "testEventCode" | "testEventCodeSetAt"
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

export type InsertResult = "inserted" | "duplicate";

export interface IntakeStore {
  findShop(domain: string): Promise<IntakeShop | null>;
  findContext(shopId: string, checkoutToken: string): Promise<IntakeContext | null>;
  /**
   * The event, its receipt and (when one joined) the browser context marked used and stripped of its raw IP and
   * user agent, in one transaction. "duplicate" when a unique key (webhook id, or shop + event) already exists.
   */
  insertEvent(event: NewOutboxEvent, receipt: NewReceipt, usedContextId: string | null): Promise<InsertResult>;
  insertReceipt(receipt: NewReceipt): Promise<InsertResult>;
  hasReceipt(webhookId: string): Promise<boolean>;
}

const EVENT_COLUMNS = [
  "id", "shopId", "eventName", "eventId", "source", "status", "suppressReason", "actionSource", "eventTime", "payload",
  "clientIp", "clientUserAgent", "countryCode", "provinceCode", "consent", "lduApplied", "orderId", "orderName",
  "checkoutToken", "customerKey", "emailHash", "phoneHash", "holdUntil", "nextAttemptAt", "browserSeenAt", "receivedAt",
  "releasedAt", "finalAt", "updatedAt",
] as const;
const RECEIPT_COLUMNS = ["id", "webhookId", "shopDomain", "topic", "outcome", "reason", "orderId", "receivedAt"] as const;
const SHOP_COLUMNS = ["id", "domain", "settings", "uninstalledAt", "pixelId", "tokenCiphertext", "testEventCode", "testEventCodeSetAt"] as const;
const CONTEXT_COLUMNS = ["id", "orderId", "fbp", "fbc", "clientIp", "clientUserAgent", "eventSourceUrl", "consent"] as const;
const JSON_COLUMNS = new Set(["payload", "consent", "settings"]);

// A random part drawn once per process (two small randomBytes calls per order cost more than the rest of the id).
const processTag = randomBytes(6).toString("hex");
let idCounter = 0;
/** Row ids like Prisma's cuid(): unique across processes, and roughly in creation order. */
export function newRowId(): string {
  idCounter = (idCounter + 1) % 1_679_616;
  return `c${Date.now().toString(36)}${idCounter.toString(36).padStart(4, "0")}${processTag}`;
}

const list = (columns: readonly string[]) => columns.map((c) => `"${c}"`).join(", ");

/** The SQL of one dialect: table names (schema-qualified on PostgreSQL) and placeholders. */
function statements(table: (name: string) => string, param: (i: number) => string) {
  const params = (n: number, from = 1) => Array.from({ length: n }, (_, i) => param(from + i)).join(", ");
  return {
    shop: `SELECT ${list(SHOP_COLUMNS)} FROM ${table("Shop")} WHERE "domain" = ${param(1)}`,
    context: `SELECT ${list(CONTEXT_COLUMNS)} FROM ${table("BrowserContext")} WHERE "shopId" = ${param(1)} AND "checkoutToken" = ${param(2)}`,
    useContext: `UPDATE ${table("BrowserContext")} SET "usedAt" = ${param(1)}, "updatedAt" = ${param(2)}, "clientIp" = NULL, "clientUserAgent" = NULL WHERE "id" = ${param(3)}`,
    event: `INSERT INTO ${table("OutboxEvent")} (${list(EVENT_COLUMNS)}) VALUES (${params(EVENT_COLUMNS.length)})`,
    receipt: `INSERT INTO ${table("WebhookReceipt")} (${list(RECEIPT_COLUMNS)}) VALUES (${params(RECEIPT_COLUMNS.length)})`,
    hasReceipt: `SELECT 1 FROM ${table("WebhookReceipt")} WHERE "webhookId" = ${param(1)}`,
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

/** A database row to the shape Prisma would have returned (Dates, parsed Json). */
function decodeRow<T>(row: Record<string, unknown>, parseDate: (v: unknown) => Date): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined) out[k] = null;
    else if (JSON_COLUMNS.has(k)) out[k] = typeof v === "string" ? JSON.parse(v) : v;
    else if (k.endsWith("At")) out[k] = parseDate(v);
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

export function sqliteIntakeStore(database: BetterSqlite3.Database, options: { busyTimeoutMs: number }): IntakeStore {
  const locked = async <T>(fn: () => T): Promise<T> => {
    const deadline = Date.now() + options.busyTimeoutMs;
    for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 50)) {
      try {
        return fn();
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
  const sql = statements((name) => `"${name}"`, () => "?");
  const prepared = Object.fromEntries(Object.entries(sql).map(([k, text]) => [k, database.prepare(text)])) as Record<
    keyof typeof sql,
    BetterSqlite3.Statement
  >;
  const insertEvent = database.transaction((event: unknown[], receipt: unknown[], contextId: string | null, now: string) => {
    prepared.event.run(event);
    prepared.receipt.run(receipt);
    if (contextId) prepared.useContext.run(now, now, contextId);
  });
  const unique = async (fn: () => void): Promise<InsertResult> => {
    try {
      await locked(fn);
      return "inserted";
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return "duplicate";
      throw err;
    }
  };
  return {
    async findShop(domain) {
      const row = (await locked(() => prepared.shop.get(domain))) as Record<string, unknown> | undefined;
      return row ? decodeRow<IntakeShop>(row, (v) => new Date(v as string)) : null;
    },
    async findContext(shopId, checkoutToken) {
      const row = (await locked(() => prepared.context.get(shopId, checkoutToken))) as Record<string, unknown> | undefined;
      return row ? decodeRow<IntakeContext>(row, (v) => new Date(v as string)) : null;
    },
    async insertEvent(event, receipt, usedContextId) {
      const values = [eventValues(event, encodeSqlite), receiptValues(receipt, encodeSqlite)] as const;
      return unique(() => insertEvent.immediate(values[0], values[1], usedContextId, sqliteTime(event.receivedAt)));
    },
    async insertReceipt(receipt) {
      return unique(() => prepared.receipt.run(receiptValues(receipt, encodeSqlite)));
    },
    async hasReceipt(webhookId) {
      return (await locked(() => prepared.hasReceipt.get(webhookId))) !== undefined;
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

export function pgIntakeStore(pool: Pool, options: { schema?: string; types: TypeParsers }): IntakeStore {
  // timestamp without time zone holds UTC; pg's own parser would read it in the process's local zone.
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === PG_TIMESTAMP ? (v: string) => new Date(`${v.replace(" ", "T")}Z`) : options.types.getTypeParser(oid, format),
  };
  const qualify = (name: string) => (options.schema ? `"${options.schema.replaceAll('"', '""')}"."${name}"` : `"${name}"`);
  const sql = statements(qualify, (i) => `$${i}`);
  const q = (name: keyof typeof sql, values: unknown[]): QueryConfig => ({ name: `capi_intake_${name}`, text: sql[name], values, types } as QueryConfig);
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
      return rows[0] ? decodeRow<IntakeShop>(rows[0], asDate) : null;
    },
    async findContext(shopId, checkoutToken) {
      const { rows } = await pool.query(q("context", [shopId, checkoutToken]));
      return rows[0] ? decodeRow<IntakeContext>(rows[0], asDate) : null;
    },
    async insertEvent(event, receipt, usedContextId) {
      return unique(() =>
        transaction(async (client) => {
          await client.query(q("event", eventValues(event, encodePg)));
          await client.query(q("receipt", receiptValues(receipt, encodePg)));
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
  };
}
