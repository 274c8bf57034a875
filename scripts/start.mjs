// Production server: the Remix build behind Express, as remix-serve does, plus what remix-serve lacks here:
// the socket address for the pixel endpoint's client IP, and a graceful SIGTERM for the in-process dispatcher.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import express from "express";
import { createRequestHandler } from "@remix-run/express";

process.env.NODE_ENV ??= "production";
const buildPath = path.resolve(process.env.BUILD_PATH ?? "build/server/index.js");
if (!existsSync(buildPath)) {
  console.error(`Cannot start: no production build at ${buildPath}. Run \`npm run build\` first.`);
  process.exit(1);
}
const build = await import(pathToFileURL(buildPath).href);
const entry = build.entry.module;

let background;
try {
  background = await entry.onServerStart();
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
const server = app.listen(port, host, () => {
  console.log(`[server] listening on http://${host ?? "localhost"}:${port}`);
});
server.keepAliveTimeout = 65_000;

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`[server] ${signal}: closing`);
  server.close();
  server.closeIdleConnections?.();
  await background?.stop?.();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
