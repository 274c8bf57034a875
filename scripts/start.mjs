// Production server: the Remix build and its static files, as remix-serve serves them, plus what remix-serve lacks
// here: every request body capped before it is read (decisions 25-27), the webhooks and the pixel endpoint served
// without Remix from their route table (app/http/routes.server.ts), the socket address for the pixel endpoint's client IP, a graceful SIGTERM for the
// in-process dispatcher, a heap limit, and several processes behind one port (WEB_CONCURRENCY) where the database
// can use them.
import cluster from "node:cluster";
import http from "node:http";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

process.env.NODE_ENV ??= "production";
const buildPath = path.resolve(
  process.env.BUILD_PATH ?? "build/server/index.js",
);
if (!existsSync(buildPath)) {
  console.error(
    `Cannot start: no production build at ${buildPath}. Run \`npm run build\` first.`,
  );
  process.exit(1);
}

// One process on SQLite: it takes one writer at a time, and a second process made each order cost ~50 % more CPU
// and doubled the p99 (npm run bench, intake). PostgreSQL: one per core (same pattern as app/dbUrl.ts).
const postgres = /^postgres(ql)?:\/\//i.test(process.env.DATABASE_URL ?? "");
const processes = Number(
  process.env.WEB_CONCURRENCY || (postgres ? os.availableParallelism() : 1),
);
if (!Number.isInteger(processes) || processes < 1) {
  console.error(
    `Cannot start: WEB_CONCURRENCY must be a whole number ≥ 1 (got "${process.env.WEB_CONCURRENCY}").`,
  );
  process.exit(1);
}
const requestTimeout = Number(process.env.HTTP_REQUEST_TIMEOUT_MS || 30_000);
if (!Number.isInteger(requestTimeout) || requestTimeout < 1) {
  console.error(
    `Cannot start: HTTP_REQUEST_TIMEOUT_MS must be a whole number ≥ 1 (got "${process.env.HTTP_REQUEST_TIMEOUT_MS}").`,
  );
  process.exit(1);
}

// The live data is small, but V8 grows its heap with the allocation rate long before it collects (one
// 1,000-event request to Meta is ~2 MB of JSON; ~400 MB without a limit): a limit keeps each process's memory
// bounded. The primary gives it to its processes; a single process runs itself again with it (same pid).
const HEAP_LIMIT = "--max-old-space-size=256";
const heapLimited = /max-old-space-size/.test(
  `${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`,
);
if (cluster.isPrimary && processes === 1 && !heapLimited) {
  if (typeof process.execve === "function") {
    process.execve(
      process.execPath,
      [
        process.execPath,
        HEAP_LIMIT,
        ...process.execArgv,
        ...process.argv.slice(1),
      ],
      process.env,
    );
  }
  console.warn(
    `[server] Node ${process.version} cannot restart itself with ${HEAP_LIMIT} (Node 22.15 or later can): set it in NODE_OPTIONS`,
  );
}

if (cluster.isPrimary && processes > 1) await primary();
else await serve();

