// `npm run dev`'s request handling without Vite's compiler: the production build, every request served by Remix
// through the Remix Vite plugin's own Node adapter and the dev server's empty load context (@remix-run/dev
// 2.17, dist/vite/plugin.js). So no fast front, no caps or budget of scripts/start.mjs: the webhooks and /ingest
// reach their Remix routes. test/e2e/devRoutes.test.ts compares its answers with the production server's.
import http from "node:http";
import { pathToFileURL } from "node:url";
import { createRequestHandler } from "@remix-run/node";
import {
  fromNodeRequest,
  toNodeRequest,
} from "@remix-run/dev/dist/vite/node-adapter.js";

const build = await import(pathToFileURL(process.env.BUILD_PATH).href);
const handler = createRequestHandler(build, "development");
const server = http.createServer(async (req, res) => {
  // Set by Connect, the dev server's middleware stack.
  req.originalUrl = req.url;
  try {
    await toNodeRequest(await handler(fromNodeRequest(req, res), {}), res);
  } catch (err) {
    // Vite's error middleware.
    console.error(err);
    if (!res.headersSent) res.writeHead(500).end();
  }
});
server.listen(Number(process.env.PORT), process.env.HOST_BIND);
process.on("SIGTERM", () => process.exit(0));
