import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { createDb, type Db } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { createTestDatabase } from "./database";

// Starts the PRODUCTION build (scripts/start.mjs, built once by globalSetup) on a random port with its own fresh
// database, and gives tests an HTTP base URL, the captured logs, and a database client for assertions. `server:
// "dev"` serves the same build as `npm run dev` serves the app instead (test/support/devServer.mjs).

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const API_KEY = "test-api-key";
export const API_SECRET = "test-api-secret-0123456789";
export const TOKEN_KEY = randomBytes(32).toString("base64");

export type DbKind = "sqlite" | "postgresql";

export interface TestApp {
  url: string;
  db: Db;
  dbUrl: string;
  logs: string[];
  env: Record<string, string>;
  /** Process id of the running server (null when stopped): the benchmark reads its peak RSS from /proc. */
  readonly pid: number | null;
  /** Stops the server (SIGTERM, graceful); the database stays for a restart. */
  stop(): Promise<number | null>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same database. */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  /** Stops everything and drops the database. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

export async function startApp(opts: {
  db: DbKind;
  graphUrl: string;
  env?: Record<string, string>;
  server?: "dev";
  /** Another node of an app already running: its database (not dropped by close()). */
  dbUrl?: string;
}): Promise<TestApp> {
  const database = opts.dbUrl
    ? { url: opts.dbUrl, drop: async () => {} }
    : await createTestDatabase(opts.db);
  const logs: string[] = [];
  let child: ChildProcess | null = null;
  let port = 0;
  let env: Record<string, string> = {};

  const launch = async (extraEnv: Record<string, string> = {}) => {
    port = await freePort();
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "production",
      // One server process: per-process limits and caches behave deterministically (cluster.test.ts covers more).
      WEB_CONCURRENCY: "1",
      PORT: String(port),
      HOST_BIND: "127.0.0.1",
      DATABASE_URL: database.url,
      SHOPIFY_API_KEY: API_KEY,
      SHOPIFY_API_SECRET: API_SECRET,
      SHOPIFY_APP_URL: `http://127.0.0.1:${port}`,
      SCOPES: "read_orders,write_pixels,read_customer_events",
      TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
      META_GRAPH_API_URL: opts.graphUrl,
      META_GRAPH_TIMEOUT_MS: "2000",
      PURCHASE_HOLD_SECONDS: "0",
      RETRY_BASE_MS: "200",
      RATE_LIMIT_BASE_MS: "300",
      BUILD_PATH: path.join(
        process.env.TEST_BUILD_DIR ?? path.join(ROOT, "build"),
        "server/index.js",
      ),
      ...opts.env,
      ...extraEnv,
    };
    const script =
      opts.server === "dev"
        ? "test/support/devServer.mjs"
        : "scripts/start.mjs";
    const proc = spawn(process.execPath, [script], {
      cwd: ROOT,
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    const capture = (chunk: Buffer) =>
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    proc.stdout!.on("data", capture);
    proc.stderr!.on("data", capture);
    await waitReady(`http://127.0.0.1:${port}`, proc, logs);
  };

  const waitExit = (proc: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null)
        return resolve(proc.exitCode);
      proc.once("exit", (code) => resolve(code));
    });

  await launch();
  const { db } = createDb(classifyDatabaseUrl(database.url));

  const app: TestApp = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    db,
    dbUrl: database.url,
    logs,
    get env() {
      return env;
    },
    get pid() {
      return child?.pid ?? null;
    },
    async stop() {
      if (!child) return null;
      const proc = child;
      child = null;
      proc.kill("SIGTERM");
      return waitExit(proc);
    },
    async kill() {
      if (!child) return;
      const proc = child;
      child = null;
      proc.kill("SIGKILL");
      await waitExit(proc);
    },
    async restart(extraEnv) {
      await app.stop();
      await launch(extraEnv);
    },
    async close() {
      await app.kill();
      await db.$disconnect();
      await database.drop();
    },
  };
  return app;
}

async function waitReady(
  url: string,
  proc: ChildProcess,
  logs: string[],
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null)
      throw new Error(`server exited (${proc.exitCode}):\n${logs.join("\n")}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not become ready:\n${logs.join("\n")}`);
}

/** `npm run worker` on the app's database and environment (a web node's is DISPATCHER_IN_PROCESS=false). */
export function startWorker(
  env: Record<string, string>,
  extra: Record<string, string> = {},
): { proc: ChildProcess; logs: string[] } {
  const logs: string[] = [];
  const proc = spawn(process.execPath, ["--import", "tsx", "app/worker.ts"], {
    cwd: ROOT,
    env: {
      ...env,
      DISPATCHER_IN_PROCESS: "true",
      ...extra,
    } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [proc.stdout!, proc.stderr!])
    stream.on("data", (c: Buffer) => logs.push(c.toString()));
  return { proc, logs };
}

/** Stops workers with SIGTERM (graceful) and waits for their exit; one already gone is skipped. */
export function stopAll(workers: { proc: ChildProcess }[]): Promise<unknown> {
  return Promise.all(
    workers.map(
      ({ proc }) =>
        new Promise((resolve) => {
          if (proc.exitCode !== null || proc.signalCode !== null)
            return resolve(null);
          proc.once("exit", resolve).kill("SIGTERM");
        }),
    ),
  );
}

/** Polls until `check` returns a truthy value (or throws after the timeout, with the last value). */
export async function eventually<T>(
  check: () =>
    Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | null | undefined | false;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what} (last: ${JSON.stringify(last)})`,
  );
}

export function databaseKinds(): DbKind[] {
  return process.env.TEST_POSTGRES_URL ? ["sqlite", "postgresql"] : ["sqlite"];
}
