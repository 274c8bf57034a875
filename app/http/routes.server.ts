import type { IncomingMessage, ServerResponse } from "node:http";
import {
  BODY_LIMITS,
  headerOf,
  isWebhookPath,
  JSON_TYPE,
  logPath,
  readCapped,
  receiveBody,
  routePath,
  send,
  tooLarge,
} from "./body.server";
import { CORS, ingest } from "./ingest.server";
import {
  handleAppWebhook,
  handleOrderWebhook,
  handlePrivacyWebhook,
  handleRefundWebhook,
  handleSubscriptionWebhook,
  serveWebhook,
  type Delivery,
} from "./webhooks.server";

// The route table of the busiest URLs: the pixel endpoint and every webhook topic, each path once, with the methods
// it takes, its body cap (decisions 25), its topic and its handler. The production server (scripts/start.mjs)
// serves them from the Node request ahead of Remix; under `npm run dev` the Remix routes of the same paths
// (app/routes/webhooks.*.tsx, ingest.tsx) are adapters of this table. Both adapters check the method, read the
// body within the route's cap and take the one error path below, so that a request gets the same answer from
// either (test/e2e/devRoutes.test.ts); only the production server also holds the bodies in flight within a
// budget (decisions 26). shopify.app.toml subscribes exactly the webhook routes here (test/unit/appConfig.test.ts).

/** A request to a fast route as both adapters hand it over, its body read within the route's cap. */
export interface EdgeRequest {
  method: string;
  /** A header by lower-case name, repeated ones joined with ", " (as the Fetch API joins them). */
  header(name: string): string | null;
  body: Buffer;
  /** The client's socket address (none under `npm run dev`). */
  socketAddress: string | null;
  forwardedFor: string | string[] | null;
}

/** A fast route's answer: JSON, or nothing. */
export interface Answer {
  status: number;
  body: Record<string, unknown> | null;
  headers?: Record<string, string>;
}

interface FastRoute {
  /** As routePath() spells it: every spelling of it reaches the route. */
  path: string;
  /** The webhook topic shopify.app.toml subscribes to this path. */
  topic: string | null;
  methods: readonly string[];
  /** The answer's error to any other method (405). */
  wrongMethod: string;
  bodyLimit: number;
  /** On every answer of the route, refusals included. */
  headers: Record<string, string>;
  serve(request: EdgeRequest): Promise<Answer>;
}

/** Every /webhooks/… path, a topic's or not, takes POST only (decisions 27). */
const WEBHOOK_METHODS = {
  methods: ["POST"],
  wrongMethod: "webhooks are POST requests",
  headers: {},
};

function webhook<T extends string>(
  topic: T,
  bodyLimit: number,
  handle: (delivery: Delivery<T>) => Promise<Answer>,
) {
  const path = `/webhooks/${topic}` as const;
  return {
    ...WEBHOOK_METHODS,
    path,
    topic,
    bodyLimit,
    serve: (request: EdgeRequest) => serveWebhook(topic, request, handle),
  };
}

export const FAST_ROUTES = [
  {
    path: "/ingest",
    topic: null,
    // OPTIONS: the CORS preflight of a browser that sends more than a simple request.
    methods: ["POST", "OPTIONS"],
    wrongMethod: "use POST",
    bodyLimit: BODY_LIMITS.ingest,
    headers: CORS,
    serve: ingest,
  },
  webhook("orders/paid", BODY_LIMITS.orderWebhook, handleOrderWebhook),
  webhook("orders/create", BODY_LIMITS.orderWebhook, handleOrderWebhook),
  webhook("orders/cancelled", BODY_LIMITS.orderWebhook, handleOrderWebhook),
  webhook("orders/updated", BODY_LIMITS.orderWebhook, handleOrderWebhook),
  webhook("refunds/create", BODY_LIMITS.orderWebhook, handleRefundWebhook),
  webhook("app/uninstalled", BODY_LIMITS.webhook, handleAppWebhook),
  webhook("app/scopes_update", BODY_LIMITS.webhook, handleAppWebhook),
  webhook("shop/update", BODY_LIMITS.webhook, handleAppWebhook),
  webhook(
    "app_subscriptions/update",
    BODY_LIMITS.webhook,
    handleSubscriptionWebhook,
  ),
  webhook("customers/data_request", BODY_LIMITS.webhook, handlePrivacyWebhook),
  webhook("customers/redact", BODY_LIMITS.webhook, handlePrivacyWebhook),
  webhook("shop/redact", BODY_LIMITS.webhook, handlePrivacyWebhook),
] as const satisfies readonly FastRoute[];

