// Database tooling, offline (Prisma's Wasm schema engine via prisma.config.ts; no binary download).
//
//   npx tsx scripts/db.ts sync [name] [--no-generate]
//                                       regenerate prisma/postgresql/schema.prisma from prisma/schema.prisma; when
//                                       the datamodel differs from a migration history, write a new migration
//                                       <timestamp>_<name> into that history (SQLite and/or PostgreSQL, same
//                                       folder name); then generate both clients
//   npx tsx scripts/db.ts check [--skip-postgres]
//                                       CI drift check: exit 1 when the PostgreSQL schema is stale or a history
//                                       does not produce the current datamodel (--skip-postgres: no PostgreSQL
//                                       server here, check the SQLite history only)
//   npx tsx scripts/db.ts generate      generate both clients (node_modules/.prisma/client-sqlite, client-pg)
//   npx tsx scripts/db.ts deploy        prisma migrate deploy for the DATABASE_URL in effect (default SQLite)
//
// The PostgreSQL history needs a PostgreSQL server for its shadow database (sync, check): the URL is
// DATABASE_URL when it is a PostgreSQL one, else MIGRATION_POSTGRES_URL, else TEST_POSTGRES_URL, else
// postgresql://postgres@127.0.0.1:5432/postgres. Only CREATE DATABASE / DROP DATABASE run on it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import {
  classifyDatabaseUrl,
  DEFAULT_DATABASE_URL,
  redactUrl,
  resolveDatabaseUrl,
} from "../app/dbUrl";

export const ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
);

const SQLITE_SCHEMA = "prisma/schema.prisma";
export const SQLITE_MIGRATIONS = "prisma/migrations";
const PG_SCHEMA = "prisma/postgresql/schema.prisma";
export const PG_MIGRATIONS = "prisma/postgresql/migrations";

const SQLITE_OUTPUT = `output     = "../node_modules/.prisma/client-sqlite"`;
const PG_PLACEHOLDER_URL = "postgresql://prisma@localhost:5432/prisma"; // never connected to (generate only)

type Kind = "sqlite" | "postgresql";

interface History {
  kind: Kind;
  schema: string;
  migrations: string;
}

const HISTORIES: History[] = [
  { kind: "sqlite", schema: SQLITE_SCHEMA, migrations: SQLITE_MIGRATIONS },
  { kind: "postgresql", schema: PG_SCHEMA, migrations: PG_MIGRATIONS },
];

class UsageError extends Error {}

// ------------------------------------------------------------------------------------------ the PG schema

/** prisma/postgresql/schema.prisma as it must be: the SQLite source with provider and output swapped. */
function renderPostgresSchema(source: string): string {
  const lines = source.split("\n");
  let start = 0;
  while (
    start < lines.length &&
    (lines[start].startsWith("//") || lines[start].trim() === "")
  )
    start++;
  let body = lines.slice(start).join("\n");

  body = replaceOnce(
    body,
    /(datasource\s+\w+\s*\{[^}]*?provider\s*=\s*)"sqlite"/,
    '$1"postgresql"',
    'the datasource block with provider = "sqlite"',
  );
  body = replaceOnce(
    body,
    /output(\s*)=(\s*)"\.\.\/node_modules\/\.prisma\/client-sqlite"/,
    'output$1=$2"../../node_modules/.prisma/client-pg"',
    SQLITE_OUTPUT,
  );
  const header = [
    "// GENERATED FILE, DO NOT EDIT. Generated from prisma/schema.prisma by `npx tsx scripts/db.ts sync`",
    "// (npm run db:sync): same models, provider postgresql, client generated into node_modules/.prisma/client-pg.",
    "// `npx tsx scripts/db.ts check` (CI) fails when this file is stale.",
  ].join("\n");
  return header + "\n\n" + body;
}

function replaceOnce(
  text: string,
  pattern: RegExp,
  replacement: string,
  what: string,
): string {
  const global = new RegExp(
    pattern.source,
    pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g",
  );
  const count = text.match(global)?.length ?? 0;
  if (count !== 1) {
    throw new Error(
      `${SQLITE_SCHEMA}: expected exactly one ${what}, found ${count}`,
    );
  }
  return text.replace(pattern, replacement);
}

