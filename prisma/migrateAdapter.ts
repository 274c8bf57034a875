// Driver adapters for the Prisma CLI only (prisma.config.ts → `adapter()`), never for the app.
//
// With `engine: "js"` the CLI runs the Wasm schema engine shipped in the `prisma` package over a JS driver
// adapter, which is what lets `migrate deploy` / `migrate diff` / `migrate status` run with no binary
// download. Prisma 6.19.3 has four bugs on that path; each fix below is marked with its number from
// /work/shared/spec/stack.md ("Prisma without binary downloads"):
//
//  1. SQLite shadow database: migrations are replayed with a one-statement `prepare`, so any migration with
//     more than one statement fails with P3006. → Parameterless raw SQL runs as a script (`exec`).
//  2. PostgreSQL: the shadow pool is built from the connection string plus a `database` field that `pg`
//     ignores (the URL wins), so the "shadow" was the main database. → The shadow URL is the main URL with
//     its database path replaced.
//  3. PostgreSQL catalog columns of type `name` / `"char"` (and `name[]`) fail to deserialise in the schema
//     engine (prisma/prisma#27403). → They are reported to the engine as text.
//  4. PostgreSQL shadow teardown drops the database before closing its pool (the DROP fails: "database is
//     being accessed by other users"), and scripts are split on every `;` (breaks quoted `;`, DO blocks and
//     dollar-quoted bodies). → Close the pool first, then drop; a script is sent as one simple query.
//
// And one more, found here: the Wasm schema engine arms a 10 s JS timer for its PostgreSQL advisory lock
// (`SELECT pg_advisory_lock(72707369)` in `migrate deploy`) and never clears it (its glue has no clearTimeout),
// so the CLI idled 10 s after finishing every PostgreSQL deploy. → Long timers created from Wasm are unref'd
// (they still fire while the lock query runs, which keeps the process alive; they no longer hold it open).
//
// Fixes 3 and 4 reach into adapter internals (`performIO`, the pool behind `underlyingDriver()`): they are
// written for the pinned @prisma/adapter-pg 6.19.3 and checked at run time, so an upgrade that changes them
// fails loudly here instead of silently misbehaving. Re-test (`npx tsx scripts/db.ts check` with PostgreSQL,
// test/e2e/migrations.test.ts) before upgrading Prisma.
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { DbTarget } from "../app/dbUrl";
import { withPostgresDatabase } from "../app/dbUrl";

// The driver-adapter interfaces, taken from the adapters themselves (no import of an undeclared package).
type SqlMigrationAwareDriverAdapterFactory = PrismaBetterSQLite3 | PrismaPg;
type SqlDriverAdapter = Awaited<ReturnType<PrismaBetterSQLite3["connect"]>>;
type SqlQuery = Parameters<SqlDriverAdapter["queryRaw"]>[0];
type SqlResultSet = Awaited<ReturnType<SqlDriverAdapter["queryRaw"]>>;

/** The adapter factory the Prisma CLI should use for this database. */
export async function migrationAdapterFactory(target: DbTarget): Promise<SqlMigrationAwareDriverAdapterFactory> {
  if (target.provider === "sqlite") return new SqliteMigrationAdapterFactory(target.filename) as never;
  return new PgMigrationAdapterFactory(target.url, target.schema) as never;
}

// ---------------------------------------------------------------------------------------------- SQLite

class SqliteMigrationAdapterFactory {
  readonly provider = "sqlite" as const;
  readonly adapterName = "@prisma/adapter-better-sqlite3";
  readonly #inner: PrismaBetterSQLite3;

  constructor(private readonly filename: string) {
    this.#inner = new PrismaBetterSQLite3({ url: filename, timeout: 5000 });
  }

