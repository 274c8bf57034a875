import type { IncomingMessage, ServerResponse } from "node:http";
import prisma, { sqlStore } from "./db.server";
import { MAX_INGEST_BODY_CHARS, parseIngestBody } from "./capi/browserEvent";
import { intakeBrowserEvent, intakeConsent } from "./capi/browserIntake";
import { clientIp } from "./capi/clientIp";
import { isConnected, isInsideWindow } from "./capi/outbox";
import { RateLimiter } from "./capi/rateLimit";
import { parseSettings, type ShopSettings } from "./capi/settings";
import type { IntakeShop } from "./capi/sqlStore";
import { config, intEnv, wakeDispatcher } from "./runtime.server";
import { discardBody, headerOf, readCapped } from "./httpBody.server";

// The web pixel's endpoint. Public input from every storefront: size-capped, validated, rate-limited, and never
// answered 500 for a bad request. The pixel posts text/plain (a CORS simple request, no preflight) and does not
// read the answer; the answers are for people and tests. It runs for every storefront event, so the production
// server (scripts/start.mjs) serves it from the Node request ahead of Remix; the Remix route serves the same
// handler under `npm run dev`.

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type",
  "Access-Control-Max-Age": "86400",
};

// Validated like every other setting: a mistyped limit would otherwise read as NaN and switch the limit off.
const perClient = new RateLimiter(intEnv("INGEST_CLIENT_RATE_PER_SEC", 20, 1), intEnv("INGEST_CLIENT_BURST", 60, 1));
const perShop = new RateLimiter(intEnv("INGEST_SHOP_RATE_PER_SEC", 2000, 1), intEnv("INGEST_SHOP_BURST", 5000, 1));

// Shop lookups (and their parsed settings) are cached briefly: the endpoint sees every page view of every storefront.
const SHOP_CACHE_MS = 5_000;
type KnownShop = { shop: IntakeShop; settings: ShopSettings } | null;
const shopCache = new Map<string, { known: KnownShop; at: number }>();
async function findShop(domain: string): Promise<KnownShop> {
  const hit = shopCache.get(domain);
  if (hit && Date.now() - hit.at < SHOP_CACHE_MS) return hit.known;
  const shop = await sqlStore().findShop(domain);
  const known = shop && { shop, settings: parseSettings(shop.settings) };
  if (shopCache.size > 10_000) shopCache.clear();
  shopCache.set(domain, { known, at: Date.now() });
  return known;
}

/** The request as both servers hand it over: a Fetch Request (Remix) or a Node request (production). */
export interface IngestRequest {
  method: string;
  header(name: string): string | null;
  /** The body's chunks; null when there is none. */
  body: AsyncIterable<Uint8Array> | null;
  socketAddress: string | null;
  forwardedFor: string | string[] | null;
}

export interface IngestAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

export async function ingest(request: IngestRequest): Promise<IngestAnswer> {
  const reply = (status: number, body: Record<string, unknown>): IngestAnswer => ({ status, body });
  if (request.method === "OPTIONS") return { status: 204, body: null };
  const chunks = request.body?.[Symbol.asyncIterator]() ?? null;
  if (request.method !== "POST") {
    if (chunks) discardBody(chunks);
    return reply(405, { error: "use POST" });
  }

  const ip = clientIp(request.socketAddress, request.forwardedFor, config.trustProxyHops);
  const clientKey = ip ?? request.socketAddress ?? "unknown";
  if (!perClient.take(clientKey)) {
    if (chunks) discardBody(chunks);
    return reply(429, { error: "too many requests from this client" });
  }

  const raw = chunks ? await readCapped(chunks, Number(request.header("content-length") ?? "0"), MAX_INGEST_BODY_CHARS) : Buffer.alloc(0);
  if (raw === null) return reply(413, { error: `body too large (max ${MAX_INGEST_BODY_CHARS} bytes)` });
  const text = raw.toString("utf8");
  const parsed = parseIngestBody(text);
  if (!parsed.ok) return reply(400, { error: parsed.error });
  const body = parsed.body;

  const known = await findShop(body.shop);
  if (!known || known.shop.uninstalledAt) return reply(404, { error: "unknown shop" });
  const { shop, settings } = known;
  if (shop.ingestKey !== body.key) return reply(403, { error: "the key does not match this shop" });
  if (!isConnected(shop)) return reply(409, { error: "this shop is not connected to Meta" });
  if (!perShop.take(shop.id)) return reply(429, { error: "too many requests for this shop" });

  const target = { db: prisma, store: sqlStore(), shopId: shop.id, settings };
  const userAgent = request.header("user-agent")?.slice(0, 512) || null;
  if (body.kind === "consent") {
    if (!body.checkout_token) return reply(202, { outcome: "ignored", reason: "no checkout to attach the consent to" });
    await intakeConsent(target, { checkoutToken: body.checkout_token, consent: body.consent });
    return reply(202, { outcome: "consent_recorded" });
  }
  const event = body.event;
  if (event.event_name === "Purchase" && !event.checkout_token) {
    return reply(422, { error: "event.checkout_token: a Purchase needs the checkout token to join its order" });
  }
  // Browser clocks drift: an event is never in the future. One older than Meta's window could never be sent.
  const nowSec = Math.floor(Date.now() / 1000);
  if (!isInsideWindow({ actionSource: "website", eventTime: new Date(event.event_time * 1000) })) {
    return reply(422, { error: "event.event_time: older than Meta accepts (7 days)" });
  }
  const result = await intakeBrowserEvent(target, { ...event, event_time: Math.min(event.event_time, nowSec) }, { clientIp: ip, userAgent });
  // A merge can release a held Purchase: it goes at once, not at the next poll.
  if ((result.outcome === "accepted" && result.status === "pending") || result.outcome === "context_merged") wakeDispatcher();
  return reply(202, result);
}

export interface IngestContext {
  socketAddress?: string | null;
  forwardedFor?: string | string[] | null;
}

/** The Remix route's adapter. */
export async function handleIngest(request: Request, context: IngestContext): Promise<Response> {
  const answer = await ingest({
    method: request.method,
    header: (name) => request.headers.get(name),
    body: request.body as AsyncIterable<Uint8Array> | null,
    socketAddress: context.socketAddress ?? null,
    forwardedFor: context.forwardedFor ?? null,
  });
  return answer.body ? Response.json(answer.body, { status: answer.status, headers: CORS }) : new Response(null, { status: answer.status, headers: CORS });
}

/** The production server's adapter: the Node request and response, without Express or Remix. Never rejects. */
export async function serveIngest(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let answer: IngestAnswer;
  try {
    answer = await ingest({
    method: req.method ?? "GET",
    header: headerOf(req),
    body: req,
    socketAddress: req.socket.remoteAddress ?? null,
    forwardedFor: req.headers["x-forwarded-for"] ?? null,
    });
  } catch (err) {
    // The database failed (the request itself was fine): the pixel does not retry, so the event is lost; say so.
    console.error(`[ingest] failed: ${(err as Error).message}`);
    answer = { status: 500, body: { error: "internal error" } };
  }
  if (res.headersSent) return;
  if (!answer.body) res.writeHead(answer.status, CORS).end();
  else res.writeHead(answer.status, { ...CORS, "Content-Type": "application/json; charset=utf-8" }).end(JSON.stringify(answer.body));
}
