// Production server: the Remix build behind Express, as remix-serve does, plus what remix-serve lacks here:
// the socket address for the pixel endpoint's client IP, a graceful SIGTERM for the in-process dispatcher, and one
// process per core (WEB_CONCURRENCY): a request spends most of its time in framework and ORM CPU, so one Node
// process would leave the other cores idle.
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

const processes = Number(process.env.WEB_CONCURRENCY || os.availableParallelism());
if (!Number.isInteger(processes) || processes < 1) {
  console.error(`Cannot start: WEB_CONCURRENCY must be a whole number ≥ 1 (got "${process.env.WEB_CONCURRENCY}").`);
  process.exit(1);
}

if (cluster.isPrimary && processes > 1) await primary();
else await serve();

async function primary() {
  // The live data is small, but V8 grows its heap with the allocation rate long before it collects (one
  // 1,000-event request to Meta is ~2 MB of JSON); a limit keeps each process's memory bounded.
  const execArgv = /max-old-space-size/.test(process.env.NODE_OPTIONS ?? "") ? [] : ["--max-old-space-size=256"];
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...execArgv] });
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
  // Order webhooks come at order rates: served from the raw body, ahead of the static files (a file lookup per
  // request) and without the Fetch Request and router work Remix does per request (the Remix routes serve the same
  // handler under `npm run dev`).
  const { handleOrderWebhookRoute, orderWebhookRoutes, serveIngest } = build.entry.module;
  app.post(Object.keys(orderWebhookRoutes), express.raw({ type: () => true, limit: "25mb" }), (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    handleOrderWebhookRoute(req.path, { method: req.method, headers: req.headers, body }).then(
      // Not res.json(): its ETag (a hash of every answer) means nothing to Shopify.
      (answer) => res.writeHead(answer.status, { "Content-Type": "application/json; charset=utf-8" }).end(JSON.stringify(answer.body)),
      next,
    );
  });
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
  // The pixel's endpoint, at page-view rates, does not go through Express either.
  const server = http.createServer((req, res) => {
    if (req.url === "/ingest" || req.url?.startsWith("/ingest?")) void serveIngest(req, res);
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
