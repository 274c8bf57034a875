// DATABASE_URL parsing shared by app/db.server.ts, prisma.config.ts, scripts/db.ts and the tests.
// No imports beyond node: builtins, so prisma.config.ts (loaded by the Prisma CLI) can use it too.
//
// - unset or empty            → SQLite at file:./.data/dev.sqlite (the embedded default)
// - file:<path>               → SQLite; a relative path is resolved against the current working directory
//                               (the project root for npm scripts, the app and the CLI alike)
// - postgres[ql]://...        → PostgreSQL; an optional `?schema=name` selects the schema (default public)
import path from "node:path";

export type DbProvider = "sqlite" | "postgresql";

export const DEFAULT_DATABASE_URL = "file:./.data/dev.sqlite";

export type DbTarget =
  | {
      provider: "sqlite";
      /** The URL as given (or the default). */
      url: string;
      /** Absolute path of the database file, or ":memory:". */
      filename: string;
    }
  | {
      provider: "postgresql";
      url: string;
      /** `?schema=` of the URL, when given. */
      schema?: string;
      /** Database name from the URL path. */
      database: string;
    };

export function resolveDatabaseUrl(
  env: NodeJS.ProcessEnv = process.env,
): string {
  const raw = env.DATABASE_URL?.trim();
  return raw ? raw : DEFAULT_DATABASE_URL;
}

export function classifyDatabaseUrl(
  url: string,
  cwd: string = process.cwd(),
): DbTarget {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(
        `DATABASE_URL is not a valid PostgreSQL URL: ${redactUrl(url)}`,
      );
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
    const schema = parsed.searchParams.get("schema") ?? undefined;
    return {
      provider: "postgresql",
      url,
      database,
      ...(schema ? { schema } : {}),
    };
  }
  if (/^file:/i.test(url)) {
    // file:./x, file:x, file:/abs/x and file:///abs/x all name a file; query strings are not supported.
    let p = url.slice("file:".length);
    if (p.startsWith("//")) p = p.slice(2);
    p = p.split("?")[0];
    if (!p) throw new Error(`DATABASE_URL names no SQLite file: ${url}`);
    const filename =
      p === ":memory:" ? p : path.resolve(cwd, decodeURIComponent(p));
    return { provider: "sqlite", url, filename };
  }
  throw new Error(
    `DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL); got ${redactUrl(url)}`,
  );
}

/** The database in effect for this process (DATABASE_URL, or the SQLite default). */
export function currentDbTarget(
  env: NodeJS.ProcessEnv = process.env,
): DbTarget {
  return classifyDatabaseUrl(resolveDatabaseUrl(env));
}

/** The same PostgreSQL URL pointing at another database on the same server (keeps credentials and options). */
export function withPostgresDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  return u.toString();
}

/** Hide the password of a URL for messages and logs. */
export function redactUrl(url: string): string {
  if (!url.includes("@")) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  }
}
