import { outbox } from "../db.server";
import {
  parseIngestBody,
  intakeBrowserEvent,
  intakeConsent,
  clientIp,
} from "../core/intake";
import { isConnected, isInsideWindow } from "../core/outbox";
import { clientKey, RateLimit, RecentKeys } from "./rateLimit";
import { findShop } from "./shopCache.server";
import { redis } from "../redis.server";
import { config, intEnv, wakeDispatcher } from "../runtime.server";
import type { Answer, EdgeRequest } from "./routes.server";

// The web pixel's endpoint. Public input from every storefront: size-capped, validated, rate-limited, and never
// answered 500 for a bad request. The pixel posts text/plain (a CORS simple request, no preflight) and does not
// read the answer; the answers are for people and tests. It runs for every storefront event: a fast route
// (routes.server.ts), which checks the method and reads the body within its cap before ingest() sees it.

/** On every answer of the endpoint (routes.server.ts). */
export const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type",
  "Access-Control-Max-Age": "86400",
};

type Limits = Record<
  "perAddress" | "perBrowser" | "perShop" | "perShopNewBrowsers",
  RateLimit
>;
let limits: Limits | undefined;

/**
 * The rate limits, read from INGEST_* on first use; the production server reads them as it starts, so that a
 * mistyped one stops it there (validated like every other setting: it would otherwise read as NaN and switch the
 * limit off). Per client first (its address, then its browser), then per shop; the shop's limit protects the app,
 * and browsers this process has not seen on a page view share a quarter of it apart, so that a flood of new
 * identities from many addresses cannot starve the shoppers already browsing (decisions 41). With REDIS_URL the
 * counts are shared by every web node (decisions 96).
 */
export function ingestLimits(): Limits {
  if (limits) return limits;
  const clientRate = intEnv("INGEST_CLIENT_RATE_PER_SEC", 20, 1);
  const clientBurst = intEnv("INGEST_CLIENT_BURST", 60, 1);
  const shopRate = intEnv("INGEST_SHOP_RATE_PER_SEC", 2000, 1);
  const shopBurst = intEnv("INGEST_SHOP_BURST", 5000, 1);
  const shared = redis();
  limits = {
    perAddress: new RateLimit("address", clientRate, clientBurst, shared),
    perBrowser: new RateLimit("browser", clientRate, clientBurst, shared),
    perShop: new RateLimit("shop", shopRate, shopBurst, shared),
    perShopNewBrowsers: new RateLimit(
      "shop-new",
      Math.max(1, Math.floor(shopRate / 4)),
      Math.max(1, Math.floor(shopBurst / 4)),
      shared,
    ),
  };
  return limits;
}

/** shop id + clientId of the browsers whose PageView this process accepted. */
const seenBrowsers = new RecentKeys();

/** A POST (or the CORS preflight) to /ingest, its body read within the route's cap. */
export async function ingest(request: EdgeRequest): Promise<Answer> {
  const reply = (status: number, body: Record<string, unknown>): Answer => ({
    status,
    body,
  });
  if (request.method === "OPTIONS") return { status: 204, body: null };
  const { perAddress, perBrowser, perShop, perShopNewBrowsers } =
    ingestLimits();

  const ip = clientIp(
    request.socketAddress,
    request.forwardedFor,
    config().trustProxyHops,
  );
  if (
    !(await perAddress.take(
      ip ? clientKey(ip) : (request.socketAddress ?? "unknown"),
    ))
  ) {
    return reply(429, { error: "too many requests from this client" });
  }

  const parsed = parseIngestBody(request.body.toString("utf8"));
  if (!parsed.ok) return reply(400, { error: parsed.error });
  const body = parsed.body;

  const known = await findShop(body.shop);
  if (!known || known.shop.uninstalledAt)
    return reply(404, { error: "unknown shop" });
  const { shop, settings } = known;
  if (shop.ingestKey !== body.key)
    return reply(403, { error: "the key does not match this shop" });
  if (!isConnected(shop))
    return reply(409, { error: "this shop is not connected to Meta" });
  const clientId =
    body.kind === "event" ? body.event.client_id : body.client_id;
  const browser = clientId ? `${shop.id}:${clientId}` : null;
  if (browser && !(await perBrowser.take(browser)))
    return reply(429, { error: "too many requests from this browser" });
  if (
    !(await (
      browser && seenBrowsers.has(browser) ? perShop : perShopNewBrowsers
    ).take(shop.id))
  ) {
    return reply(429, { error: "too many requests for this shop" });
  }

  const target = {
    outbox: outbox(),
    shopId: shop.id,
    settings,
    largestOrders: known.largestOrders,
    salesCountry: shop.salesCountry,
  };
  const userAgent = request.header("user-agent")?.slice(0, 512) || null;
  if (body.kind === "consent") {
    if (!body.checkout_token)
      return reply(202, {
        outcome: "ignored",
        reason: "no checkout to attach the consent to",
      });
    await intakeConsent(target, {
      checkoutToken: body.checkout_token,
      clientId: body.client_id ?? null,
      consent: body.consent,
    });
    return reply(202, { outcome: "consent_recorded" });
  }
  const event = body.event;
  if (event.event_name === "Purchase" && !event.checkout_token) {
    return reply(422, {
      error:
        "event.checkout_token: a Purchase needs the checkout token to join its order",
    });
  }
  // Browser clocks drift: an event is never in the future. One older than Meta's window could never be sent.
  const nowSec = Math.floor(Date.now() / 1000);
  if (
    !isInsideWindow({
      actionSource: "website",
      eventTime: new Date(event.event_time * 1000),
    })
  ) {
    return reply(422, {
      error: "event.event_time: older than Meta accepts (7 days)",
    });
  }
  const result = await intakeBrowserEvent(
    target,
    { ...event, event_time: Math.min(event.event_time, nowSec) },
    { clientIp: ip, userAgent },
  );
  const pageViewStored =
    event.event_name === "PageView" &&
    (result.outcome === "accepted" || result.outcome === "duplicate");
  if (browser && pageViewStored) seenBrowsers.add(browser);
  // A merge can release a held Purchase: it goes at once, not at the next poll.
  if (
    (result.outcome === "accepted" && result.status === "pending") ||
    result.outcome === "context_merged"
  )
    wakeDispatcher();
  return reply(202, result);
}
