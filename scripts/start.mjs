// Production server: the Remix build behind Express, as remix-serve does, plus what remix-serve lacks here:
// the socket address for the pixel endpoint's client IP, a graceful SIGTERM for the in-process dispatcher, a heap
// limit, and several processes behind one port (WEB_CONCURRENCY) where the database can use them.
import cluster from "node:cluster";
import http from "node:http";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

process.env.NODE_ENV ??= "production";
const buildPath = path.resolve(process.env.BUILD_PATH ?? "build/server/index.js");
if (!existsSync(buildPath)) {
  console.error(`Cannot start: no production build at ${buildPath}. Run \`npm run build\` first.`);
  process.exit(1);
}

// One process on SQLite: it takes one writer at a time, and a second process made each order cost ~50 % more CPU
// and doubled the p99 (npm run bench, intake). PostgreSQL: one per core (same pattern as app/dbUrl.ts).
const postgres = /^postgres(ql)?:\/\//i.test(process.env.DATABASE_URL ?? "");
const processes = Number(process.env.WEB_CONCURRENCY || (postgres ? os.availableParallelism() : 1));
if (!Number.isInteger(processes) || processes < 1) {
  console.error(`Cannot start: WEB_CONCURRENCY must be a whole number ≥ 1 (got "${process.env.WEB_CONCURRENCY}").`);
  process.exit(1);
}

// The live data is small, but V8 grows its heap with the allocation rate long before it collects (one
// 1,000-event request to Meta is ~2 MB of JSON; ~400 MB without a limit): a limit keeps each process's memory
// bounded. The primary gives it to its processes; a single process runs itself again with it (same pid).
const HEAP_LIMIT = "--max-old-space-size=256";
const heapLimited = /max-old-space-size/.test(`${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`);
if (cluster.isPrimary && processes === 1 && !heapLimited) {
  if (typeof process.execve === "function") {
    process.execve(process.execPath, [process.execPath, HEAP_LIMIT, ...process.execArgv, ...process.argv.slice(1)], process.env);
  }
  console.warn(`[server] Node ${process.version} cannot restart itself with ${HEAP_LIMIT} (Node 22.15 or later can): set it in NODE_OPTIONS`);
}

if (cluster.isPrimary && processes > 1) await primary();
else await serve();

async function primary() {
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...(heapLimited ? [] : [HEAP_LIMIT])] });
  let stopping = false;
  const fork = (index) =>
    cluster.fork({
      CAPI_PROCESS_INDEX: String(index),
      // One dispatcher per server is enough (leases would make more safe, not faster on one database file).
      DISPATCHER_IN_PROCESS: index === 0 ? (process.env.DISPATCHER_IN_PROCESS ?? "true") : "false",
    });
  const indexOf = new Map();
  for (let i = 0; i < processes; i++) indexOf.set(fork(i).id, i);

  const listening = new Set();
  cluster.on("listening", (worker) => listening.add(worker.id));
  cluster.on("exit", (worker, code, signal) => {
    const index = indexOf.get(worker.id);
    indexOf.delete(worker.id);
    if (stopping) {
      if (indexOf.size === 0) process.exit(0);
      return;
    }
    if (!listening.has(worker.id)) {
      // It never started (missing key, bad configuration): its own message says why; restarting would loop.
      console.error(`[server] process ${index} could not start (exit ${code ?? signal}); stopping`);
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
      process.exitCode = code || 1;
      if (indexOf.size === 0) process.exit(process.exitCode);
      return;
    }
    console.error(`[server] process ${index} died (${code ?? signal}); starting a new one`);
    indexOf.set(fork(index).id, index);
  });

  const shutdown = (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`[server] ${signal}: stopping ${indexOf.size} processes`);
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

async function serve() {
  const [{ default: express }, { createRequestHandler }] = await Promise.all([import("express"), import("@remix-run/express")]);
  const build = await import(pathToFileURL(buildPath).href);

  let background;
  try {
    background = await build.entry.module.onServerStart();
  } catch (err) {
    console.error(`Cannot start: ${err.message}`);
    process.exit(1);
  }

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.use(build.publicPath, express.static(build.assetsBuildDirectory, { immutable: true, maxAge: "1y" }));
  app.use(express.static("public", { maxAge: "1h" }));
  app.all(
    "*",
    createRequestHandler({
      build,
      mode: process.env.NODE_ENV,
      getLoadContext: (req) => ({
        socketAddress: req.socket.remoteAddress ?? null,
        forwardedFor: req.headers["x-forwarded-for"] ?? null,
      }),
    }),
  );

  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST_BIND || undefined;
  // Order webhooks (at order rates) and the pixel's endpoint (at page-view rates) are served from the Node request,
  // without Express's body parsing and static file lookups, a Fetch Request and Remix's router for each; the Remix
  // routes serve the same handlers under `npm run dev`.
  const { orderWebhookRoutes, serveOrderWebhook, serveIngest } = build.entry.module;
  const server = http.createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/ingest") void serveIngest(req, res);
    else if (req.method === "POST" && path && Object.hasOwn(orderWebhookRoutes, path)) void serveOrderWebhook(req, res);
    else app(req, res);
  });
  server.listen(port, host, () => {
    if (!cluster.isWorker || process.env.CAPI_PROCESS_INDEX === "0") {
      console.log(`[server] listening on http://${host ?? "localhost"}:${port}${cluster.isWorker ? ` (${processes} processes)` : ""}`);
    }
  });
  server.keepAliveTimeout = 65_000;

  let stopping = false;
  async function shutdown(signal) {
    if (stopping) return;
    stopping = true;
    if (!cluster.isWorker) console.log(`[server] ${signal}: closing`);
    server.close();
    server.closeIdleConnections?.();
    await background?.stop?.();
    process.exit(0);
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // A primary that dies (crash, SIGKILL) takes its processes with it, as a single process would go.
  if (cluster.isWorker) process.on("disconnect", () => !stopping && process.exit(1));
}
