import prisma from "./db.server";
import type { Shop } from "./capi/db";
import { MAX_INGEST_BODY_CHARS, parseIngestBody } from "./capi/browserEvent";
import { intakeBrowserEvent, intakeConsent } from "./capi/browserIntake";
import { clientIp } from "./capi/clientIp";
import { isConnected } from "./capi/outbox";
import { RateLimiter } from "./capi/rateLimit";
import { config, wakeDispatcher } from "./runtime.server";

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

const perClient = new RateLimiter(Number(process.env.INGEST_CLIENT_RATE_PER_SEC ?? 20), Number(process.env.INGEST_CLIENT_BURST ?? 60));
const perShop = new RateLimiter(Number(process.env.INGEST_SHOP_RATE_PER_SEC ?? 2000), Number(process.env.INGEST_SHOP_BURST ?? 5000));

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

/** Reads at most `limit` characters; null when the body is larger. */
async function readCapped(request: Request, limit: number): Promise<string | null> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
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
  if (!perClient.take(clientKey)) return reply(429, { error: "too many requests from this client" });

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
  // Browser clocks drift: an event is never in the future.
  const nowSec = Math.floor(Date.now() / 1000);
  const result = await intakeBrowserEvent(prisma, shop, { ...event, event_time: Math.min(event.event_time, nowSec) }, { clientIp: ip, userAgent });
  if (result.outcome === "accepted" && result.status === "pending") wakeDispatcher();
  return reply(202, result);
}
