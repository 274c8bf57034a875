import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

// One owner per table (docs/architecture.md, "Who writes which table"): each table below is written by its owner
// alone, through Prisma there or prepared SQL. A write of it anywhere else in the app, the ops CLI or the scripts
// fails here (the tests and benchmarks seed their own rows and are not looked at).

const ROOT = path.resolve(import.meta.dirname, "../..");
/** Table -> the files (a path ending in "/" is a folder) that may write it. */
const OWNERS: Record<string, string[]> = {
  OutboxEvent: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  WebhookReceipt: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  BrowserContext: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  BrowserClient: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  OrderState: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  OrderRefund: ["app/core/outbox/outbox.ts", "app/core/outbox/sql.ts"],
  ShopperLink: ["app/core/outbox/outbox.ts"],
  Shop: ["app/core/shops/"],
  Destination: ["app/core/shops/"],
  Session: ["app/sessionStorage.server.ts"],
  DataRequest: ["app/core/privacy/"],
  DispatcherHeartbeat: ["app/core/delivery/dispatcher.ts"],
  DatasetCheck: ["app/core/checks/checks.ts"],
  PlanSubscription: ["app/core/plans/subscriptions.ts"],
};
const TABLES = Object.keys(OWNERS);
/** Prisma's accessor of a table: its name with a lower-case first letter. */
const ACCESSOR = new Map(
  TABLES.map((t) => [t[0].toLowerCase() + t.slice(1), t]),
);
const PRISMA_WRITE = new RegExp(
  `\\.(${[...ACCESSOR.keys()].join("|")})\\s*\\.\\s*(create\\w*|update\\w*|upsert|delete\\w*)\\s*\\(`,
  "g",
);
// Keywords in any case; the table name as written (prose such as "update the session" is no write).
const SQL_WRITE = new RegExp(
  `(INSERT\\s+INTO|UPDATE|DELETE\\s+FROM)\\s+(?:[^\\s]*?["(])?(${TABLES.join("|")})\\b`,
  "gi",
);

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), {
    withFileTypes: true,
    recursive: true,
  })
    .filter((e) => e.isFile() && /\.(ts|tsx|mjs)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

const owns = (file: string, table: string) =>
  OWNERS[table].some((o) =>
    o.endsWith("/") ? file.startsWith(o) : file === o,
  );

/** The writes in a source text of tables the file does not own, as "file: statement". */
function strayWrites(file: string, text: string): string[] {
  const prisma = [...text.matchAll(PRISMA_WRITE)].map(
    (m) => [ACCESSOR.get(m[1])!, m[0]] as const,
  );
  const sql = [...text.matchAll(SQL_WRITE)]
    .filter((m) => TABLES.includes(m[2]))
    .map((m) => [m[2], m[0]] as const);
  return [...prisma, ...sql]
    .filter(([table]) => !owns(file, table))
    .map(([, statement]) => `${file}: ${statement}`);
}

describe("each table has one writer", () => {
  it("no file writes a table it does not own", () => {
    const files = ["app", "ops", "scripts"].flatMap(sources);
    expect(files.length).toBeGreaterThan(50);
    expect(
      files.flatMap((f) =>
        strayWrites(f, readFileSync(path.join(ROOT, f), "utf8")),
      ),
    ).toEqual([]);
  });

  it("recognises a write by Prisma or by SQL, of the owner's tables only", () => {
    expect(
      strayWrites("x.ts", "await db.outboxEvent.updateMany({ where })"),
    ).toEqual(["x.ts: .outboxEvent.updateMany("]);
    expect(
      strayWrites("x.ts", "prisma.browserClient\n  .deleteMany({})"),
    ).toHaveLength(1);
    expect(
      strayWrites("x.ts", "db.shopperLink.upsert({ where })"),
    ).toHaveLength(1);
    expect(
      strayWrites(
        "x.ts",
        'db.$executeRaw`UPDATE "OutboxEvent" SET "status" = 1`',
      ),
    ).toHaveLength(1);
    expect(
      strayWrites("x.ts", 'sql = `DELETE FROM "s"."WebhookReceipt"`'),
    ).toHaveLength(1);
    expect(
      strayWrites(
        "x.ts",
        "db.outboxEvent.findMany({}); db.browserContext.count()",
      ),
    ).toEqual([]);
    expect(
      strayWrites("x.ts", "await this.o.db.shop.update({ where })"),
    ).toEqual(["x.ts: .shop.update("]);
    expect(
      strayWrites("x.ts", 'q = `UPDATE ${qualify("Shop")} SET "scope" = $1`'),
    ).toHaveLength(1);
    expect(
      strayWrites("x.ts", "prisma.session.deleteMany({ where })"),
    ).toHaveLength(1);
    expect(strayWrites("x.ts", "db.dataRequest.upsert({})")).toHaveLength(1);
    expect(
      strayWrites("x.ts", "db.dispatcherHeartbeat\n  .deleteMany({})"),
    ).toHaveLength(1);
    expect(
      strayWrites("x.ts", "// update the session, delete shop rows later"),
    ).toEqual([]);
    expect(
      strayWrites("app/core/shops/shops.ts", "db.shop.updateMany({})"),
    ).toEqual([]);
    expect(
      strayWrites("app/core/shops/shops.ts", "db.session.updateMany({})"),
    ).toHaveLength(1);
    expect(
      strayWrites(
        "app/core/outbox/sql.ts",
        'UPDATE "Shop" SET "largestOrderValues" = 1',
      ),
    ).toHaveLength(1);
  });
});