  async connect(): Promise<SqlDriverAdapter> {
    if (this.filename !== ":memory:") fs.mkdirSync(path.dirname(this.filename), { recursive: true });
    return withSqliteScriptFallback(await this.#inner.connect());
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    // In memory, gone when the engine disposes it.
    return withSqliteScriptFallback(await this.#inner.connectToShadowDb());
  }
}

const EMPTY_RESULT: SqlResultSet = { columnNames: [], columnTypes: [], rows: [] };

function isParameterless(query: SqlQuery): boolean {
  return !query.args || query.args.length === 0;
}

function isMultiStatementError(error: unknown): boolean {
  return error instanceof Error && /more than one statement/i.test(error.message);
}

/** Fix 1: parameterless raw SQL that better-sqlite3 cannot `prepare` (several statements) runs as a script. */
function withSqliteScriptFallback(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const queryRaw = adapter.queryRaw.bind(adapter);
  const executeRaw = adapter.executeRaw.bind(adapter);
  return Object.assign(adapter, {
    async executeRaw(query: SqlQuery): Promise<number> {
      try {
        return await executeRaw(query);
      } catch (error) {
        if (!isParameterless(query) || !isMultiStatementError(error)) throw error;
        await adapter.executeScript(query.sql);
        return 0;
      }
    },
    async queryRaw(query: SqlQuery): Promise<SqlResultSet> {
      try {
        return await queryRaw(query);
      } catch (error) {
        if (!isParameterless(query) || !isMultiStatementError(error)) throw error;
        await adapter.executeScript(query.sql);
        return EMPTY_RESULT;
      }
    },
  });
}

// ------------------------------------------------------------------------------------------- PostgreSQL

// pg type oids: "char", name → text; "char"[], name[] → text[] (fix 3).
const PG_OID_CHAR = 18;
const PG_OID_NAME = 19;
const PG_OID_CHAR_ARRAY = 1002;
const PG_OID_NAME_ARRAY = 1003;
const PG_OID_TEXT = 25;
const PG_OID_TEXT_ARRAY = 1009;
const parseTextArray = (pg.types.getTypeParser as (oid: number, format: "text") => (value: string) => unknown)(
  PG_OID_TEXT_ARRAY,
  "text",
);

type PgPoolLike = { query(sql: string): Promise<unknown>; end(): Promise<void> };
type PgField = { dataTypeID: number };
type PgResult = { fields: PgField[]; rows: unknown[][] };

class PgMigrationAdapterFactory {
  readonly provider = "postgres" as const;
  readonly adapterName = "@prisma/adapter-pg";

  constructor(
    private readonly url: string,
    private readonly schema: string | undefined,
  ) {
    unrefSchemaEngineTimers();
  }

  async connect(): Promise<SqlDriverAdapter> {
    return this.#open(this.url);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const main = await this.#open(this.url);
    const database = `prisma_migrate_shadow_db_${randomUUID()}`;
    try {
      await main.executeScript(`CREATE DATABASE "${database}"`);
    } catch (error) {
      await main.dispose();
      throw error;
    }
    let shadow: SqlDriverAdapter;
    try {
      shadow = await this.#open(withPostgresDatabase(this.url, database)); // fix 2
    } catch (error) {
      await main.executeScript(`DROP DATABASE IF EXISTS "${database}"`).catch(() => {});
      await main.dispose();
      throw error;
    }
    const disposeShadow = shadow.dispose.bind(shadow);
    return Object.assign(shadow, {
      // Fix 4: close the shadow pool, then drop its database, then close the main pool.
      async dispose(): Promise<void> {
        try {
          await disposeShadow();
          await main.executeScript(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
        } finally {
          await main.dispose();
        }
      },
    });
  }

  async #open(url: string): Promise<SqlDriverAdapter> {
    // allowExitOnIdle: the CLI exits as soon as it is done instead of waiting out the pool's idle timeout.
    const factory = new PrismaPg(
      { connectionString: url, max: 2, allowExitOnIdle: true },
      this.schema ? { schema: this.schema } : undefined,
    );
    const adapter = (await factory.connect()) as SqlDriverAdapter;
    return patchPgAdapter(adapter);
  }
}

function patchPgAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const internals = adapter as unknown as {
    performIO?: (query: SqlQuery) => Promise<PgResult>;
    underlyingDriver?: () => PgPoolLike;
    startTransaction: SqlDriverAdapter["startTransaction"];
  };
  if (typeof internals.performIO !== "function" || typeof internals.underlyingDriver !== "function") {
    throw new Error(
      "prisma/migrateAdapter.ts: @prisma/adapter-pg internals changed (performIO/underlyingDriver); " +
        "re-check the four Prisma 6.19.3 fixes before upgrading.",
    );
  }
  patchPerformIO(internals);
  const startTransaction = internals.startTransaction.bind(adapter);
  internals.startTransaction = async (isolationLevel) => {
    const tx = await startTransaction(isolationLevel);
    patchPerformIO(tx as never);
    return tx;
  };
  const pool = internals.underlyingDriver();
  // Fix 4: the whole script as one simple-protocol query (PostgreSQL runs it as one implicit transaction).
  adapter.executeScript = async (script: string): Promise<void> => {
    try {
      await pool.query(script);
    } catch (error) {
      (adapter as unknown as { onError(e: unknown): never }).onError(error);
    }
  };
  return adapter;
}

/** Fix 3: catalog `name` / `"char"` columns reach the engine as text. */
function patchPerformIO(queryable: { performIO?: (query: SqlQuery) => Promise<PgResult> }): void {
  const performIO = queryable.performIO;
  if (typeof performIO !== "function") return;
  queryable.performIO = async function (query: SqlQuery) {
    const result = await performIO.call(queryable, query);
    (result?.fields ?? []).forEach((field, column) => {
      if (field.dataTypeID === PG_OID_NAME || field.dataTypeID === PG_OID_CHAR) {
        field.dataTypeID = PG_OID_TEXT;
      } else if (field.dataTypeID === PG_OID_NAME_ARRAY || field.dataTypeID === PG_OID_CHAR_ARRAY) {
        // pg leaves these arrays unparsed ("{a,b}"): parse them as text[].
        field.dataTypeID = PG_OID_TEXT_ARRAY;
        for (const row of result.rows ?? []) {
          if (typeof row[column] === "string") row[column] = parseTextArray(row[column] as string);
        }
      }
    });
    return result;
  };
}

/** The Wasm engine's never-cleared timeouts (≥ 10 s) must not keep the CLI alive once its work is done. */
function unrefSchemaEngineTimers(): void {
  const flag = Symbol.for("capi.unrefSchemaEngineTimers");
  const g = globalThis as typeof globalThis & { [flag]?: boolean };
  if (g[flag]) return;
  g[flag] = true;
  const original = globalThis.setTimeout;
  const patched = function (this: unknown, handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) {
    const timer = original(handler, ms, ...args);
    if (typeof ms === "number" && ms >= 10_000 && new Error().stack?.includes("wasm://")) timer.unref?.();
    return timer;
  };
  globalThis.setTimeout = Object.assign(patched, original) as typeof setTimeout;
}
