import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  DATE_COLUMNS,
  JSON_COLUMNS,
  pgStatements,
  sqliteStatements,
} from "../../app/core/outbox/sql";
import { RAISE_LARGEST_ORDER } from "../../app/core/shops/shops";

// The outbox's prepared SQL (app/core/outbox/sql.ts) names its tables and columns by hand, beside schema.prisma.
// Every name it uses (insert lists, update SETs, selects, conditions) is checked here against the schema as each
// generated client knows it (Prisma's DMMF), so a schema change the SQL misses fails on both databases before a
// statement does in production. So is how values cross the driver: Json columns as JSON text, the DateTime columns
// a statement reads turned back into Dates, and no Boolean read (SQLite gives 0 or 1).

type Field = {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
};
type Model = { name: string; dbName?: string | null; fields: Field[] };

const load = createRequire(import.meta.url);
const schemas = [".prisma/client-sqlite", ".prisma/client-pg"].map((id) => {
  const models = (
    load(id) as { Prisma: { dmmf: { datamodel: { models: Model[] } } } }
  ).Prisma.dmmf.datamodel.models;
  // Table name -> column name -> Prisma type.
  const tables = new Map(
    models.map((m) => [
      m.dbName ?? m.name,
      new Map(
        m.fields
          .filter((f) => f.kind !== "object")
          .map((f) => [f.dbName ?? f.name, f.type]),
      ),
    ]),
  );
  return { id, tables };
});
// The shops stage's statement prepared on the same store (decisions 56) is checked with them.
const dialects = {
  sqlite: {
    ...sqliteStatements(),
    raiseLargestOrder: RAISE_LARGEST_ORDER.sqlite,
  },
  postgresql: {
    ...pgStatements(),
    raiseLargestOrder: RAISE_LARGEST_ORDER.postgresql((name) => `"${name}"`),
  },
};

type Tables = (typeof schemas)[number]["tables"];

const quoted = (text: string) =>
  [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]);

// The indexes the SQLite migrations leave in place: a statement's `INDEXED BY` must name one of them.
const sqliteIndexes = (() => {
  const dir = path.join(process.cwd(), "prisma/migrations");
  const live = new Set<string>();
  for (const m of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, m, "migration.sql");
    if (!fs.existsSync(file)) continue;
    for (const [, verb, index] of fs
      .readFileSync(file, "utf8")
      .matchAll(/(CREATE (?:UNIQUE )?INDEX|DROP INDEX) "([^"]+)"/g))
      if (verb === "DROP INDEX") live.delete(index);
      else live.add(index);
  }
  return live;
})();