function expectedPostgresSchema(): string {
  return renderPostgresSchema(
    fs.readFileSync(path.join(ROOT, SQLITE_SCHEMA), "utf8"),
  );
}

function postgresSchemaIsCurrent(): boolean {
  const file = path.join(ROOT, PG_SCHEMA);
  return (
    fs.existsSync(file) &&
    fs.readFileSync(file, "utf8") === expectedPostgresSchema()
  );
}

function writePostgresSchema(): boolean {
  if (postgresSchemaIsCurrent()) return false;
  fs.mkdirSync(path.dirname(path.join(ROOT, PG_SCHEMA)), { recursive: true });
  fs.writeFileSync(path.join(ROOT, PG_SCHEMA), expectedPostgresSchema());
  return true;
}

// ------------------------------------------------------------------------------------------ the Prisma CLI

const requireHere = createRequire(import.meta.url);
const PRISMA_CLI = path.join(
  path.dirname(requireHere.resolve("prisma/package.json")),
  "build/index.js",
);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the Prisma CLI (this project's prisma.config.ts) with DATABASE_URL set to `databaseUrl`. */
export function runPrisma(
  args: string[],
  databaseUrl: string,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PRISMA_CLI, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...options.env,
        DATABASE_URL: databaseUrl,
        PRISMA_HIDE_UPDATE_MESSAGE: "1",
        CHECKPOINT_DISABLE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code: code ?? 1, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

/** The database the CLI connects to for a history: its shadow database is created beside it. */
function toolingUrl(kind: Kind): string {
  const current = resolveDatabaseUrl();
  if (kind === "sqlite") {
    // The SQLite shadow database is in memory; the main connection is never written by `migrate diff`.
    return "file::memory:";
  }
  if (classifyDatabaseUrl(current).provider === "postgresql") return current;
  return (
    process.env.MIGRATION_POSTGRES_URL?.trim() ||
    process.env.TEST_POSTGRES_URL?.trim() ||
    "postgresql://postgres@127.0.0.1:5432/postgres"
  );
}

interface Drift {
  changed: boolean;
  script: string;
}

/** `migrate diff --from-migrations <history> --to-schema-datamodel <schema> --script --exit-code`. */
async function diffHistory(
  history: History,
  options: { writeLock: boolean },
): Promise<Drift> {
  if (options.writeLock) {
    fs.mkdirSync(path.join(ROOT, history.migrations), { recursive: true });
    writeLockFile(history); // the engine reads the provider from it
  }
  const url = toolingUrl(history.kind);
  const result = await runPrisma(
    [
      "migrate",
      "diff",
      "--from-migrations",
      history.migrations,
      "--to-schema-datamodel",
      history.schema,
      "--script",
      "--exit-code",
    ],
    url,
  );
  if (result.code === 0) return { changed: false, script: "" };
  if (result.code === 2) return { changed: true, script: result.stdout };
  const hint =
    history.kind === "postgresql"
      ? `\n(the PostgreSQL history needs a PostgreSQL server for its shadow database; tried ${redactUrl(url)}: ` +
        "set MIGRATION_POSTGRES_URL or TEST_POSTGRES_URL)"
      : "";
  throw new Error(
    `prisma migrate diff failed for the ${history.kind} history (${history.migrations}):\n` +
      `${result.stderr.trim()}\n${result.stdout.trim()}${hint}`,
  );
}

function lockFile(history: History): { file: string; text: string } {
  const provider = history.kind === "sqlite" ? "sqlite" : "postgresql";
  return {
    file: path.join(ROOT, history.migrations, "migration_lock.toml"),
    text:
      "# Please do not edit this file manually\n" +
      "# It should be added in your version-control system (e.g., Git)\n" +
      `provider = "${provider}"\n`,
  };
}

function lockFileIsCurrent(history: History): boolean {
  const { file } = lockFile(history);
  const provider = history.kind === "sqlite" ? "sqlite" : "postgresql";
  if (!fs.existsSync(file)) return false;
  return new RegExp(`^provider\\s*=\\s*"${provider}"`, "m").test(
    fs.readFileSync(file, "utf8"),
  );
}

function writeLockFile(history: History): void {
  const { file, text } = lockFile(history);
  if (!lockFileIsCurrent(history)) fs.writeFileSync(file, text);
}

function migrationTimestamp(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    p(date.getUTCFullYear(), 4) +
    p(date.getUTCMonth() + 1) +
    p(date.getUTCDate()) +
    p(date.getUTCHours()) +
    p(date.getUTCMinutes()) +
    p(date.getUTCSeconds())
  );
}

/** Migration folders of a history, in the order Prisma applies them. */
export function listMigrations(
  migrationsDir: string,
): { name: string; sqlFile: string }[] {
  const dir = path.isAbsolute(migrationsDir)
    ? migrationsDir
    : path.join(ROOT, migrationsDir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter(
      (d) =>
        d.isDirectory() &&
        fs.existsSync(path.join(dir, d.name, "migration.sql")),
    )
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name, sqlFile: path.join(dir, name, "migration.sql") }));
}

