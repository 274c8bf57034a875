import { describe, expect, it } from "vitest";
import {
  mapOrder,
  parseOrder,
  type ShopifyOrder,
} from "../../app/core/intake/orderMapping";
import {
  parseSettings,
  type ShopSettings,
} from "../../app/core/reference/settings";
import { makeOrder } from "../fixtures/order";
import {
  bankTransferOrderPaidLater,
  documentedOrderWithoutBrowser,
  netTermsOrderPaidLater,
  staffDraftOrder,
} from "../fixtures/realOrders";

// mapOrder on real order shapes (test/fixtures/realOrders.ts) and on values whose format is wrong.

const SHOP = "maple-goods.myshopify.com";
const NOW = new Date("2026-11-20T12:00:00Z");
const DAY = 86_400_000;

function parsed(body: unknown): ShopifyOrder {
  const result = parseOrder(body);
  if (!result.ok) throw new Error(`fixture did not parse: ${result.reason}`);
  return result.order;
}

function map(
  body: unknown,
  opts: {
    settings?: Partial<ShopSettings>;
    topic?: string;
    triggeredAt?: string | null;
  } = {},
) {
  return mapOrder(parsed(body), {
    shopDomain: SHOP,
    settings: parseSettings(opts.settings ?? {}),
    now: NOW,
    topic: opts.topic,
    triggeredAt: opts.triggeredAt,
  });
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

describe("orders a staff member created (decisions 31)", () => {
  const buyer = {
    first: "Imogen",
    last: "Hale",
    email: "imogen.hale@example.org",
  };

  it("carry no client IP or user agent: client_details is the staff member's admin session", () => {
    const mapped = map(
      staffDraftOrder({ id: 5_000_000_000_001, placedAt: NOW, buyer }),
    );
    expect({
      ip: mapped.clientIp,
      ua: mapped.clientUserAgent,
      source: mapped.event.action_source,
    }).toEqual({ ip: null, ua: null, source: "system_generated" });
    expect(mapped.event.user_data.em).toHaveLength(1);
  });

  it("a staff member's user_id marks any order so, a point-of-sale order too", () => {
    for (const source_name of ["web", "pos", "1354745"]) {
      const mapped = map(makeOrder({ source_name, user_id: 71496466622 }));
      expect({
        source_name,
        ip: mapped.clientIp,
        ua: mapped.clientUserAgent,
      }).toEqual({ source_name, ip: null, ua: null });
    }
  });

  it("leaves the buyer's own checkout alone", () => {
    const mapped = map(makeOrder({ user_id: null }));
    expect(mapped.clientIp).toBe("203.0.113.42");
    expect(mapped.clientUserAgent).toMatch(/Macintosh/);
  });
});

describe("the time of a Purchase made on payment (decisions 32)", () => {
  const placedAt = new Date(NOW.getTime() - 8 * DAY);
  const paidAt = new Date(NOW.getTime() - 3_600_000);

  it("is the payment schedule's completed_at on orders/paid", () => {
    const mapped = map(
      netTermsOrderPaidLater({ id: 5_000_000_000_002, placedAt, paidAt }),
      { topic: "orders/paid", triggeredAt: NOW.toISOString() },
    );
    expect(mapped.event.event_time).toBe(seconds(paidAt));
  });

  it("is X-Shopify-Triggered-At when the order does not say when it was paid (Shopify's nanosecond timestamps too)", () => {
    const order = bankTransferOrderPaidLater({
      id: 5_000_000_000_003,
      placedAt,
      paidAt,
    });
    expect(
      map(order, {
        topic: "orders/paid",
        triggeredAt: "2026-11-20T11:00:00.877041743Z",
      }).event.event_time,
    ).toBe(seconds(new Date("2026-11-20T11:00:00Z")));
  });

  it("falls back to processed_at without either, and stays when the order was made on creation", () => {
    const order = bankTransferOrderPaidLater({
      id: 5_000_000_000_004,
      placedAt,
      paidAt,
    });
    expect(
      map(order, { topic: "orders/paid", triggeredAt: null }).event.event_time,
    ).toBe(seconds(placedAt));
    expect(
      map(order, { topic: "orders/paid", triggeredAt: "not a time" }).event
        .event_time,
    ).toBe(seconds(placedAt));
    const terms = netTermsOrderPaidLater({
      id: 5_000_000_000_005,
      placedAt,
      paidAt,
    });
    expect(
      map(terms, { topic: "orders/create", triggeredAt: NOW.toISOString() })
        .event.event_time,
    ).toBe(seconds(placedAt));
  });

  it("is never in the future", () => {
    const order = bankTransferOrderPaidLater({
      id: 5_000_000_000_006,
      placedAt,
      paidAt,
    });
    expect(
      map(order, { topic: "orders/paid", triggeredAt: "2026-11-21T00:00:00Z" })
        .event.event_time,
    ).toBe(seconds(NOW));
  });
});

describe("values whose format is wrong are dropped, not sent (decisions 30, 33)", () => {
  it("drops non-public and malformed IP addresses", () => {
    expect(
      map(
        documentedOrderWithoutBrowser({ id: 5_000_000_000_007, placedAt: NOW }),
      ).clientIp,
    ).toBeNull();
    for (const ip of [
      "0.0.0.0",
      "10.1.2.3",
      "127.0.0.1",
      "169.254.1.1",
      "100.64.0.1",
      "192.168.1.9",
      "::",
      "::1",
      "fe80::1",
      "fd00::7",
      "not an ip",
      "203.0.113.7\u0000",
      "203.0.\ud800113.7",
    ]) {
      const order = makeOrder({
        browser_ip: ip,
        client_details: { browser_ip: ip, user_agent: "Mozilla/5.0" },
      });
      expect(map(order).clientIp, JSON.stringify(ip)).toBeNull();
    }
    expect(
      map(makeOrder({ client_details: { browser_ip: "::ffff:203.0.113.9" } }))
        .clientIp,
    ).toBe("203.0.113.9");
    expect(
      map(makeOrder({ client_details: { browser_ip: "2001:4860:4860::8888" } }))
        .clientIp,
    ).toBe("2001:4860:4860::8888");
    // A malformed client_details address falls back to the order's browser_ip.
    expect(
      map(
        makeOrder({
          browser_ip: "198.51.100.4",
          client_details: { browser_ip: "0.0.0.0" },
        }),
      ).clientIp,
    ).toBe("198.51.100.4");
  });

  it("drops a user agent that no browser sends: control characters or invalid Unicode", () => {
    for (const ua of [
      "Mozilla/5.0\u0000x",
      "Mozilla/5.0\u0001",
      "Mozilla/5.0\r\nX-Evil: 1",
      "Mozilla/5.0 \ud800",
    ]) {
      expect(
        map(
          makeOrder({
            client_details: { browser_ip: "203.0.113.42", user_agent: ua },
          }),
        ).clientUserAgent,
        JSON.stringify(ua),
      ).toBeNull();
    }
    expect(
      map(
        makeOrder({
          client_details: {
            user_agent:
              "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0 — été",
          },
        }),
      ).clientUserAgent,
    ).toMatch(/été$/);
  });

  it("drops a click id that is not printable ASCII, from the cart's _fbc and from the landing page", () => {
    const withFbc = (value: string) =>
      makeOrder({
        landing_site: "/",
        note_attributes: [{ name: "_fbc", value }],
      });
    for (const value of [
      "fb.1.1762800000000.IwAR\u0000x",
      "fb.1.1762800000000.IwAR\ud800",
      "fb.1.1762800000000.Iw\u0001AR",
      "fb.1.1762800000000.IwAR é",
    ]) {
      expect(
        map(withFbc(value)).event.user_data.fbc,
        JSON.stringify(value),
      ).toBeUndefined();
    }
    for (const fbclid of [
      "%00",
      "IwAR%00x",
      "%ED%A0%80",
      "IwAR%01",
      "IwAR%C3%A9",
    ]) {
      expect(
        map(makeOrder({ landing_site: `/p?fbclid=${fbclid}` })).event.user_data
          .fbc,
        fbclid,
      ).toBeUndefined();
    }
    expect(
      map(makeOrder({ landing_site: "/p?fbclid=IwAR%2DOk_1" })).event.user_data
        .fbc,
    ).toMatch(/^fb\.1\.\d+\.IwAR-Ok_1$/);
  });
});

describe("a very large order", () => {
  it("maps 50,000 distinct lines in linear time (content_ids once each)", () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => ({
      product_id: 7_000_000 + i,
      variant_id: 42_000_000 + i,
      quantity: 1,
      price: "1.00",
    }));
    lines.push({ ...lines[0] });
    const order = parsed(makeOrder({ line_items: lines }));
    const started = performance.now();
    const mapped = mapOrder(order, {
      shopDomain: SHOP,
      settings: parseSettings({}),
      now: NOW,
    });
    const ms = performance.now() - started;
    expect(mapped.event.custom_data?.content_ids).toHaveLength(50_000);
    expect(mapped.event.custom_data?.contents).toHaveLength(50_001);
    // Quadratic de-duplication took ~3,300 ms here; linear takes a few tens.
    expect(ms).toBeLessThan(1_000);
  });
});