/** What is wrong with a statement's names against the schema: empty when each one is a table, alias or column. */
function problems(name: string, rawText: string, tables: Tables): string[] {
  const out: string[] = [];
  for (const [, index] of rawText.matchAll(/ INDEXED BY "([^"]+)"/g))
    if (!sqliteIndexes.has(index))
      out.push(`${name}: INDEXED BY "${index}", no index of the migrations`);
  const text = rawText.replace(/ INDEXED BY "[^"]+"/g, "");
  const named = quoted(text).filter((n) => tables.has(n));
  const aliases = new Set(
    [
      ...text.matchAll(/ AS "([^"]+)"/g),
      ...text.matchAll(/"([^"]+)" AS \(/g),
    ].map((m) => m[1]),
  );
  const columnOf = (table: string, column: string) =>
    tables.get(table)?.get(column);
  const anyColumn = (column: string) =>
    named.map((t) => columnOf(t, column)).find(Boolean);
  for (const n of quoted(text)) {
    if (!tables.has(n) && !aliases.has(n) && !anyColumn(n))
      out.push(`${name}: "${n}" is no column of ${named.join(", ")}`);
  }
  // Each list against its own table: INSERT INTO "T" (…), UPDATE "T" SET "c" = …, SELECT … FROM "T".
  for (const [, table, list] of text.matchAll(
    /INSERT INTO "([^"]+)"(?: AS "[^"]+")? \(([^)]*)\)/g,
  )) {
    for (const c of quoted(list))
      if (!columnOf(table, c))
        out.push(`${name}: INSERT INTO ${table} names "${c}"`);
  }
  for (const [, table, set] of text.matchAll(
    /UPDATE "([^"]+)" SET (.*?) (?:WHERE|FROM) /g,
  )) {
    for (const [, c] of set.matchAll(/"([^"]+)" = /g))
      if (!columnOf(table, c)) out.push(`${name}: UPDATE ${table} sets "${c}"`);
  }
  // A select list (no nested SELECT in it) against its FROM table and the tables the statement joins.
  const joined = [...text.matchAll(/JOIN "([^"]+)"/g)].map((m) => m[1]);
  const reads = [
    ...text.matchAll(/SELECT ((?:(?!SELECT ).)*?) FROM "([^"]+)"/g),
  ].map(([, list, table]) => ({ list, tables: [table, ...joined] }));
  reads.push(
    ...[...text.matchAll(/RETURNING (.*)$/g)].map(([, list]) => ({
      list,
      tables: named,
    })),
  );
  for (const read of reads) {
    const columns = read.list
      .replace(/ AS "[^"]+"/g, "")
      .replace(/"[^"]+"\.(?=")/g, "");
    for (const c of quoted(columns)) {
      const type = read.tables.map((t) => columnOf(t, c)).find(Boolean);
      if (!type)
        out.push(
          `${name}: reads "${c}", no column of ${read.tables.join(", ")}`,
        );
      if (type === "DateTime" && !DATE_COLUMNS.has(c))
        out.push(`${name}: reads DateTime "${c}" not in DATE_COLUMNS`);
      if (type === "Json" && !JSON_COLUMNS.has(c))
        out.push(`${name}: reads Json "${c}" not in JSON_COLUMNS`);
      if (type === "Boolean")
        out.push(`${name}: reads Boolean "${c}" (SQLite gives 0 or 1)`);
    }
  }
  // Json values are encoded by name, wherever a statement writes or compares them.
  for (const n of quoted(text))
    if (anyColumn(n) === "Json" && !JSON_COLUMNS.has(n))
      out.push(`${name}: Json "${n}" not in JSON_COLUMNS`);
  return out;
}

describe.each(schemas)(
  "the outbox's SQL against the schema of $id",
  ({ tables }) => {
    it.each(Object.entries(dialects))(
      "every table and column the %s statements name is the schema's",
      (_dialect, statements) => {
        expect(
          Object.entries(statements).flatMap(([name, text]) =>
            problems(name, text, tables),
          ),
        ).toEqual([]);
      },
    );

    it("the value lists name columns of the type they encode", () => {
      const typesOf = (column: string) =>
        new Set([...tables.values()].map((t) => t.get(column)).filter(Boolean));
      for (const c of JSON_COLUMNS)
        expect([c, [...typesOf(c)]]).toEqual([c, ["Json"]]);
      for (const c of DATE_COLUMNS)
        expect([c, [...typesOf(c)]]).toEqual([c, ["DateTime"]]);
    });

    it("catches a column renamed in one copy of a list, a SET, a condition or a read", () => {
      const { sqlite } = dialects;
      expect(
        problems(
          "context",
          sqlite.context.replace('"eventSourceUrl"', '"eventSourceURL"'),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "event",
          sqlite.event.replace('"holdUntil"', '"heldUntil"'),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "markSent",
          sqlite.markSent.replace('"sentWithIp" =', '"sentWithIP" ='),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "claim",
          sqlite.claim.replace('"leaseOwner" =', '"leasedBy" ='),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "seenEvent",
          sqlite.seenEvent.replace('"clientId" =', '"browserId" ='),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "purchase",
          sqlite.purchase.replace('"status"', '"lduApplied"'),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "purchase",
          sqlite.purchase.replace('"countryCode"', '"holdUntil"'),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "dueHeld",
          sqlite.dueHeld.replace('"c"."fbc"', '"c"."fbclid"'),
          tables,
        ),
      ).not.toEqual([]);
      expect(
        problems(
          "release",
          sqlite.release.replace('"releasedAt" =', '"releaseAt" ='),
          tables,
        ),
      ).not.toEqual([]);
    });
  },
);
