import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiVersion, LogSeverity, shopifyApi } from "@shopify/shopify-api";
import "@shopify/shopify-api/adapters/web-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendWebhook, signBody } from "../support/shopifyWebhook";
import { verifyWebhook } from "../../app/http/webhookSignature.server";

const SECRET = "shpss_test_secret";
const BODY =
  '{"id":820982911946154508,"email":"jon@example.com","total_price":"199.00"}';
// Computed outside this code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
const BODY_HMAC = "PzudfBZpUMDsDkrqMxVhwZXRqoXnHkfw1BjKtyEit/I=";

describe("signBody", () => {
  it("is the base64 HMAC-SHA256 of the raw bytes", () => {
    expect(signBody(BODY, SECRET)).toBe(BODY_HMAC);
    expect(signBody(Buffer.from(BODY, "utf8"), SECRET)).toBe(BODY_HMAC);
    expect(signBody(BODY, SECRET)).toBe(
      createHmac("sha256", SECRET).update(Buffer.from(BODY)).digest("base64"),
    );
    expect(signBody("hello", "secret")).toBe(
      "iKqz7ejTrflNJquQ07r9SiCDBww7zOnAFO4EpEOEfAs=",
    );
  });

  it("signs bytes, so re-serialised JSON would not verify", () => {
    expect(signBody(JSON.stringify(JSON.parse(BODY)), SECRET)).not.toBe(
      BODY_HMAC,
    );
  });
});

