import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureShop } from "../../app/core/shops/shopConfig";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import { databaseKinds, eventually } from "../support/app";
import {
  connect,
  connectedShop,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { seedSession } from "../support/shopifyAdmin";
import { hostileIngestBodies } from "../support/hostile";

// Issue 4: the pixel endpoint (POST /ingest) of the production build, as public internet input. The app runs behind
// "one load balancer" (TRUST_PROXY_HOPS=1), so the client address is the right-most X-Forwarded-For entry.

const UA =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const HASH_EM = normalizeAndHash("em", "shopper@example.com")!;

// Every test posts from addresses of its own, so the per-client limit only bites where a test wants it to.
let ipSeq = 0;
const nextIp = () => {
  ipSeq++;
  return `198.51.${100 + Math.floor(ipSeq / 250)}.${(ipSeq % 250) + 1}`;
};

type Json = Record<string, unknown>;

describe.each(databaseKinds())("pixel ingest endpoint on %s", (kind) => {
  let s: Scenario;
  let key: string;

  beforeAll(async () => {
    s = await connectedShop(kind, { env: { TRUST_PROXY_HOPS: "1" } });
    key = (await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } }))
      .ingestKey;
  });
  afterAll(async () => {
    await s?.close();
  });

  function eventBody(event: Json = {}, envelope: Json = {}): Json {
    return {
      v: 1,
      kind: "event",
      shop: s.shop,
      key,
      event: {
        event_name: "PageView",
        event_id: `sh-${randomUUID()}`,
        event_time: Math.floor(Date.now() / 1000),
        event_source_url: "https://demo-store.example/products/tee?variant=1",
        referrer_url: "https://www.google.com/",
        fbp: "fb.1.1764000000000.1234567890",
        fbc: "fb.1.1764000000000.IwAR_click-Id",
        client_id: "a1f2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        consent: {
          marketingAllowed: true,
          analyticsProcessingAllowed: true,
          saleOfDataAllowed: true,
        },
        ...event,
      },
      ...envelope,
    };
  }

  // Read on every call: a restart moves the app to another port.
  const url = () => `${s.app.url}/ingest`;

  /** POSTs as a browser behind the load balancer: `ip` (default: a new client) is the address the balancer adds. */
  async function post(
    body: unknown,
    opts: { ip?: string; xff?: string; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = {
      "User-Agent": UA,
      "X-Forwarded-For": opts.xff ?? opts.ip ?? nextIp(),
      ...opts.headers,
    };
    const res = await fetch(url(), {
      method: "POST",
      headers,
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Json | null = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  const counts = async () => ({
    outbox: await s.app.db.outboxEvent.count(),
    contexts: await s.app.db.browserContext.count(),
  });

  const sentEvent = (eventId: string) =>
    eventually(
      () => s.graph.eventsReceived().find((e) => e.event_id === eventId),
      10_000,
      `${eventId} at the Graph API`,
    );

  it("stores a valid PageView with the client's IP and user agent, and sends it to Meta with them", async () => {
    const body = eventBody();
    const eventId = (body.event as Json).event_id as string;
    s.graph.setLatency(500); // so the row can be read before delivery erases the raw IP and UA
    const res = await post(body, { xff: "203.0.113.77" });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ outcome: "accepted", status: "pending" });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(
      await s.app.db.outboxEvent.findFirstOrThrow({ where: { eventId } }),
    ).toMatchObject({ clientIp: "203.0.113.77", clientUserAgent: UA });

    const event = await sentEvent(eventId);
    s.graph.setLatency(0);
    expect(event).toMatchObject({
      event_name: "PageView",
      action_source: "website",
      event_source_url: "https://demo-store.example/products/tee?variant=1",
    });
    expect(event.user_data).toMatchObject({
      client_ip_address: "203.0.113.77",
      client_user_agent: UA,
      fbp: "fb.1.1764000000000.1234567890",
      fbc: "fb.1.1764000000000.IwAR_click-Id",
    });
    const row = await eventually(() =>
      s.app.db.outboxEvent.findFirst({ where: { eventId, status: "sent" } }),
    );
    expect(row).toMatchObject({ source: "browser", eventName: "PageView" });
    // Raw network identifiers are kept apart from the payload, and erased once delivered.
    expect(JSON.stringify(row.payload)).not.toContain("203.0.113.77");
    expect(row.clientIp).toBeNull();
    expect(row.clientUserAgent).toBeNull();
  });

  it("keeps an IPv6 client address", async () => {
    const body = eventBody();
    const eventId = (body.event as Json).event_id as string;
    expect(
      (await post(body, { xff: "2a03:2880:f10c:83:face:b00c:0:25de" })).status,
    ).toBe(202);
    expect((await sentEvent(eventId)).user_data.client_ip_address).toBe(
      "2a03:2880:f10c:83:face:b00c:0:25de",
    );
  });

  it("never takes a spoofed left-most X-Forwarded-For entry: behind one proxy, the right-most is the client", async () => {
    const body = eventBody();
    const eventId = (body.event as Json).event_id as string;
    // The visitor sent "X-Forwarded-For: 1.1.1.1"; the load balancer appended the address it saw.
    expect((await post(body, { xff: "1.1.1.1, 203.0.113.91" })).status).toBe(
      202,
    );
    const event = await sentEvent(eventId);
    expect(event.user_data.client_ip_address).toBe("203.0.113.91");
    expect(JSON.stringify(event)).not.toContain("1.1.1.1");
  });

  it("sends no client IP when the address is private (a proxy that is not configured), rather than a wrong one", async () => {
    const body = eventBody();
    const eventId = (body.event as Json).event_id as string;
    expect((await post(body, { xff: "10.0.0.7" })).status).toBe(202);
    const event = await sentEvent(eventId);
    expect(event.user_data.client_ip_address).toBeUndefined();
    expect(event.user_data.client_user_agent).toBe(UA);
  });

  it("answers the CORS preflight, and accepts a text/plain POST from a sandbox with Origin: null", async () => {
    const pre = await fetch(url(), {
      method: "OPTIONS",
      headers: {
        Origin: "null",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toMatch(/POST/);

    const body = eventBody();
    const res = await post(body, {
      headers: { Origin: "null", "Content-Type": "text/plain;charset=UTF-8" },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(
      await s.app.db.outboxEvent.count({
        where: { eventId: (body.event as Json).event_id as string },
      }),
    ).toBe(1);
  });

  it("keeps one row for a repeated event_id", async () => {
    const body = eventBody();
    const eventId = (body.event as Json).event_id as string;
    const first = await post(body);
    const again = await post(body);
    expect(first.json).toEqual({ outcome: "accepted", status: "pending" });
    expect(again.status).toBe(202);
    expect(again.json).toEqual({ outcome: "duplicate" });
    await sentEvent(eventId);
    expect(await s.app.db.outboxEvent.count({ where: { eventId } })).toBe(1);
    // A later event goes out after it; the duplicate never did.
    const later = eventBody();
    await post(later);
    await sentEvent((later.event as Json).event_id as string);
    expect(
      s.graph.eventsReceived().filter((e) => e.event_id === eventId),
    ).toHaveLength(1);
  });

  it("stores an event whose consent snapshot denies marketing as suppressed, and never sends it", async () => {
    const body = eventBody({
      consent: { marketingAllowed: false, analyticsProcessingAllowed: true },
    });
    const eventId = (body.event as Json).event_id as string;
    const res = await post(body);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ outcome: "accepted", status: "suppressed" });
    const row = await s.app.db.outboxEvent.findFirstOrThrow({
      where: { eventId },
    });
    expect(row).toMatchObject({
      status: "suppressed",
      suppressReason: "no_marketing_consent",
      clientIp: null,
      clientUserAgent: null,
    });
    const sentinel = eventBody();
    await post(sentinel);
    await sentEvent((sentinel.event as Json).event_id as string);
    expect(s.graph.eventsReceived().map((e) => e.event_id)).not.toContain(
      eventId,
    );
  });

  it("answers a Purchase, a consent update and customer hashes as the pixel sends them", async () => {
    // A browser Purchase is context for the order's Purchase: it is never an event of its own.
    const token = `ck-${randomUUID()}`;
    const purchase = eventBody({
      event_name: "Purchase",
      event_id: "purchase_991122334455",
      checkout_token: token,
      order_id: "gid://shopify/OrderIdentity/991122334455",
      custom_data: { value: 50, currency: "EUR" },
      user_data: { em: [HASH_EM.toUpperCase()] },
    });
    expect((await post(purchase)).json).toEqual({ outcome: "context_stored" });
    expect(
      await s.app.db.outboxEvent.count({
        where: { eventId: "purchase_991122334455" },
      }),
    ).toBe(0);
    const ctx = await s.app.db.browserContext.findFirstOrThrow({
      where: { checkoutToken: token },
    });
    expect(ctx).toMatchObject({
      fbp: "fb.1.1764000000000.1234567890",
      orderId: "991122334455",
      clientUserAgent: UA,
    });

    // From the same browser (its clientId): only that browser may change the checkout's context (decisions 38).
    const consent = {
      v: 1,
      kind: "consent",
      shop: s.shop,
      key,
      checkout_token: token,
      client_id: (purchase.event as Json).client_id,
      consent: { marketingAllowed: false },
    };
    expect((await post(consent)).json).toEqual({ outcome: "consent_recorded" });
    expect(
      (
        await s.app.db.browserContext.findFirstOrThrow({
          where: { checkoutToken: token },
        })
      ).consent,
    ).toMatchObject({ marketingAllowed: false });
    const noCheckout = {
      v: 1,
      kind: "consent",
      shop: s.shop,
      key,
      consent: { marketingAllowed: true },
    };
    expect((await post(noCheckout)).json).toMatchObject({ outcome: "ignored" });

    // A browser's events go to Meta once it has viewed a page (decisions 39).
    expect((await post(eventBody())).status).toBe(202);
    const withHash = eventBody({
      event_name: "AddToCart",
      user_data: { em: [HASH_EM.toUpperCase()] },
      custom_data: {
        value: 25,
        currency: "EUR",
        content_ids: ["44556677001"],
        content_type: "product",
      },
    });
    expect((await post(withHash)).json).toEqual({
      outcome: "accepted",
      status: "pending",
    });
    const event = await sentEvent((withHash.event as Json).event_id as string);
    expect(event.user_data.em).toEqual([HASH_EM]);
    expect(event.custom_data).toMatchObject({
      value: 25,
      currency: "EUR",
      content_ids: ["44556677001"],
    });
  });

  it("answers a forged key 403, an unknown or uninstalled shop 404, a shop not connected 409, and stores nothing", async () => {
    const idle = `idle-${randomUUID().slice(0, 8)}.myshopify.com`;
    const idleShop = await ensureShop(s.app.db, idle);
    const gone = `gone-${randomUUID().slice(0, 8)}.myshopify.com`;
    const goneShop = await ensureShop(s.app.db, gone);
    await s.app.db.shop.update({
      where: { id: goneShop.id },
      data: {
        pixelId: "123456789012",
        tokenCiphertext: "sealed",
        tokenKeyId: "k",
        uninstalledAt: new Date(),
      },
    });
    const before = await counts();

    const forged = await post(eventBody({}, { key: `${key.slice(0, -2)}xx` }));
    expect(forged.status).toBe(403);
    expect(forged.json?.error).toMatch(/key/);
    // Another shop's real key does not open this shop either.
    expect(
      (await post(eventBody({}, { key: idleShop.ingestKey }))).status,
    ).toBe(403);
    const unknown = await post(
      eventBody({}, { shop: "no-such-shop.myshopify.com" }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error).toMatch(/unknown shop/);
    expect(
      (await post(eventBody({}, { shop: gone, key: goneShop.ingestKey })))
        .status,
    ).toBe(404);
    const idleRes = await post(
      eventBody({}, { shop: idle, key: idleShop.ingestKey }),
    );
    expect(idleRes.status).toBe(409);
    expect(idleRes.json?.error).toMatch(/not connected/);
    expect(await counts()).toEqual(before);
  });

  it("rejects malformed and wrong-typed bodies with a clear message, and stores nothing", async () => {
    const before = await counts();
    const cases: [string, string | Json, number, RegExp][] = [
      ["empty body", "", 400, /empty/],
      ["not JSON", "v=1&kind=event", 400, /not valid JSON/],
      ["a JSON array", "[1,2]", 400, /JSON object/],
      ["JSON null", "null", 400, /JSON object/],
      ["another wire version", eventBody({}, { v: 2 }), 400, /wire version/],
      [
        "an unknown kind",
        eventBody({}, { kind: "pageview" }),
        400,
        /"event" or "consent"/,
      ],
      ["an unknown envelope key", eventBody({}, { extra: 1 }), 400, /extra/],
      ["no consent", eventBody({ consent: undefined }), 400, /event\.consent/],
      [
        "event time in milliseconds",
        eventBody({ event_time: Date.now() }),
        400,
        /milliseconds/,
      ],
      [
        "a raw e-mail as em",
        eventBody({ user_data: { em: ["shopper@example.com"] } }),
        400,
        /SHA-256/,
      ],
      [
        "a javascript: URL",
        eventBody({ event_source_url: "javascript:alert(document.cookie)" }),
        400,
        /http\(s\) URL/,
      ],
      [
        "a javascript: referrer",
        eventBody({ referrer_url: "javascript:alert(1)" }),
        400,
        /referrer_url/,
      ],
      [
        "a NUL in a checkout token",
        eventBody({ checkout_token: "ck\u0000x" }),
        400,
        /control characters/,
      ],
      [
        "an unpaired surrogate in the referrer",
        eventBody({ referrer_url: "https://x.example/\ud800" }),
        400,
        /invalid Unicode/,
      ],
      [
        "a value as a string",
        eventBody({ custom_data: { value: "12.50", currency: "EUR" } }),
        400,
        /custom_data\.value/,
      ],
      [
        "a Purchase without checkout token",
        eventBody({ event_name: "Purchase", event_id: "purchase_1" }),
        422,
        /checkout_token/,
      ],
      [
        "an event older than Meta's window",
        eventBody({ event_time: Math.floor(Date.now() / 1000) - 8 * 86_400 }),
        422,
        /older than Meta accepts/,
      ],
    ];
    for (const [name, body, status, message] of cases) {
      const res = await post(body);
      expect(res.status, name).toBe(status);
      expect(res.json?.error, name).toMatch(message);
    }
    const get = await fetch(url());
    expect(get.status).toBe(405);
    expect(await counts()).toEqual(before);
  });

  it("answers 413 to an oversized body, with or without Content-Length, and stores nothing", async () => {
    const before = await counts();
    const padded = JSON.stringify(eventBody({ padding: "x".repeat(70_000) }));
    const declared = await post(padded);
    expect(declared.status).toBe(413);
    expect(declared.json?.error).toMatch(/too large/);
    // Answered without reading it, a body must still be taken off the wire, or the client's upload stalls and it
    // never gets the answer: every one of these comes back, in time.
    for (const size of [
      70_000, 300_000, 2_000_000, 5_000_000, 70_000, 2_000_000, 5_000_000,
      300_000,
    ]) {
      const res = await fetch(url(), {
        method: "POST",
        body: "z".repeat(size),
        headers: { "X-Forwarded-For": nextIp() },
        signal: AbortSignal.timeout(5_000),
      });
      expect(res.status, `${size} bytes`).toBe(413);
      expect(((await res.json()) as Json).error).toMatch(/too large/);
    }

    // A streamed body (chunked, no Content-Length) is measured as it arrives.
    const stream = (text: string, chunk = 8192) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          const bytes = new TextEncoder().encode(text);
          for (let i = 0; i < bytes.length; i += chunk)
            c.enqueue(bytes.slice(i, i + chunk));
          c.close();
        },
      });
    const streamed = async (text: string) => {
      const res = await fetch(url(), {
        method: "POST",
        body: stream(text),
        duplex: "half",
        headers: { "X-Forwarded-For": nextIp() },
      } as RequestInit);
      return {
        status: res.status,
        headers: res.headers,
        json: (await res.json()) as Json,
      };
    };
    const tooBig = await streamed(padded);
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error).toMatch(/too large/);
    expect(await counts()).toEqual(before);

    // ... and an ordinary streamed body still goes through.
    const small = eventBody();
    const ok = await streamed(JSON.stringify(small));
    expect(ok.status).toBe(202);
    expect(
      await s.app.db.outboxEvent.count({
        where: { eventId: (small.event as Json).event_id as string },
      }),
    ).toBe(1);
  });

  it("answers a few hundred generated hostile bodies 4xx with a short error, never 5xx, and stores nothing", async () => {
    const before = await counts();
    const cases = hostileIngestBodies(
      eventBody({
        event_name: "InitiateCheckout",
        checkout_token: `ck-${randomUUID()}`,
        custom_data: {
          value: 109.9,
          currency: "EUR",
          content_ids: ["44556677001", "44556677002"],
          contents: [
            { id: "44556677001", quantity: 2, item_price: 25 },
            { id: "44556677002", quantity: 1, item_price: 59.9 },
          ],
          content_type: "product",
          num_items: 3,
        },
        user_data: {
          em: [HASH_EM],
          ph: [normalizeAndHash("ph", "+33612345678")!],
        },
      }),
      0x5eed_4a11,
    );
    expect(cases.length).toBeGreaterThanOrEqual(300);

    const failures: string[] = [];
    for (let i = 0; i < cases.length; i += 16) {
      await Promise.all(
        cases.slice(i, i + 16).map(async (c) => {
          const res = await post(c.text);
          const error = res.json?.error;
          const problem =
            res.status < 400 || res.status >= 500
              ? `status ${res.status}`
              : res.status === 429
                ? "rate limited instead of validated"
                : !res.headers.get("content-type")?.includes("application/json")
                  ? "not JSON"
                  : typeof error !== "string" || error.length === 0
                    ? "no error message"
                    : error.length > 400
                      ? `error of ${error.length} characters`
                      : c.text.length > 40 && error.includes(c.text)
                        ? "error echoes the body"
                        : null;
          if (problem)
            failures.push(`${c.name}: ${problem} (${res.text.slice(0, 200)})`);
        }),
      );
    }
    expect(failures).toEqual([]);
    expect(await counts()).toEqual(before);

    // No prototype was polluted on the server: a consent without marketingAllowed is still refused...
    const bare = await post(eventBody({ consent: {} }));
    expect(bare.status).toBe(400);
    expect(bare.json?.error).toMatch(/marketingAllowed/);
    // ... and the endpoint still works.
    expect((await post(eventBody())).status).toBe(202);
  });

  it("does not start with a mistyped rate limit, rather than run with the limit off", async () => {
    await expect(s.app.restart({ INGEST_SHOP_BURST: "5k" })).rejects.toThrow(
      /Cannot start: INGEST_SHOP_BURST must be a whole number/,
    );
    await s.app.restart();
    expect((await post(eventBody())).status).toBe(202);
  });

  it("limits each client (429) without blocking other clients, and each shop (429) without blocking other shops", async () => {
    // New browsers (every post here comes from one) share a quarter of the shop's limit (decisions 41).
    const limits = {
      clientBurst: 3,
      shopBurst: 32,
      newBrowsersBurst: 8,
      ratePerSec: 1,
    };
    await s.app.restart({
      INGEST_CLIENT_RATE_PER_SEC: String(limits.ratePerSec),
      INGEST_CLIENT_BURST: String(limits.clientBurst),
      INGEST_SHOP_RATE_PER_SEC: String(limits.ratePerSec),
      INGEST_SHOP_BURST: String(limits.shopBurst),
    });
    const other = `other-${randomUUID().slice(0, 8)}.myshopify.com`;
    await seedSession(s.app.db, other);
    await connect(s.app, other, TOKEN);
    const otherKey = (
      await s.app.db.shop.findUniqueOrThrow({ where: { domain: other } })
    ).ingestKey;
    const before = await s.app.db.outboxEvent.count();
    const started = Date.now();
    // Buckets refill while the test runs: at most this many extra requests may pass.
    const refilled = () =>
      Math.ceil(((Date.now() - started) / 1000) * limits.ratePerSec);

    /** Posts (from one client, or each time from a new one) until the first 429. */
    async function untilLimited(ip?: string) {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await post(eventBody({ client_id: randomUUID() }), {
          ip: ip ?? nextIp(),
        });
        statuses.push(res.status);
        if (res.status === 429)
          return {
            accepted: statuses.filter((st) => st === 202).length,
            statuses,
            error: res.json?.error,
          };
      }
      throw new Error(`never limited: ${statuses.join(",")}`);
    }

    const clientIp = nextIp();
    const client = { ip: clientIp, ...(await untilLimited(clientIp)) };
    expect(client.statuses.slice(0, limits.clientBurst)).toEqual(
      Array(limits.clientBurst).fill(202),
    );
    expect(client.accepted).toBeLessThanOrEqual(
      limits.clientBurst + refilled(),
    );
    expect(client.error).toMatch(/too many requests from this client/);
    // A limited client is answered without its body being used; one past the size cap is refused for its size first.
    const large = await fetch(url(), {
      method: "POST",
      body: "z".repeat(60_000),
      headers: { "X-Forwarded-For": client.ip },
      signal: AbortSignal.timeout(5_000),
    });
    expect(large.status).toBe(429);
    const tooLarge = await fetch(url(), {
      method: "POST",
      body: "z".repeat(300_000),
      headers: { "X-Forwarded-For": client.ip },
      signal: AbortSignal.timeout(5_000),
    });
    expect(tooLarge.status).toBe(413);
    expect((await post(eventBody({ client_id: randomUUID() }))).status).toBe(
      202,
    );

    const shop = await untilLimited();
    const shopAccepted = client.accepted + 1 + shop.accepted;
    expect(shopAccepted).toBeGreaterThanOrEqual(limits.newBrowsersBurst);
    expect(shopAccepted).toBeLessThanOrEqual(
      limits.newBrowsersBurst + refilled(),
    );
    expect(shop.error).toMatch(/too many requests for this shop/);
    expect(
      (
        await post(
          eventBody(
            { client_id: randomUUID() },
            { shop: other, key: otherKey },
          ),
        )
      ).status,
    ).toBe(202);

    expect(await s.app.db.outboxEvent.count()).toBe(before + shopAccepted + 1);
  });

  it("never logged a token or a 500", () => {
    const logs = s.app.logs.join("\n");
    expect(logs).not.toContain(TOKEN);
    // What a request that failed inside the app leaves in the log.
    expect(logs).not.toMatch(
      /Unexpected Server Error|PrismaClient\w*Error|DriverAdapterError/,
    );
  });
});
