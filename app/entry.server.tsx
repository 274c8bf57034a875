import { PassThrough } from "stream";
import { renderToPipeableStream } from "react-dom/server";
import { RemixServer } from "@remix-run/react";
import { createReadableStreamFromReadable, type EntryContext } from "@remix-run/node";
import { isbot } from "isbot";
import { addDocumentResponseHeaders } from "./shopify.server";
import { keyRing, startInProcessDispatcher } from "./runtime.server";
import { checkpointInBackground } from "./db.server";

export const streamTimeout = 5000;

// For scripts/start.mjs, which serves order webhooks and the pixel endpoint ahead of Remix.
export { orderWebhookRoutes, serveOrderWebhook } from "./webhooks.server";
export { serveIngest } from "./ingest.server";

/**
 * Called once by the production server (scripts/start.mjs) before it listens: checks the token key (production
 * refuses to start without one), moves SQLite's checkpoints off the event loop, and starts the in-process
 * dispatcher unless DISPATCHER_IN_PROCESS=false.
 */
export async function onServerStart() {
  keyRing();
  const stopCheckpoints = checkpointInBackground();
  const dispatcher = startInProcessDispatcher();
  return {
    stop: async () => {
      await dispatcher?.stop(10_000);
      await stopCheckpoints();
    },
  };
}

// `npm run dev` has no production server: start the dispatcher with the first server module load instead.
if (process.env.NODE_ENV === "development") void onServerStart();

export default async function handleRequest(
  request: Request,
  responseStatusCode: number,
  responseHeaders: Headers,
  remixContext: EntryContext,
) {
  addDocumentResponseHeaders(request, responseHeaders);
  const userAgent = request.headers.get("user-agent");
  const callbackName = isbot(userAgent ?? "") ? "onAllReady" : "onShellReady";

  return new Promise((resolve, reject) => {
    const { pipe, abort } = renderToPipeableStream(<RemixServer context={remixContext} url={request.url} />, {
      [callbackName]: () => {
        const body = new PassThrough();
        const stream = createReadableStreamFromReadable(body);
        responseHeaders.set("Content-Type", "text/html");
        resolve(new Response(stream, { headers: responseHeaders, status: responseStatusCode }));
        pipe(body);
      },
      onShellError(error) {
        reject(error);
      },
      onError(error) {
        responseStatusCode = 500;
        console.error(error);
      },
    });
    setTimeout(abort, streamTimeout + 1000);
  });
}
