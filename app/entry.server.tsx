import { PassThrough } from "stream";
import { renderToPipeableStream } from "react-dom/server";
import { isRouteErrorResponse, RemixServer } from "@remix-run/react";
import {
  createReadableStreamFromReadable,
  type EntryContext,
} from "@remix-run/node";
import { isbot } from "isbot";
import { addDocumentResponseHeaders } from "./shopify.server";
import {
  config,
  keyRing,
  startDatasetChecks,
  startInProcessDispatcher,
} from "./runtime.server";
import { checkpointInBackground } from "./db.server";
import { startReconciler } from "./reconcile.server";
import { logPath } from "./http/body.server";
import { ingestLimits } from "./http/ingest.server";
import { POLARIS_CSS } from "./polarisCss.server";
import { PolarisCss } from "./components/PolarisStyles";

export const streamTimeout = 5000;

// For scripts/start.mjs, which serves the fast routes (the webhooks and the pixel endpoint) ahead of Remix and reads
// every other request's body before Remix does.
export { serveFast, internalError } from "./http/routes.server";
export { BODY_LIMITS, receiveBody, refuse, send } from "./http/body.server";

/**
 * Remix's errors: a request no route serves (no route, no loader, a method it does not take) is the client's
 * mistake or a probe, logged in one line without its query (which may carry tokens); real failures keep their
 * stack (decisions 27).
 */
export function handleError(error: unknown, { request }: { request: Request }) {
  if (request.signal.aborted) return;
  if (isRouteErrorResponse(error) && error.status < 500) {
    const path = logPath(new URL(request.url).pathname);
    console.log(
      `[http] ${request.method} ${path}: ${error.status} ${error.statusText}`,
    );
    return;
  }
  console.error(error);
}

/**
 * Called once by the production server (scripts/start.mjs) before it listens: reads the configuration, the token key
 * and the pixel endpoint's rate limits (a bad setting or, in production, a missing key stops it with its message),
 * makes the database client, moves SQLite's checkpoints off the event loop, and starts the in-process dispatcher
 * unless DISPATCHER_IN_PROCESS=false, with reconciliation beside it.
 */
export async function onServerStart() {
  config();
  keyRing();
  ingestLimits();
  const stopCheckpoints = checkpointInBackground();
  const dispatcher = startInProcessDispatcher();
  // Reconciliation runs where the dispatcher does: never in a web request (decisions 76).
  const reconciler = dispatcher ? startReconciler() : null;
  // The daily dataset checks run there too: in the web process, or in `npm run worker` (decisions 126).
  const stopChecks = dispatcher ? startDatasetChecks() : null;
  return {
    stop: async () => {
      stopChecks?.();
      await reconciler?.stop();
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
    const { pipe, abort } = renderToPipeableStream(
      <PolarisCss.Provider value={POLARIS_CSS}>
        <RemixServer context={remixContext} url={request.url} />
      </PolarisCss.Provider>,
      {
        [callbackName]: () => {
          const body = new PassThrough();
          const stream = createReadableStreamFromReadable(body);
          responseHeaders.set("Content-Type", "text/html");
          resolve(
            new Response(stream, {
              headers: responseHeaders,
              status: responseStatusCode,
            }),
          );
          pipe(body);
        },
        onShellError(error) {
          reject(error);
        },
        onError(error) {
          responseStatusCode = 500;
          console.error(error);
        },
      },
    );
    setTimeout(abort, streamTimeout + 1000);
  });
}