// ------------------------------------------------------------------------------------------------ commands

async function generate(): Promise<void> {
  const current = resolveDatabaseUrl();
  const provider = classifyDatabaseUrl(current).provider;
  const sqliteUrl = provider === "sqlite" ? current : DEFAULT_DATABASE_URL;
  const pgUrl = provider === "postgresql" ? current : PG_PLACEHOLDER_URL;
  const started = Date.now();
  const results = await Promise.all([
    runPrisma(["generate", "--schema", SQLITE_SCHEMA], sqliteUrl),
    runPrisma(["generate", "--schema", PG_SCHEMA], pgUrl),
  ]);
  results.forEach((r, i) => {
    const schema = i === 0 ? SQLITE_SCHEMA : PG_SCHEMA;
    if (r.code !== 0) {
      throw new Error(
        `prisma generate --schema ${schema} failed:\n${r.stderr.trim()}\n${r.stdout.trim()}`,
      );
    }
  });
  console.log(
    `db: generated node_modules/.prisma/client-sqlite and client-pg in ${Date.now() - started} ms ` +
      `(${results.map((r) => `${r.ms} ms`).join(" / ")})`,
  );
}

async function sync(
  name: string | undefined,
  options: { generate: boolean },
): Promise<void> {
  if (writePostgresSchema()) console.log(`db: wrote ${PG_SCHEMA}`);
  else console.log(`db: ${PG_SCHEMA} is current`);

  const drifts = await Promise.all(
    HISTORIES.map((h) => diffHistory(h, { writeLock: true })),
  );
  const changed = HISTORIES.filter((_, i) => drifts[i].changed);
  if (changed.length > 0) {
    if (!name) {
      throw new UsageError(
        `db: the datamodel differs from the ${changed.map((h) => h.kind).join(" and ")} migration history; ` +
          "give the new migration a name: npx tsx scripts/db.ts sync <name>  (npm run db:sync -- <name>)",
      );
    }
    const slug = name
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "");
    if (!slug)
      throw new UsageError(
        `db: invalid migration name ${JSON.stringify(name)}`,
      );
    const folder = `${migrationTimestamp()}_${slug}`;
    for (const [i, history] of HISTORIES.entries()) {
      if (!drifts[i].changed) continue;
      const dir = path.join(ROOT, history.migrations, folder);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, "migration.sql"),
        drifts[i].script.trimEnd() + "\n",
      );
      console.log(`db: wrote ${path.relative(ROOT, dir)}/migration.sql`);
    }
    if (changed.length === 1) {
      console.warn(
        `db: note: only the ${changed[0].kind} history differed from the datamodel; the other was already current`,
      );
    }
  } else {
    console.log(
      "db: both migration histories match the datamodel; no migration written",
    );
  }
  if (options.generate) await generate();
}