describe("sendWebhook", () => {
  let server: Server;
  let base: string;
  let last: {
    method?: string;
    url?: string;
    headers: IncomingHttpHeaders;
    body: string;
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        last = {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        };
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("posts the raw body with every Shopify header", async () => {
    const res = await sendWebhook(`${base}/`, {
      topic: "orders/paid",
      shop: "demo.myshopify.com",
      body: BODY,
      secret: SECRET,
    });
    expect(res.status).toBe(200);
    expect(last.method).toBe("POST");
    expect(last.url).toBe("/webhooks/orders/paid");
    expect(last.body).toBe(BODY);
    expect(last.headers).toMatchObject({
      "content-type": "application/json",
      "x-shopify-topic": "orders/paid",
      "x-shopify-hmac-sha256": BODY_HMAC,
      "x-shopify-shop-domain": "demo.myshopify.com",
      "x-shopify-api-version": "2025-10",
    });
    expect(last.headers["x-shopify-webhook-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(last.headers["x-shopify-event-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      Date.parse(String(last.headers["x-shopify-triggered-at"])),
    ).not.toBeNaN();
  });

  it("serialises objects and signs exactly what it sent", async () => {
    await sendWebhook(base, {
      topic: "customers/redact",
      shop: "s.myshopify.com",
      body: { shop_domain: "s.myshopify.com", customer: { id: 1 } },
      secret: SECRET,
    });
    expect(last.url).toBe("/webhooks/customers/redact");
    expect(JSON.parse(last.body)).toEqual({
      shop_domain: "s.myshopify.com",
      customer: { id: 1 },
    });
    expect(last.headers["x-shopify-hmac-sha256"]).toBe(
      signBody(last.body, SECRET),
    );
  });

  it("uses given ids and version, and routes app/uninstalled", async () => {
    await sendWebhook(base, {
      topic: "app/uninstalled",
      shop: "s.myshopify.com",
      body: {},
      secret: SECRET,
      webhookId: "wh-1",
      eventId: "ev-1",
      apiVersion: "2026-01",
    });
    expect(last.url).toBe("/webhooks/app/uninstalled");
    expect(last.headers).toMatchObject({
      "x-shopify-webhook-id": "wh-1",
      "x-shopify-event-id": "ev-1",
      "x-shopify-api-version": "2026-01",
    });
  });

  it("badHmac sends a well-formed signature that does not verify", async () => {
    await sendWebhook(base, {
      topic: "orders/paid",
      shop: "s.myshopify.com",
      body: BODY,
      secret: SECRET,
      badHmac: true,
    });
    const sent = String(last.headers["x-shopify-hmac-sha256"]);
    expect(sent).not.toBe(BODY_HMAC);
    expect(Buffer.from(sent, "base64")).toHaveLength(32);
  });

  it("omitHeaders leaves headers out, in any case", async () => {
    await sendWebhook(base, {
      topic: "orders/paid",
      shop: "s.myshopify.com",
      body: BODY,
      secret: SECRET,
      omitHeaders: ["x-shopify-hmac-sha256", "X-Shopify-Webhook-Id"],
    });
    expect(last.headers).not.toHaveProperty("x-shopify-hmac-sha256");
    expect(last.headers).not.toHaveProperty("x-shopify-webhook-id");
    expect(last.headers).toHaveProperty("x-shopify-topic", "orders/paid");
  });
});

describe("verifyWebhook (the app's check of every topic)", () => {
  const headers: Record<string, string> = {
    "x-shopify-hmac-sha256": BODY_HMAC,
    "x-shopify-shop-domain": "maple-goods.myshopify.com",
    "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    "x-shopify-topic": "orders/paid",
    "x-shopify-api-version": "2025-10",
  };
  const request = (
    over: {
      body?: string | Buffer;
      headers?: Record<string, string | undefined>;
    } = {},
  ) => {
    const h = { ...headers, ...over.headers };
    return {
      header: (name: string) => h[name],
      body: Buffer.from(over.body ?? BODY),
    };
  };

  it("accepts Shopify's signature of the raw bytes and returns the signed headers", () => {
    expect(verifyWebhook(request(), SECRET)).toEqual({
      ok: true,
      webhook: {
        shop: "maple-goods.myshopify.com",
        webhookId: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        topic: "orders/paid",
        apiVersion: "2025-10",
      },
    });
  });

  it("answers 401 to a changed body, another secret or a truncated signature", () => {
    expect(
      verifyWebhook(request({ body: BODY.replace("199.00", "1.00") }), SECRET),
    ).toMatchObject({ ok: false, status: 401 });
    expect(verifyWebhook(request(), `${SECRET}x`)).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(
      verifyWebhook(
        request({
          headers: { "x-shopify-hmac-sha256": BODY_HMAC.slice(0, 20) },
        }),
        SECRET,
      ),
    ).toMatchObject({ ok: false, status: 401 });
    expect(
      verifyWebhook(
        request({ headers: { "x-shopify-hmac-sha256": "not base64 at all!" } }),
        SECRET,
      ),
    ).toMatchObject({ ok: false, status: 401 });
  });

  it("answers 400 without a signature or a required header", () => {
    expect(
      verifyWebhook(
        request({ headers: { "x-shopify-hmac-sha256": undefined } }),
        SECRET,
      ),
    ).toMatchObject({ ok: false, status: 400 });
    expect(
      verifyWebhook(
        request({
          headers: { "x-shopify-webhook-id": undefined, "x-shopify-topic": "" },
        }),
        SECRET,
      ),
    ).toEqual({
      ok: false,
      status: 400,
      reason: "missing headers: x-shopify-webhook-id, x-shopify-topic",
    });
  });

  it("refuses to verify with an empty secret rather than accept anything", () => {
    expect(() => verifyWebhook(request(), "")).toThrow(/SHOPIFY_API_SECRET/);
  });

  // Why the app does not use the library's validator (webhookSignature.server.ts): it takes the body as text.
  it("verifies an authentic body that is not UTF-8, which Shopify's library cannot", async () => {
    const api = shopifyApi({
      apiKey: "test-key",
      apiSecretKey: SECRET,
      apiVersion: ApiVersion.October25,
      hostName: "app.example",
      isEmbeddedApp: true,
      logger: { level: LogSeverity.Error },
    });
    const libraryVerifies = async (body: Buffer) => {
      const rawRequest = new Request(
        "https://app.example/webhooks/orders/paid",
        {
          method: "POST",
          headers: {
            ...headers,
            "x-shopify-hmac-sha256": signBody(body, SECRET),
          },
          body: new Uint8Array(body),
        },
      );
      // As shopify-app-remix's authenticate.webhook calls it: the body as text.
      return (
        await api.webhooks.validate({
          rawBody: await rawRequest.clone().text(),
          rawRequest,
        })
      ).valid;
    };
    const notUtf8 = Buffer.concat([
      Buffer.from('{"id":1,"note":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}'),
    ]);
    const signed = (body: Buffer) =>
      request({
        body,
        headers: { "x-shopify-hmac-sha256": signBody(body, SECRET) },
      });

    expect(await libraryVerifies(Buffer.from(BODY))).toBe(true);
    expect(verifyWebhook(signed(Buffer.from(BODY)), SECRET)).toMatchObject({
      ok: true,
    });
    expect(await libraryVerifies(notUtf8)).toBe(false);
    expect(verifyWebhook(signed(notUtf8), SECRET)).toMatchObject({ ok: true });
  });
});