async function primary() {
  cluster.setupPrimary({
    execArgv: [...process.execArgv, ...(heapLimited ? [] : [HEAP_LIMIT])],
  });
  let stopping = false;
  const fork = (index) =>
    cluster.fork({
      CAPI_PROCESS_INDEX: String(index),
      // One dispatcher per server is enough (leases would make more safe, not faster on one database file).
      DISPATCHER_IN_PROCESS:
        index === 0 ? (process.env.DISPATCHER_IN_PROCESS ?? "true") : "false",
    });
  const indexOf = new Map();
  for (let i = 0; i < processes; i++) indexOf.set(fork(i).id, i);

  const listening = new Set();
  cluster.on("listening", (worker) => listening.add(worker.id));
  cluster.on("exit", (worker, code, signal) => {
    const index = indexOf.get(worker.id);
    indexOf.delete(worker.id);
    if (stopping) {
      // Non-zero when stopping because a process could not start.
      if (indexOf.size === 0) process.exit(process.exitCode ?? 0);
      return;
    }
    if (!listening.has(worker.id)) {
      // It never started (missing key, bad configuration): its own message says why; restarting would loop.
      console.error(
        `[server] process ${index} could not start (exit ${code ?? signal}); stopping`,
      );
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
      process.exitCode = code || 1;
      if (indexOf.size === 0) process.exit(process.exitCode);
      return;
    }
    console.error(
      `[server] process ${index} died (${code ?? signal}); starting a new one`,
    );
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
  let build;
  try {
    build = await import(pathToFileURL(buildPath).href);
  } catch (err) {
    // The app's configuration is checked as the build loads (a missing SHOPIFY_API_SECRET, say).
    console.error(`Cannot start: ${err.message}`);
    process.exit(1);
  }
  const [
    { createRequestHandler, writeReadableStreamToWritable },
    { default: serveStatic },
    { default: compression },
  ] = await Promise.all([
    import("@remix-run/node"),
    import("serve-static"),
    import("compression"),
  ]);

  let background;
  try {
    background = await build.entry.module.onServerStart();
  } catch (err) {
    console.error(`Cannot start: ${err.message}`);
    process.exit(1);
  }

  const { serveFast, internalError, BODY_LIMITS, receiveBody, refuse, send } =
    build.entry.module;
  const remix = createRequestHandler(build, process.env.NODE_ENV);
  const assets = serveStatic(build.assetsBuildDirectory, {
    immutable: true,
    maxAge: "1y",
  });
  // The admin's documents, styles and scripts go out compressed (gzip or Brotli, as the browser accepts): Polaris'
  // stylesheet alone is 440 kB, which blocks the first paint on a phone's connection (README, Performance).
  const compress = compression();

  // Every request's body is read once, within its route's cap and the process's budget, before any handler (or
  // library) could buffer it (decisions 25, 26). The webhooks (order webhooks at order rates) and the pixel's
  // endpoint (at page-view rates) are served from the Node request by their route table, however their paths are
  // spelled, without a Fetch Request and Remix's router for each; everything else goes to Remix.
  async function handle(req, res) {
    const fast = serveFast(req, res);
    if (fast) return fast;
    const body = await receiveBody(req, res, BODY_LIMITS.other);
    if (body === null) return;
    if (req.method !== "GET" && req.method !== "HEAD")
      return serveRemix(req, res, body);
    compress(req, res, () =>
      assets(req, res, (err) => {
        if (err) failed(req, res, err);
        else serveRemix(req, res, body).catch((e) => failed(req, res, e));
      }),
    );
  }

  /** A failure of ours (never a rejection left unhandled: that would stop the process). */
  function failed(req, res, err) {
    const answer = internalError(req.method, req.url, err);
    if (!res.headersSent) send(req, res, answer.status, answer.body);
    else res.destroy();
  }

  async function serveRemix(req, res, body) {
    const controller = new AbortController();
    let request;
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        for (const v of Array.isArray(value) ? value : [value])
          headers.append(name, v);
      }
      request = new Request(
        `http://${req.headers.host ?? "localhost"}${req.url}`,
        {
          method: req.method,
          headers,
          body:
            req.method === "GET" || req.method === "HEAD" ? undefined : body,
          signal: controller.signal,
        },
      );
    } catch {
      // A URL, Host or method that a Fetch Request cannot carry.
      return refuse(req, res, 400, "bad request");
    }
    // Loaders and actions stop once no response can be written.
    res.on("close", () => res.writableFinished || controller.abort());
    const response = await remix(request, {
      socketAddress: req.socket.remoteAddress ?? null,
      forwardedFor: req.headers["x-forwarded-for"] ?? null,
    });
    res.statusCode = response.status;
    res.statusMessage = response.statusText;
    for (const [name, value] of response.headers) res.appendHeader(name, value);
    if (response.body) await writeReadableStreamToWritable(response.body, res);
    else res.end();
  }

  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST_BIND || undefined;
  const server = http.createServer(
    {
      // A client has this long to send a whole request, then it is answered 408 and closed: slow uploads cannot
      // hold the body budget (decisions 26). Checked every second rather than Node's default 30 s.
      requestTimeout,
      headersTimeout: Math.min(10_000, requestTimeout),
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => handle(req, res).catch((err) => failed(req, res, err)),
  );
  server.listen(port, host, () => {
    if (!cluster.isWorker || process.env.CAPI_PROCESS_INDEX === "0") {
      console.log(
        `[server] listening on http://${host ?? "localhost"}:${port}${cluster.isWorker ? ` (${processes} processes)` : ""}`,
      );
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
  if (cluster.isWorker)
    process.on("disconnect", () => !stopping && process.exit(1));
}
