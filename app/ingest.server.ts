import prisma from "./db.server";
import type { Shop } from "./capi/db";
import { MAX_INGEST_BODY_CHARS, parseIngestBody } from "./capi/browserEvent";
import { intakeBrowserEvent, intakeConsent } from "./capi/browserIntake";
import { clientIp } from "./capi/clientIp";
import { isConnected, isInsideWindow } from "./capi/outbox";
import { RateLimiter } from "./capi/rateLimit";
import { config, intEnv, wakeDispatcher } from "./runtime.server";

// The web pixel's endpoint. Public input from every storefront: size-capped, validated, rate-limited, and never
// answered 500 for a bad request. The pixel posts text/plain (a CORS simple request, no preflight) and does not
// read the answer; the answers are for people and tests.

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type",
  "Access-Control-Max-Age": "86400",
};

function reply(status: number, body: Record<string, unknown>): Response {
  return Response.json(body, { status, headers: CORS });
}

// Validated like every other setting: a mistyped limit would otherwise read as NaN and switch the limit off.
const perClient = new RateLimiter(intEnv("INGEST_CLIENT_RATE_PER_SEC", 20, 1), intEnv("INGEST_CLIENT_BURST", 60, 1));
const perShop = new RateLimiter(intEnv("INGEST_SHOP_RATE_PER_SEC", 2000, 1), intEnv("INGEST_SHOP_BURST", 5000, 1));

// Shop lookups are cached briefly: the endpoint sees every page view of every storefront.
const SHOP_CACHE_MS = 5_000;
const shopCache = new Map<string, { shop: Shop | null; at: number }>();
async function findShop(domain: string): Promise<Shop | null> {
  const hit = shopCache.get(domain);
  if (hit && Date.now() - hit.at < SHOP_CACHE_MS) return hit.shop;
  const shop = await prisma.shop.findUnique({ where: { domain } });
  if (shopCache.size > 10_000) shopCache.clear();
  shopCache.set(domain, { shop, at: Date.now() });
  return shop;
}

/**
 * A body the endpoint answers without using is still read to its end, and dropped, in the background: left unread,
 * the client's upload stalls and it never sees the answer; cancelled, the connection is reset before it does.
 * Past this many bytes the body is cut off (reset): only an abusive client sends that much to a pixel endpoint.
 */
const MAX_DISCARD_BYTES = 8 * 1024 * 1024;

function discardBody(reader: ReadableStreamDefaultReader<Uint8Array>, alreadyRead = 0): void {
  void (async () => {
    let size = alreadyRead;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
      if (size > MAX_DISCARD_BYTES) return reader.cancel();
    }
  })().catch(() => undefined); // the client went away
}

/** Reads at most `limit` bytes; null when the body is larger (by its Content-Length, or as it streams in). */
async function readCapped(request: Request, limit: number): Promise<string | null> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  if (Number(request.headers.get("content-length") ?? "0") > limit) {
    discardBody(reader);
    return null;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      discardBody(reader, size);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export interface IngestContext {
  socketAddress?: string | null;
  forwardedFor?: string | string[] | null;
}

export async function handleIngest(request: Request, context: IngestContext): Promise<Response> {
  if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  if (request.method !== "POST") return reply(405, { error: "use POST" });

  const ip = clientIp(context.socketAddress ?? null, context.forwardedFor ?? null, config.trustProxyHops);
  const clientKey = ip ?? context.socketAddress ?? "unknown";
  if (!perClient.take(clientKey)) {
    if (request.body) discardBody(request.body.getReader());
    return reply(429, { error: "too many requests from this client" });
  }

  const text = await readCapped(request, MAX_INGEST_BODY_CHARS);
  if (text === null) return reply(413, { error: `body too large (max ${MAX_INGEST_BODY_CHARS} bytes)` });
  const parsed = parseIngestBody(text);
  if (!parsed.ok) return reply(400, { error: parsed.error });
  const body = parsed.body;

  const shop = await findShop(body.shop);
  if (!shop || shop.uninstalledAt) return reply(404, { error: "unknown shop" });
  if (shop.ingestKey !== body.key) return reply(403, { error: "the key does not match this shop" });
  if (!isConnected(shop)) return reply(409, { error: "this shop is not connected to Meta" });
  if (!perShop.take(shop.id)) return reply(429, { error: "too many requests for this shop" });

  const userAgent = request.headers.get("user-agent")?.slice(0, 512) ?? null;
  if (body.kind === "consent") {
    if (!body.checkout_token) return reply(202, { outcome: "ignored", reason: "no checkout to attach the consent to" });
    await intakeConsent(prisma, shop, { checkoutToken: body.checkout_token, consent: body.consent });
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
  const result = await intakeBrowserEvent(prisma, shop, { ...event, event_time: Math.min(event.event_time, nowSec) }, { clientIp: ip, userAgent });
  // A merge can release a held Purchase: it goes at once, not at the next poll.
  if ((result.outcome === "accepted" && result.status === "pending") || result.outcome === "context_merged") wakeDispatcher();
  return reply(202, result);
}
