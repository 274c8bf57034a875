// Fresh, migrated databases for the e2e suites.
//
//   const db = await createTestDatabase("sqlite" | "postgresql");  // → { url, drop() }
//
// SQLite: a new file in its own temp directory. PostgreSQL (needs TEST_POSTGRES_URL, e.g.
// postgresql://postgres@127.0.0.1:5432/test): a new database `capi_test_<time>_<random>` on that server, dropped by
// drop(); databases of this kind left over by a crashed run are swept after 2 hours.
//
// Migrations are applied by default the fast way: the migration.sql files of prisma/migrations (or
// prisma/postgresql/migrations) in order, with better-sqlite3 / pg, each recorded in `_prisma_migrations` exactly
// as `prisma migrate deploy` records it (same table, sha256 checksum of the file, applied_steps_count 1), so the
// Prisma CLI sees the database as deployed (test/e2e/migrations.test.ts checks that with `migrate status`).
// That takes ~10–60 ms instead of ~1 s for spawning the CLI (`migrate deploy` measured here: ~0.8 s SQLite,
// ~1.1 s PostgreSQL). `{ migrate: "cli" }` uses the real CLI instead; `{ migrate: "none" }` leaves it empty.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { withPostgresDatabase } from "../../app/dbUrl";
import {
  listMigrations,
  PG_MIGRATIONS,
  ROOT,
  runPrisma,
  SQLITE_MIGRATIONS,
} from "../../scripts/db";

export type DbKind = "sqlite" | "postgresql";

export interface TestDatabase {
  kind: DbKind;
  /** DATABASE_URL for the app, the CLI and createDb(). */
  url: string;
  /** Removes the database (file or PostgreSQL database). Safe to call twice. */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** "sql" (default): apply migration files directly; "cli": `prisma migrate deploy`; "none": empty. */
  migrate?: "sql" | "cli" | "none";
  /** PostgreSQL: the server to create it on, instead of TEST_POSTGRES_URL's. */
  postgresUrl?: string;
}

/** sqlite always; postgresql too when TEST_POSTGRES_URL is set. */
export function databaseKinds(): DbKind[] {
  return process.env.TEST_POSTGRES_URL ? ["sqlite", "postgresql"] : ["sqlite"];
}

export async function createTestDatabase(
  kind: DbKind = "sqlite",
  options: CreateTestDatabaseOptions = {},
): Promise<TestDatabase> {
  const migrate = options.migrate ?? "sql";
  const database =
    kind === "sqlite"
      ? createSqlite()
      : await createPostgres(options.postgresUrl ?? postgresBaseUrl());
  try {
    if (migrate === "sql") {
      if (kind === "sqlite") applySqliteMigrations(database.url);
      else await applyPostgresMigrations(database.url);
    } else if (migrate === "cli") {
      const result = await runPrisma(["migrate", "deploy"], database.url);
      if (result.code !== 0)
        throw new Error(
          `prisma migrate deploy failed:\n${result.stderr}\n${result.stdout}`,
        );
    }
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

// -------------------------------------------------------------------------------------------------- SQLite

function createSqlite(): TestDatabase {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capi-test-db-"));
  const file = path.join(dir, "test.sqlite");
  return {
    kind: "sqlite",
    url: `file:${file}`,
    async drop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The table `prisma migrate deploy` creates (Prisma 6.19, SQLite).
const SQLITE_MIGRATIONS_TABLE = `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

/** Prisma's timestamp text for SQLite rows: ISO 8601 with +00:00. */
function prismaSqliteTime(date = new Date()): string {
  return date.toISOString().replace("Z", "+00:00");
}

function applySqliteMigrations(url: string): void {
  const db = new Database(url.replace(/^file:/, ""));
  try {
    db.pragma("journal_mode = WAL"); // as the app runs it (app/db.server.ts)
    db.exec(SQLITE_MIGRATIONS_TABLE);
    const insert = db.prepare(
      `INSERT INTO "_prisma_migrations" ("id", "checksum", "started_at", "migration_name") VALUES (?, ?, ?, ?)`,
    );
    const finish = db.prepare(
      `UPDATE "_prisma_migrations" SET "finished_at" = ?, "applied_steps_count" = 1 WHERE "id" = ?`,
    );
    for (const m of listMigrations(path.join(ROOT, SQLITE_MIGRATIONS))) {
      const sql = fs.readFileSync(m.sqlFile, "utf8");
      const id = randomUUID();
      insert.run(id, checksum(sql), prismaSqliteTime(), m.name);
      // Not inside a transaction, as Prisma runs it: a table-redefining migration's
      // `PRAGMA foreign_keys=OFF` is a no-op inside one (and DROP TABLE would then cascade).
      db.exec(sql);
      finish.run(prismaSqliteTime(), id);
    }
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------- PostgreSQL

const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

function postgresBaseUrl(): string {
  const base = process.env.TEST_POSTGRES_URL?.trim();
  if (!base)
    throw new Error(
      "TEST_POSTGRES_URL is not set: no PostgreSQL test database can be created",
    );
  return base;
}

async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createPostgres(base: string): Promise<TestDatabase> {
  const name = `capi_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await withClient(base, async (client) => {
    await sweepStaleDatabases(client);
    await client.query(`CREATE DATABASE "${name}"`);
  });
  let dropped = false;
  return {
    kind: "postgresql",
    url: withPostgresDatabase(base, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withClient(base, (client) =>
        client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
      );
    },
  };
}

/** Drop capi_test_* databases older than STALE_AFTER_MS (a crashed run's). Best effort. */
async function sweepStaleDatabases(client: pg.Client): Promise<void> {
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'capi\\_test\\_%'`,
    );
    for (const { datname } of rows) {
      const created = parseInt(datname.split("_")[2] ?? "", 36);
      if (Number.isFinite(created) && Date.now() - created > STALE_AFTER_MS) {
        await client
          .query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
          .catch(() => {});
      }
    }
  } catch {
    // never fail a test over housekeeping
  }
}

// The table `prisma migrate deploy` creates (Prisma 6.19, PostgreSQL).
const PG_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

async function applyPostgresMigrations(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(PG_MIGRATIONS_TABLE);
    for (const m of listMigrations(path.join(ROOT, PG_MIGRATIONS))) {
      const sql = fs.readFileSync(m.sqlFile, "utf8");
      const id = randomUUID();
      await client.query(
        `INSERT INTO "_prisma_migrations" ("id", "checksum", "started_at", "migration_name") VALUES ($1, $2, now(), $3)`,
        [id, checksum(sql), m.name],
      );
      // One simple-protocol query: PostgreSQL runs a multi-statement script as one implicit transaction.
      await client.query(sql);
      await client.query(
        `UPDATE "_prisma_migrations" SET "finished_at" = now(), "applied_steps_count" = 1 WHERE "id" = $1`,
        [id],
      );
    }
  });
}

function checksum(sql: string): string {
  return createHash("sha256").update(sql).digest("hex");
}