export type FastPath = (typeof FAST_ROUTES)[number]["path"];

const byPath = new Map<string, FastRoute>(
  FAST_ROUTES.map((route) => [route.path, route]),
);

/** A request with a method the route does not take, answered in one log line (decisions 27). */
function wrongMethod(
  route: Pick<FastRoute, "methods" | "wrongMethod">,
  method: string,
  path: string | undefined,
): Answer {
  console.log(`[http] ${method} ${logPath(path)}: 405 ${route.wrongMethod}`);
  return {
    status: 405,
    body: { error: route.wrongMethod },
    headers: { Allow: route.methods.join(", ") },
  };
}

/**
 * The one error path of a failure of ours (the database, say): logged with its stack, answered 500 without
 * details. Shopify delivers a webhook again later; the pixel does not retry, so its event is lost.
 */
export function internalError(
  method: string | undefined,
  path: string | undefined,
  err: unknown,
): Answer {
  console.error(`[http] ${method} ${logPath(path)} failed:`, err);
  return { status: 500, body: { error: "internal error" } };
}

async function answerOf(
  route: FastRoute,
  request: EdgeRequest,
  path: string | undefined,
): Promise<Answer> {
  try {
    return await route.serve(request);
  } catch (err) {
    return internalError(request.method, path, err);
  }
}

// ------------------------------------------------------------------------------------- production (Node request)

/**
 * Serves a request to a fast route from the Node request (scripts/start.mjs, which has read nothing yet), and a
 * webhook path's other methods whatever its topic. False when the request is Remix's. Never rejects.
 */
export function serveFast(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> | false {
  const path = routePath(req.url);
  const route = byPath.get(path);
  if (route) return serveNode(route, req, res);
  if (!isWebhookPath(path) || req.method === "POST") return false;
  sendAnswer(
    req,
    res,
    WEBHOOK_METHODS,
    wrongMethod(WEBHOOK_METHODS, req.method ?? "", req.url),
  );
  return Promise.resolve();
}

async function serveNode(
  route: FastRoute,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? "";
  if (!route.methods.includes(method))
    return sendAnswer(req, res, route, wrongMethod(route, method, req.url));
  const body = await receiveBody(req, res, route.bodyLimit, route.headers);
  if (body === null) return;
  const request = {
    method,
    header: headerOf(req),
    body,
    socketAddress: req.socket.remoteAddress ?? null,
    forwardedFor: req.headers["x-forwarded-for"] ?? null,
  };
  sendAnswer(req, res, route, await answerOf(route, request, req.url));
}

/** Writes an answer with the route's headers, dropping what is left of the body (a refusal's). */
function sendAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  route: Pick<FastRoute, "headers">,
  answer: Answer,
): void {
  send(req, res, answer.status, answer.body, {
    ...route.headers,
    ...answer.headers,
  });
}

// ------------------------------------------------------------------------------------- npm run dev (Remix routes)

/** What the Remix routes get as context: the production server passes the socket; the dev server passes nothing. */
interface EdgeContext {
  socketAddress?: string | null;
  forwardedFor?: string | string[] | null;
}

const EMPTY = Buffer.alloc(0);

/** A fast route as a Remix route's action and loader: every method reaches the route's own check. */
export function remixRoute(path: FastPath) {
  const route = byPath.get(path)!;
  return ({ request, context }: { request: Request; context: unknown }) =>
    serveFetch(route, request, context as EdgeContext);
}

async function serveFetch(
  route: FastRoute,
  request: Request,
  context: EdgeContext,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (!route.methods.includes(request.method))
    return toResponse(route, wrongMethod(route, request.method, path));
  const chunks = (request.body as AsyncIterable<Uint8Array> | null)?.[
    Symbol.asyncIterator
  ]();
  const declared = Number(request.headers.get("content-length") ?? "0");
  const body = chunks
    ? await readCapped(chunks, declared, route.bodyLimit)
    : EMPTY;
  if (!body)
    return toResponse(route, {
      status: 413,
      body: { error: tooLarge(route.bodyLimit) },
    });
  const edgeRequest = {
    method: request.method,
    header: (name: string) => request.headers.get(name),
    body,
    socketAddress: context.socketAddress ?? null,
    forwardedFor: context.forwardedFor ?? null,
  };
  return toResponse(route, await answerOf(route, edgeRequest, path));
}

/** The answer with the route's headers, as sendAnswer() writes it. */
function toResponse(route: FastRoute, answer: Answer): Response {
  const headers = { ...route.headers, ...answer.headers };
  if (!answer.body)
    return new Response(null, { status: answer.status, headers });
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { ...headers, ...JSON_TYPE },
  });
}
