import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import {
  connectedShop,
  orderWebhook,
  type Scenario,
} from "../support/scenario";
import { memoryOf, request, upload } from "../support/rawHttp";

// No request can take the production server down (decisions 25-27): every body is capped by its route before it is
// read, whatever the path's spelling; the bodies in flight share one budget; slow uploads are cut off; requests a
// route does not take are answered in one log line.

const MB = 1024 * 1024;
const ANY_HMAC = {
  "X-Shopify-Hmac-Sha256": "c2lnbmVkIGJ5IG5vYm9keQ==",
  "X-Shopify-Topic": "customers/redact",
};

/** Every route family that takes a body, in the spellings the router would also accept. */
const BODY_PATHS = [
  "/webhooks/customers/redact",
  "/webhooks/orders/paid",
  "/webhooks/orders/paid/",
  "/Webhooks/Orders/Paid",
  "/webhooks//orders/paid",
  "/webhooks/orders/pa%69d?x=1",
  "/webhooks/app/uninstalled",
  "/auth/login",
  "/ingest",
  "/app/settings",
  "/no/such/route",
];

describe.each(databaseKinds())("request bodies on %s", (kind) => {
  let s: Scenario;
  const pid = () => s.app.pid!;
  const alive = async () =>
    expect((await fetch(`${s.app.url}/healthz`)).status).toBe(200);

  beforeAll(async () => {
    s = await connectedShop(kind, { env: { HTTP_REQUEST_TIMEOUT_MS: "3000" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("refuses a 300 MB body by its Content-Length (413) before reading it, on every route and spelling", async () => {
    const before = memoryOf(pid()).rssMB;
    for (const path of BODY_PATHS) {
      const res = await upload(s.app.url, {
        path,
        size: 300 * MB,
        headers: ANY_HMAC,
      });
      expect(res.status, path).toBe(413);
      expect(res.sent, path).toBeLessThan(64 * MB);
    }
    await alive();
    expect(memoryOf(pid()).peakMB - before).toBeLessThan(64);
  });

  it("cuts a chunked body off as soon as it passes its route's cap (413)", async () => {
    const before = memoryOf(pid()).rssMB;
    for (const path of BODY_PATHS) {
      const res = await upload(s.app.url, {
        path,
        size: 300 * MB,
        declare: null,
        headers: ANY_HMAC,
      });
      expect(res.status, path).toBe(413);
      // The largest cap (order webhooks) is 25 MB; what the client wrote past it is what was in flight.
      expect(res.sent, path).toBeLessThan(64 * MB);
    }
    await alive();
    expect(memoryOf(pid()).peakMB - before).toBeLessThan(96);
  });

  it("survives three 120 MB uploads at once, declared and chunked", async () => {
    const before = memoryOf(pid()).rssMB;
    for (const declare of [undefined, null]) {
      const results = await Promise.all(
        [1, 2, 3].map(() =>
          upload(s.app.url, {
            path: "/webhooks/customers/redact",
            size: 120 * MB,
            declare,
            headers: ANY_HMAC,
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual([413, 413, 413]);
    }
    await alive();
    expect(memoryOf(pid()).peakMB - before).toBeLessThan(64);
    // The server still does its work.
    expect(
      (
        await orderWebhook(
          s,
          makeOrder({
            id: 7_900_000_000_001,
            admin_graphql_api_id: "gid://shopify/Order/7900000000001",
          }),
        )
      ).body.outcome,
    ).toBe("accepted");
  });

  it("shares one budget between the bodies in flight: past it 503 with Retry-After; it comes back when they end", async () => {
    const { hostname, port } = new URL(s.app.url);
    // 20 MB declared, 1 MB sent, the rest held back: the server has reserved room for all of it.
    const held = http.request({
      hostname,
      port,
      method: "POST",
      path: "/webhooks/orders/paid",
      agent: false,
      headers: { "Content-Length": String(20 * MB), ...ANY_HMAC },
    });
    held.on("error", () => undefined);
    held.write(Buffer.alloc(MB, "a"));
    await new Promise((r) => setTimeout(r, 300));

    const refused = await request(s.app.url, {
      path: "/webhooks/orders/create",
      headers: { "Content-Length": String(20 * MB), ...ANY_HMAC },
    });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    // Small requests still fit.
    expect(
      (
        await orderWebhook(
          s,
          makeOrder({
            id: 7_900_000_000_002,
            admin_graphql_api_id: "gid://shopify/Order/7900000000002",
          }),
        )
      ).body.outcome,
    ).toBe("accepted");

    held.destroy();
    await eventually(
      async () => {
        const res = await upload(s.app.url, {
          path: "/webhooks/orders/create",
          size: 20 * MB,
          headers: ANY_HMAC,
        });
        return res.status === 401;
      },
      5_000,
      "the budget to be released",
    );
    await alive();
  });

  it("cuts off an upload that stalls (408), and releases what it held", async () => {
    const { hostname, port } = new URL(s.app.url);
    const stalled = http.request({
      hostname,
      port,
      method: "POST",
      path: "/webhooks/orders/paid",
      agent: false,
      headers: { "Content-Length": String(20 * MB), ...ANY_HMAC },
    });
    const answer = new Promise<number | null>((resolve) => {
      stalled.on("response", (res) => resolve(res.statusCode ?? null));
      stalled.on("error", () => resolve(null));
    });
    stalled.write(Buffer.alloc(MB, "a"));
    const started = Date.now();
    expect(await answer).toBe(408);
    expect(Date.now() - started).toBeLessThan(10_000);
    const res = await upload(s.app.url, {
      path: "/webhooks/orders/create",
      size: 20 * MB,
      headers: ANY_HMAC,
    });
    expect(res.status).toBe(401);
  });

  it("answers a webhook route's other methods 405 in one log line, and unknown paths 404, without stack traces", async () => {
    const from = s.app.logs.length;
    const methods = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"];
    const paths = [
      "/webhooks/orders/paid",
      "/webhooks/customers/redact",
      "/webhooks/app/uninstalled",
      "/webhooks/shop/redact",
      "/Webhooks/Orders/Paid/",
      "/webhooks/nope",
    ];
    for (const path of paths) {
      for (const method of methods) {
        const res = await request(s.app.url, { method, path });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.allow, `${method} ${path}`).toBe("POST");
        if (method !== "HEAD")
          expect(JSON.parse(res.text), `${method} ${path}`).toEqual({
            error: "webhooks are POST requests",
          });
      }
    }
    const unknown = ["/no/such/route", "/webhooks", "/%00", "/%E2%80%AEevil"];
    for (const path of unknown) {
      const res = await request(s.app.url, { method: "GET", path });
      expect(res.status, path).toBe(404);
    }
    await new Promise((r) => setTimeout(r, 300));
    const lines = s.app.logs
      .slice(from)
      .filter((l) => !l.startsWith("[dispatcher]"));
    expect(
      lines.filter((l) => /^\s+at /.test(l)),
      lines.join("\n"),
    ).toEqual([]);
    expect(lines.length, lines.join("\n")).toBe(
      paths.length * methods.length + unknown.length,
    );
    expect(
      lines.every((l) => !l.includes("\u202e") && !l.includes("\u0000")),
      lines.join("\n"),
    ).toBe(true);
  });
});