async function check(options: { skipPostgres: boolean }): Promise<boolean> {
  const problems: string[] = [];
  if (!postgresSchemaIsCurrent()) {
    problems.push(
      `${PG_SCHEMA} is stale (or missing): run npx tsx scripts/db.ts sync`,
    );
  }
  for (const history of HISTORIES) {
    if (listMigrations(history.migrations).length === 0)
      problems.push(`${history.migrations} has no migration`);
    if (!lockFileIsCurrent(history)) {
      problems.push(
        `${history.migrations}/migration_lock.toml is missing or names another provider: run npx tsx scripts/db.ts sync`,
      );
    }
  }
  let histories = options.skipPostgres
    ? HISTORIES.filter((h) => h.kind === "sqlite")
    : HISTORIES;
  if (options.skipPostgres) {
    console.warn(
      `db check: --skip-postgres: ${PG_MIGRATIONS} NOT checked (it needs a PostgreSQL server)`,
    );
  }
  histories = histories.filter(lockFileIsCurrent); // the engine cannot read a history without its lock file
  const drifts = await Promise.all(
    histories.map((h) => diffHistory(h, { writeLock: false })),
  );
  histories.forEach((history, i) => {
    if (drifts[i].changed) {
      problems.push(
        `the ${history.kind} migration history (${history.migrations}) does not produce the datamodel of ` +
          `${history.schema}; run npx tsx scripts/db.ts sync <name>. Missing SQL:\n` +
          drifts[i].script.trim().replace(/^/gm, "    "),
      );
    }
  });
  if (problems.length > 0) {
    console.error(
      "db check FAILED:\n" + problems.map((p) => `- ${p}`).join("\n"),
    );
    return false;
  }
  console.log(
    `db check: ${PG_SCHEMA} is current; ` +
      (options.skipPostgres
        ? "the SQLite history produces"
        : "both migration histories produce") +
      " the datamodel",
  );
  return true;
}

/**
 * Prisma 6 warns on every migrate command that the schemas' datasource `url` goes unused beside prisma.config.ts's
 * driver adapter. The `url` stays all the same: without it the CLI leaves its Wasm engine for a query engine binary,
 * which it downloads (and offline, fails). Harmless, so `deploy` does not show it.
 */
const UNUSED_URL_WARNING =
  "\nWARNING: Your schema specifies the following datasource properties but you are using a Driver Adapter via " +
  "prisma.config.ts:\n- url\n\nThe values from your schema will NOT be used!\n\nWe recommend you to remove those " +
  "properties from your schema to avoid confusion if you are only using driver adapters.\n";

async function deploy(): Promise<void> {
  const url = resolveDatabaseUrl();
  const target = classifyDatabaseUrl(url);
  console.log(`db: migrate deploy (${target.provider}) to ${redactUrl(url)}`);
  const result = await runPrisma(["migrate", "deploy"], url);
  process.stderr.write(result.stderr);
  process.stdout.write(result.stdout.replace(UNUSED_URL_WARNING, ""));
  if (result.code !== 0)
    throw new Error(`prisma migrate deploy failed (exit ${result.code})`);
  if (target.provider === "sqlite" && target.filename !== ":memory:") {
    // WAL is persistent in the file: switch once here, before the web process and the worker open it together
    // (app/db.server.ts asks for it on every connection too).
    const db = new Database(target.filename, { timeout: 5000 });
    try {
      db.pragma("journal_mode = WAL");
    } finally {
      db.close();
    }
  }
  console.log(`db: migrate deploy took ${result.ms} ms`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "sync": {
      const name = rest.find((a) => !a.startsWith("--"));
      await sync(name, { generate: !rest.includes("--no-generate") });
      return 0;
    }
    case "check":
      return (await check({ skipPostgres: rest.includes("--skip-postgres") }))
        ? 0
        : 1;
    case "generate":
      await generate();
      return 0;
    case "deploy":
      await deploy();
      return 0;
    default:
      console.error(
        "usage: npx tsx scripts/db.ts sync [migration_name] [--no-generate] | check [--skip-postgres] | generate | deploy",
      );
      return command ? 1 : 0;
  }
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
