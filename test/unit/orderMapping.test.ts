import { describe, expect, it } from "vitest";
import {
  normalizeAndHash,
  sha256Hex,
  type HashField,
} from "../../app/core/intake/normalize";
import {
  mapOrder,
  parseOrder,
  subscriptionOrder,
  type ShopifyOrder,
} from "../../app/core/intake/orderMapping";
import {
  DEFAULT_SETTINGS,
  parseSettings,
  type ShopSettings,
} from "../../app/core/reference/settings";
import {
  FIXTURE_SHOP_DOMAIN as SHOP,
  makeOrder,
  makeRedactedOrder,
} from "../fixtures/order";
import {
  invoiceUrl,
  JUNIPER,
  pagesWithSecrets,
  privateUrls,
  shopOrder,
} from "../fixtures/shopDomains";

const NOW = new Date("2026-11-10T20:00:00Z");
/** 2026-11-10T14:03:12-05:00 and 14:02:58-05:00, worked out by hand. */
const PROCESSED_S = Date.UTC(2026, 10, 10, 19, 3, 12) / 1000;
const CREATED_MS = Date.UTC(2026, 10, 10, 19, 2, 58);

function parsed(body: unknown): ShopifyOrder {
  const result = parseOrder(body);
  if (!result.ok) throw new Error(`fixture did not parse: ${result.reason}`);
  return result.order;
}

function map(body: unknown, settings: Partial<ShopSettings> = {}, now = NOW) {
  return mapOrder(parsed(body), {
    shopDomain: SHOP,
    settings: parseSettings(settings),
    now,
  });
}

const h = (field: HashField, raw: string, country: string | null = null) => {
  const hash = normalizeAndHash(field, raw, { country });
  if (!hash) throw new Error(`no hash for ${field}`);
  return hash;
};

describe("mapOrder: the full fixture", () => {
  const mapped = map(makeOrder());

  it("builds the exact Purchase", () => {
    expect(mapped.event).toEqual({
      event_name: "Purchase",
      event_time: PROCESSED_S,
      event_id: "purchase_5789012345678",
      action_source: "website",
      event_source_url:
        "https://maple-goods.myshopify.com/products/merino-tee?utm_source=facebook&utm_medium=paid&fbclid=IwAR2xY_AbCdEf-9Zk1Lq",
      user_data: {
        // Order email, contact email and customer email are one address once normalised.
        em: [h("em", "amelie.cote@example.com")],
        // Order, customer and billing phones are one number; the shipping phone is national, read as Canadian.
        ph: [h("ph", "+15145550134", "CA"), h("ph", "(418) 555-0199", "CA")],
        fn: [h("fn", "Amélie", "CA"), h("fn", "Jean-Luc", "CA")],
        ln: [h("ln", "Côté", "CA")],
        ct: [h("ct", "Montréal", "CA"), h("ct", "Québec", "CA")],
        st: [h("st", "QC", "CA")],
        zp: [h("zp", "H2J 2L4", "CA"), h("zp", "G1K 4H4", "CA")],
        country: [h("country", "CA", "CA")],
        external_id: [h("external_id", "6543210987654")],
        fbc: `fb.1.${CREATED_MS}.IwAR2xY_AbCdEf-9Zk1Lq`,
        fbp: "fb.1.1762800000000.1098765432",
      },
      custom_data: {
        value: 112.44,
        currency: "CAD",
        order_id: "5789012345678",
        content_type: "product",
        contents: [
          { id: "42258695061686", quantity: 2, item_price: 34 },
          { id: "42258695127222", quantity: 1, item_price: 17 },
        ],
        content_ids: ["42258695061686", "42258695127222"],
        // The custom gift-wrap line has no content id but is still an item bought.
        num_items: 4,
      },
    });
  });

  it("hashes the unambiguous keys as Meta specifies", () => {
    const u = mapped.event.user_data;
    expect(u.em).toEqual([sha256Hex("amelie.cote@example.com")]);
    expect(u.ph).toEqual([sha256Hex("15145550134"), sha256Hex("14185550199")]);
    expect(u.country).toEqual([sha256Hex("ca")]);
    expect(u.external_id).toEqual([sha256Hex("6543210987654")]);
    for (const hash of Object.values(u)
      .flat()
      .filter((v) => !String(v).startsWith("fb."))) {
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("keeps IP and user agent out of the event, beside it", () => {
    expect(mapped.event.user_data).not.toHaveProperty("client_ip_address");
    expect(mapped.event.user_data).not.toHaveProperty("client_user_agent");
    expect(mapped.clientIp).toBe("203.0.113.42");
    expect(mapped.clientUserAgent).toMatch(
      /^Mozilla\/5\.0 \(Macintosh;.*Chrome\/130/,
    );
  });

  it("returns the order's facts for the outbox", () => {
    const { event: _event, clientUserAgent: _ua, ...facts } = mapped;
    expect(facts).toEqual({
      clientIp: "203.0.113.42",
      orderId: "5789012345678",
      orderName: "#1001",
      checkoutToken: "b1946ac92492d2347c6235b4d2611184",
      countryCode: "CA",
      provinceCode: "QC",
      updatedAt: new Date("2026-11-10T14:03:15-05:00"),
      test: false,
      sourceKind: "online",
      subscribe: null,
      cancelled: false,
      refunded: false,
      customerKey: sha256Hex("6543210987654"),
      emailHashes: mapped.event.user_data.em,
      phoneHashes: mapped.event.user_data.ph,
      // Nothing missing (decisions 150): the full fixture carries every key.
      missingKeys: "",
    });
  });

  it("keeps Shopify's fields it does not know", () => {
    const order = parsed(makeOrder()) as ShopifyOrder & {
      order_number?: unknown;
      shipping_lines?: unknown[];
    };
    expect(order.order_number).toBe(1001);
    expect(order.shipping_lines).toHaveLength(1);
  });
});

describe("mapOrder: event time", () => {
  it("clamps an order time in the future to now", () => {
    const now = new Date("2026-11-10T19:00:00.750Z");
    const mapped = map(makeOrder(), {}, now);
    expect(mapped.event.event_time).toBe(
      Date.UTC(2026, 10, 10, 19, 0, 0) / 1000,
    );
    expect(mapped.event.user_data.fbc).toBe(
      `fb.1.${now.getTime()}.IwAR2xY_AbCdEf-9Zk1Lq`,
    );
  });

  it("uses created_at when processed_at is missing", () => {
    expect(map(makeOrder({ processed_at: null })).event.event_time).toBe(
      CREATED_MS / 1000,
    );
  });

  it("uses now when the order has no readable time", () => {
    const mapped = map(
      makeOrder({ processed_at: "soon", created_at: undefined }),
    );
    expect(mapped.event.event_time).toBe(NOW.getTime() / 1000);
    expect(mapped.event.user_data.fbc).toBe(
      `fb.1.${NOW.getTime()}.IwAR2xY_AbCdEf-9Zk1Lq`,
    );
  });

  it.each([
    "2026-11-10T14:03:12-05:00",
    "2026-11-10T19:03:12.345Z",
    "2026-11-11T00:33:12+05:30",
    "2026-11-10T19:03:12-00:00",
    "2026-02-30T10:00:00Z",
    // Other shapes and out-of-range fields: whatever Date.parse makes of them
    "2026-11-09T24:00:00Z",
    "2026-11-10T19:03:12.5Z",
    "2026-11-10t19:03:12z",
    "2026-11-10T19:03Z",
    "2026-11-10 19:03:12Z",
    "Tue, 10 Nov 2026 19:03:12 GMT",
    "0099-11-10T19:03:12Z",
  ])("reads %s to the millisecond as Date.parse does", (timestamp) => {
    const mapped = map(
      makeOrder({ processed_at: timestamp, created_at: timestamp }),
    );
    expect(mapped.event.event_time).toBe(
      Math.floor(Date.parse(timestamp) / 1000),
    );
    expect(mapped.event.user_data.fbc).toBe(
      `fb.1.${Date.parse(timestamp)}.IwAR2xY_AbCdEf-9Zk1Lq`,
    );
  });
});

describe("mapOrder: source_name", () => {
  it.each([
    ["web", "website", "online"],
    ["pos", "physical_store", "pos"],
    ["shopify_draft_order", "system_generated", "draft"],
    ["subscription_contract", "system_generated", "subscription"],
    ["subscription_contract_checkout_one", "system_generated", "subscription"],
    // decisions 69: a word in the channel's name is no subscription marker.
    ["Recharge Subscription", "other", "online"],
    ["iphone", "other", "online"],
    ["294517", "other", "online"],
    [null, "other", "online"],
  ])("%s -> %s / %s", (sourceName, actionSource, kind) => {
    const mapped = map(makeOrder({ source_name: sourceName }));
    expect(mapped.event.action_source).toBe(actionSource);
    expect(mapped.sourceKind).toBe(kind);
    // Only website events carry (and need) a source URL.
    expect("event_source_url" in mapped.event).toBe(actionSource === "website");
  });
});

describe("mapOrder: event_source_url", () => {
  const ORIGIN = "https://www.maple-goods.ca";
  const onDomain = (body: unknown) =>
    mapOrder(parsed(body), {
      shopDomain: SHOP,
      storefrontOrigin: ORIGIN,
      settings: DEFAULT_SETTINGS,
      now: NOW,
    });

  it("puts the landing page on the shop's primary domain (the one its pixel runs on)", () => {
    const order = shopOrder(JUNIPER);
    const mapped = mapOrder(parsed(order), {
      shopDomain: JUNIPER.myshopifyDomain,
      storefrontOrigin: `https://${JUNIPER.primaryDomain}`,
      settings: DEFAULT_SETTINGS,
      now: NOW,
    });
    expect(mapped.event.event_source_url).toBe(
      `https://${JUNIPER.primaryDomain}${order.landing_site}`,
    );
    expect(
      onDomain(
        makeOrder({
          landing_site: "https://maple-goods.myshopify.com/fr?fbclid=AbC",
        }),
      ).event.event_source_url,
    ).toBe(`${ORIGIN}/fr?fbclid=AbC`);
  });

  it("never sends the order status page (it carries the order's access key): the storefront's home instead", () => {
    const order = shopOrder(JUNIPER, { landing_site: null });
    const mapped = mapOrder(parsed(order), {
      shopDomain: JUNIPER.myshopifyDomain,
      storefrontOrigin: `https://${JUNIPER.primaryDomain}`,
      settings: DEFAULT_SETTINGS,
      now: NOW,
    });
    expect(mapped.event.event_source_url).toBe(
      `https://${JUNIPER.primaryDomain}/`,
    );
    // Without a known primary domain, the myshopify domain's home.
    expect(map(makeOrder({ landing_site: null })).event.event_source_url).toBe(
      `https://${SHOP}/`,
    );
  });

  it("never sends a private link that was the landing page (a draft order's invoice, a checkout), nor a secret parameter", () => {
    for (const landing_site of [
      invoiceUrl(JUNIPER),
      ...privateUrls(ORIGIN).map((p) => p.url),
    ]) {
      expect(
        onDomain(makeOrder({ landing_site })).event.event_source_url,
        landing_site,
      ).toBe(`${ORIGIN}/`);
    }
    for (const { url, safe } of pagesWithSecrets(ORIGIN)) {
      expect(
        onDomain(makeOrder({ landing_site: url })).event.event_source_url,
        url,
      ).toBe(safe);
    }
    expect(
      onDomain(
        makeOrder({ landing_site: "/products/tea?key=abc&utm_source=fb" }),
      ).event.event_source_url,
    ).toBe(`${ORIGIN}/products/tea?utm_source=fb`);
  });

  it("falls back to the storefront's home when the landing page is not usable", () => {
    const mapped = map(
      makeOrder({
        landing_site: "javascript:alert(1)",
        order_status_url: null,
      }),
    );
    expect(mapped.event.event_source_url).toBe(`https://${SHOP}/`);
    expect(mapped.event.user_data).not.toHaveProperty("fbc");
  });

  it.each([
    "/products/merino-tee?utm_source=facebook&fbclid=AbC",
    "/",
    "/?",
    "/collections/all?q=a?b&fbclid=X~Y",
    "/p;v=1/@x:y!$*(),?fbclid=_-.",
    "/a/./b?fbclid=X",
    "/a/../b",
    "/%2e%2E/p",
    "/%zz?fbclid=%zz",
    "/p?fbclid=a%2Bb",
    "/a b?c d",
    "/ünï?fbclid=é",
    "/a\\b",
    "//other.example/p?fbclid=X",
    "/p#fbclid=X",
    "/p'q?r'=s&fbclid=Z",
    "/p^{x}|y?fbclid=`Q`",
  ])("resolves the landing page %j as the URL parser does", (landing_site) => {
    for (const shopDomain of [
      SHOP,
      "Maple-Goods.myshopify.com",
      "xn--bcher-kva.myshopify.com",
      "127.0.0.1",
    ]) {
      const url = new URL(landing_site, `https://${shopDomain}/`);
      // A click id that is not printable ASCII ("é") is not one (decisions 30).
      const fbclid = url.searchParams
        .get("fbclid")
        ?.trim()
        .match(/^[\x21-\x7e]+$/)?.[0];
      const order = parsed(makeOrder({ landing_site, note_attributes: [] }));
      const mapped = mapOrder(order, {
        shopDomain,
        storefrontOrigin: ORIGIN,
        settings: DEFAULT_SETTINGS,
        now: NOW,
      });
      expect(mapped.event.event_source_url).toBe(
        `${ORIGIN}${url.pathname}${url.search}`,
      );
      expect(mapped.event.user_data.fbc).toBe(
        fbclid ? `fb.1.${CREATED_MS}.${fbclid}` : undefined,
      );
    }
  });
});

describe("mapOrder: content ids", () => {
  it.each<[ShopSettings["contentIdFormat"], string[]]>([
    ["variant", ["42258695061686", "42258695127222"]],
    ["product", ["7513594339510", "7513594372278"]],
    ["sku", ["MERINO-TEE-BLK-M", "MUG-ERABLE"]],
    [
      "shopify_catalog",
      [
        "shopify_CA_7513594339510_42258695061686",
        "shopify_CA_7513594372278_42258695127222",
      ],
    ],
  ])("%s", (contentIdFormat, ids) => {
    const custom = map(makeOrder(), { contentIdFormat, catalogCountry: "ca" })
      .event.custom_data;
    expect(custom?.content_ids).toEqual(ids);
    expect(custom?.contents).toEqual([
      { id: ids[0], quantity: 2, item_price: 34 },
      { id: ids[1], quantity: 1, item_price: 17 },
    ]);
    expect(custom?.num_items).toBe(4);
  });

  it("reads gid and string product ids, and lists a repeated id once in content_ids", () => {
    const [tee] = makeOrder().line_items;
    const line_items = [
      {
        ...tee,
        product_id: "gid://shopify/Product/7513594339510",
        variant_id: "42258695061686",
      },
      { ...tee, variant_id: 42258695094454, quantity: 1 },
    ];
    const custom = map(makeOrder({ line_items }), {
      contentIdFormat: "product",
    }).event.custom_data;
    expect(custom?.content_ids).toEqual(["7513594339510"]);
    expect(custom?.contents).toEqual([
      { id: "7513594339510", quantity: 2, item_price: 34 },
      { id: "7513594339510", quantity: 1, item_price: 34 },
    ]);
  });

  it("leaves out lines with nothing to identify and lines with no quantity left", () => {
    const [tee, mug] = makeOrder().line_items;
    const custom = map(
      makeOrder({
        line_items: [
          { ...tee, sku: " " },
          { ...mug, quantity: 0 },
        ],
      }),
      {
        contentIdFormat: "sku",
      },
    ).event.custom_data;
    expect(custom).toEqual({
      value: 112.44,
      currency: "CAD",
      order_id: "5789012345678",
      num_items: 2,
    });
  });

  it("omits the content keys for an order without line items", () => {
    const custom = map(makeOrder({ line_items: [] })).event.custom_data;
    expect(custom).toEqual({
      value: 112.44,
      currency: "CAD",
      order_id: "5789012345678",
    });
  });
});

describe("mapOrder: value and currency", () => {
  it("uses the presentment subtotal in subtotal mode", () => {
    const custom = map(makeOrder(), { valueMode: "subtotal" }).event
      .custom_data;
    expect(custom?.value).toBe(89.08);
    expect(custom?.currency).toBe("CAD");
  });

  it("falls back to the shop-currency total when the *_set fields are missing", () => {
    const line_items = makeOrder().line_items.map(
      ({ price_set: _set, ...line }) => line,
    );
    const custom = map(
      makeOrder({
        total_price_set: undefined,
        subtotal_price_set: undefined,
        line_items,
      }),
    ).event.custom_data;
    expect(custom).toMatchObject({ value: 82.68, currency: "USD" });
    expect(custom?.contents).toEqual([
      { id: "42258695061686", quantity: 2, item_price: 25 },
      { id: "42258695127222", quantity: 1, item_price: 12.5 },
    ]);
  });

  it("falls back to the plain subtotal in subtotal mode", () => {
    const custom = map(makeOrder({ subtotal_price_set: null }), {
      valueMode: "subtotal",
    }).event.custom_data;
    expect(custom).toMatchObject({ value: 65.5, currency: "USD" });
  });

  it("uses the total when an order has no subtotal at all", () => {
    const order = makeOrder({ subtotal_price_set: null, subtotal_price: null });
    expect(
      map(order, { valueMode: "subtotal" }).event.custom_data,
    ).toMatchObject({ value: 112.44, currency: "CAD" });
  });

  it("leaves out unit prices in another currency than the value", () => {
    const line_items = makeOrder().line_items.map(
      ({ price_set: _set, ...line }) => line,
    );
    const contents = map(makeOrder({ line_items })).event.custom_data?.contents;
    expect(contents).toEqual([
      { id: "42258695061686", quantity: 2 },
      { id: "42258695127222", quantity: 1 },
    ]);
  });

  it("rounds money to cents without float noise, from strings and numbers", () => {
    const [tee] = makeOrder().line_items;
    const order = makeOrder({
      total_price_set: {
        presentment_money: { amount: 1.005, currency_code: "cad" },
      },
      line_items: [
        {
          ...tee,
          price_set: {
            presentment_money: { amount: "19.999", currency_code: "CAD" },
          },
        },
      ],
    });
    const custom = map(order).event.custom_data;
    expect(custom?.value).toBe(1.01);
    expect(custom?.currency).toBe("CAD");
    expect(custom?.contents?.[0].item_price).toBe(20);
  });

  it("keeps zero-decimal currencies whole", () => {
    const order = makeOrder({
      currency: "JPY",
      presentment_currency: "JPY",
      total_price_set: {
        presentment_money: { amount: "12800", currency_code: "JPY" },
      },
    });
    expect(map(order).event.custom_data).toMatchObject({
      value: 12800,
      currency: "JPY",
    });
  });
});

describe("mapOrder: fbc and fbp", () => {
  const attributes = (...extra: Array<{ name: string; value: unknown }>) => [
    ...makeOrder().note_attributes,
    ...extra,
  ];

  it("prefers the cart's _fbc over the landing page's fbclid", () => {
    const order = makeOrder({
      note_attributes: attributes({
        name: "_fbc",
        value: "fb.1.1762700000000.CartClickId",
      }),
    });
    expect(map(order).event.user_data.fbc).toBe(
      "fb.1.1762700000000.CartClickId",
    );
  });

  it("ignores a malformed cart _fbc", () => {
    const order = makeOrder({
      note_attributes: attributes({ name: "_fbc", value: "IwAR-not-a-cookie" }),
    });
    expect(map(order).event.user_data.fbc).toBe(
      `fb.1.${CREATED_MS}.IwAR2xY_AbCdEf-9Zk1Lq`,
    );
  });

  it("keeps the fbclid's case and ignores one over 500 characters", () => {
    expect(
      map(makeOrder({ landing_site: "/?fbclid=AbC_dEf" })).event.user_data.fbc,
    ).toBe(`fb.1.${CREATED_MS}.AbC_dEf`);
    expect(
      map(makeOrder({ landing_site: `/?fbclid=${"x".repeat(500)}` })).event
        .user_data.fbc,
    ).toMatch(/x{500}$/);
    expect(
      map(makeOrder({ landing_site: `/?fbclid=${"x".repeat(501)}` })).event
        .user_data,
    ).not.toHaveProperty("fbc");
  });

  it("has no fbc without a click id", () => {
    expect(
      map(makeOrder({ landing_site: "/collections/all?fbclid=" })).event
        .user_data,
    ).not.toHaveProperty("fbc");
  });

  it.each([
    ["/?fbclid=A%2Fb%3D", "A/b="],
    ["/?fb%63lid=Enc", "Enc"],
    ["/?fbclid=First&fbclid=Second", "First"],
    ["/?utm_source=fb&fbclid=Last", "Last"],
    ["/?xfbclid=No&fbclid_x=No&fbclid=Yes", "Yes"],
    ["/?&&fbclid=a=b&", "a=b"],
  ])(
    "reads the landing page's fbclid as URLSearchParams does: %s",
    (landing_site, fbclid) => {
      const mapped = map(makeOrder({ landing_site, note_attributes: [] }));
      expect(mapped.event.user_data.fbc).toBe(`fb.1.${CREATED_MS}.${fbclid}`);
    },
  );

  // "A+b" reads as "A b": a space is not part of a click id (decisions 30).
  it.each([
    "/?fbclid&fbclid=Later",
    "/?fbclid=%20",
    "/?fbclid=A+b",
    "/?FBCLID=Case",
    "/?xfbclid=No",
    "/#fbclid=InFragment",
  ])("finds no click id in %s", (landing_site) => {
    expect(
      map(makeOrder({ landing_site, note_attributes: [] })).event.user_data,
    ).not.toHaveProperty("fbc");
  });

  it("ignores a malformed or non-text _fbp", () => {
    for (const value of ["fb.1.abc.123", "1098765432", 42]) {
      const note_attributes = [{ name: "_fbp", value }];
      expect(
        map(makeOrder({ note_attributes })).event.user_data,
      ).not.toHaveProperty("fbp");
    }
  });
});

describe("mapOrder: orders without customer data", () => {
  it("maps a fully redacted order with fewer keys", () => {
    const mapped = map(
      makeRedactedOrder({
        note_attributes: [],
        landing_site: null,
        client_details: null,
      }),
    );
    expect(mapped.event.user_data).toEqual({});
    expect(mapped.event.event_source_url).toBe(`https://${SHOP}/`);
    expect(mapped.event.custom_data?.value).toBe(112.44);
    expect(mapped).toMatchObject({
      clientIp: "203.0.113.42",
      clientUserAgent: null,
      countryCode: null,
      provinceCode: null,
      customerKey: null,
      emailHashes: [],
      phoneHashes: [],
    });
  });

  it("keeps what is left: the customer id and the browser ids", () => {
    const mapped = map(
      makeRedactedOrder({
        customer: { id: 6543210987654, email: null, first_name: null },
      }),
    );
    expect(Object.keys(mapped.event.user_data).sort()).toEqual([
      "external_id",
      "fbc",
      "fbp",
    ]);
    expect(mapped.customerKey).toBe(sha256Hex("6543210987654"));
  });

  it("reads oddly typed buyer fields as absent", () => {
    const mapped = map(
      makeOrder({
        email: 42,
        contact_email: {},
        customer: "redacted",
        billing_address: [],
      }),
    );
    expect(mapped.event.user_data.em).toBeUndefined();
    expect(mapped.event.user_data).not.toHaveProperty("external_id");
    expect(mapped.countryCode).toBe("CA");
  });

  it("never leaves an empty array or key", () => {
    const mapped = map(
      makeOrder({
        customer: null,
        email: "",
        contact_email: "  ",
        phone: null,
      }),
    );
    for (const value of Object.values(mapped.event.user_data))
      expect(value.length).toBeGreaterThan(0);
    expect(mapped.event.user_data).not.toHaveProperty("em");
  });
});

describe("mapOrder: phones", () => {
  it("reads national numbers for the country of their address, else the order's", () => {
    const base = makeOrder();
    const order = makeOrder({
      phone: "514 555 0100",
      customer: {
        ...base.customer,
        phone: "438-555-0101",
        default_address: null,
      },
      shipping_address: { ...base.shipping_address, phone: null },
      billing_address: {
        ...base.billing_address,
        country_code: "GB",
        country: "United Kingdom",
        phone: "020 7946 0958",
      },
    });
    expect(map(order).event.user_data.ph).toEqual([
      sha256Hex("15145550100"),
      sha256Hex("14385550101"),
      sha256Hex("442079460958"),
    ]);
  });
});

describe("mapOrder: region and flags", () => {
  it("takes country and province from shipping, then billing (decisions 66)", () => {
    const address = {
      ...makeOrder().shipping_address,
      country_code: "US",
      province_code: "ca",
    };
    expect(
      map(makeOrder({ shipping_address: null, billing_address: address })),
    ).toMatchObject({ countryCode: "US", provinceCode: "CA" });
    const billing = { ...address, country_code: "DE", province_code: null };
    expect(
      map(makeOrder({ shipping_address: address, billing_address: billing })),
    ).toMatchObject({ countryCode: "US", provinceCode: "CA" });
  });

  it("never mixes the country of one address with the province of another", () => {
    const shipping = { ...makeOrder().shipping_address, province_code: null };
    expect(map(makeOrder({ shipping_address: shipping }))).toMatchObject({
      countryCode: "CA",
      provinceCode: null,
    });
  });

  it("reads the country from its name when the code is missing", () => {
    const shipping = {
      ...makeOrder().shipping_address,
      country_code: null,
      country: "Germany",
      province_code: null,
    };
    expect(map(makeOrder({ shipping_address: shipping })).countryCode).toBe(
      "DE",
    );
  });

  it("reports test, cancelled and fully refunded orders", () => {
    expect(map(makeOrder({ test: true })).test).toBe(true);
    expect(
      map(makeOrder({ cancelled_at: "2026-11-11T09:00:00-05:00" })).cancelled,
    ).toBe(true);
    expect(map(makeOrder({ financial_status: "refunded" })).refunded).toBe(
      true,
    );
    for (const status of ["paid", "partially_refunded", null, undefined, 7])
      expect(
        map(makeOrder({ financial_status: status as never })).refunded,
      ).toBe(false);
  });

  it("takes the IP from browser_ip when client_details lacks it", () => {
    const mapped = map(
      makeOrder({
        client_details: { browser_ip: null, user_agent: "UA" },
        browser_ip: "198.51.100.7",
      }),
    );
    expect(mapped).toMatchObject({
      clientIp: "198.51.100.7",
      clientUserAgent: "UA",
    });
  });
});

describe("ids", () => {
  it("prefers the gid, so ids beyond 2^53 survive JSON", () => {
    const mapped = map(
      makeOrder({
        // eslint-disable-next-line no-loss-of-precision -- an id beyond 2^53, as Shopify's JSON carries it: the case under test
        id: 9007199254740993,
        admin_graphql_api_id: "gid://shopify/Order/9007199254740993",
      }),
    );
    expect(mapped.orderId).toBe("9007199254740993");
    expect(mapped.event.event_id).toBe("purchase_9007199254740993");
    expect(mapped.event.custom_data?.order_id).toBe("9007199254740993");
  });

  it("accepts a numeric string id without a gid", () => {
    const mapped = map(
      makeOrder({ id: "5789012345679", admin_graphql_api_id: undefined }),
    );
    expect(mapped.orderId).toBe("5789012345679");
    expect(mapped.event.event_id).toBe("purchase_5789012345679");
  });

  it("rejects an unsafe number id without a gid", () => {
    const result = parseOrder(
      // eslint-disable-next-line no-loss-of-precision -- an id beyond 2^53, as Shopify's JSON carries it: the case under test
      makeOrder({ id: 9007199254740993, admin_graphql_api_id: null }),
    );
    expect(result).toEqual({
      ok: false,
      reason: expect.stringMatching(/^id: /),
    });
  });

  it("prefers the customer's gid for external_id", () => {
    const customer = {
      ...makeOrder().customer,
      // eslint-disable-next-line no-loss-of-precision -- an id beyond 2^53, as Shopify's JSON carries it: the case under test
      id: 9007199254740993,
      admin_graphql_api_id: "gid://shopify/Customer/9007199254740993",
    };
    expect(map(makeOrder({ customer })).customerKey).toBe(
      h("external_id", "9007199254740993"),
    );
  });
});

describe("parseOrder", () => {
  const email = makeOrder().email.trim();
  const phone = makeOrder().phone;

  it.each<[string, unknown, RegExp]>([
    ["a non-object", "not json", /^order: /],
    ["null", null, /^order: /],
    [
      "a missing id",
      makeOrder({ id: undefined, admin_graphql_api_id: undefined }),
      /^id: /,
    ],
    ["a text id", makeOrder({ id: "ORDER-1" }), /^id: /],
    ["a negative id", makeOrder({ id: -5 }), /^id: /],
    [
      "a zero id",
      makeOrder({ id: "000", admin_graphql_api_id: undefined }),
      /^id: /,
    ],
    ["a comma amount", makeOrder({ total_price: "12,00" }), /^total_price: /],
    [
      "an unknown currency format",
      makeOrder({ currency: "dollars" }),
      /^currency: /,
    ],
    [
      "a presentment amount missing",
      makeOrder({
        total_price_set: { presentment_money: { currency_code: "CAD" } },
      }),
      /^total_price_set\.presentment_money\.amount: /,
    ],
    [
      "no total at all",
      makeOrder({ total_price: null, total_price_set: null }),
      /^total_price: /,
    ],
    [
      "a negative quantity",
      makeOrder({
        line_items: [{ ...makeOrder().line_items[0], quantity: -1 }],
      }),
      /^line_items\.0\.quantity: /,
    ],
    ["a text test flag", makeOrder({ test: "no" }), /^test: /],
  ])("fails on %s with a reason", (_name, body, reason) => {
    const result = parseOrder(body);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toMatch(reason);
      expect(result.reason).not.toContain(email);
      expect(result.reason).not.toContain(phone);
    }
  });

  it("lists only the first problems, and never a value", () => {
    const body = makeOrder({
      id: "x",
      total_price: "n/a",
      currency: "€",
      test: "yes",
      line_items: "none",
    });
    const result = parseOrder(body);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason.split("; ")).toHaveLength(3);
      for (const value of ["n/a", "€", "yes", "none", email, "Amélie", "514"])
        expect(result.reason).not.toContain(value);
    }
  });

  it("accepts money as numbers and keeps the id as a string", () => {
    const result = parseOrder(
      makeOrder({ total_price: 82.68, subtotal_price: 65.5 }),
    );
    expect(result.ok && result.order.id).toBe("5789012345678");
  });
});

describe("mapOrder never throws on a parsed order", () => {
  const base = makeOrder();
  const odd: unknown[] = [
    null,
    undefined,
    "",
    "x",
    0,
    -1,
    1e300,
    true,
    [],
    {},
    [{}],
    { name: null },
  ];

  it("survives any top-level field replaced by an odd value", () => {
    let mappedCount = 0;
    for (const key of Object.keys(base)) {
      for (const value of odd) {
        const result = parseOrder({ ...base, [key]: value });
        if (!result.ok) continue;
        mappedCount++;
        for (const settings of [
          DEFAULT_SETTINGS,
          parseSettings({
            valueMode: "subtotal",
            contentIdFormat: "shopify_catalog",
          }),
        ]) {
          expect(
            () =>
              mapOrder(result.order, { shopDomain: SHOP, settings, now: NOW }),
            `${key}=${JSON.stringify(value)}`,
          ).not.toThrow();
        }
      }
    }
    expect(mappedCount).toBeGreaterThan(500);
  });

  it("survives odd values inside addresses, customer and line items", () => {
    const address = base.billing_address;
    for (const key of Object.keys(address)) {
      for (const value of odd) {
        const order = makeOrder({
          billing_address: { ...address, [key]: value },
          shipping_address: { ...base.shipping_address, [key]: value },
          customer: {
            ...base.customer,
            [key]: value,
            default_address: { ...address, [key]: value },
          },
          line_items: [
            {
              ...base.line_items[0],
              product_id: value,
              variant_id: value,
              sku: value,
            },
          ],
        });
        const result = parseOrder(order);
        expect(result.ok).toBe(true);
        if (result.ok)
          expect(() =>
            mapOrder(result.order, {
              shopDomain: SHOP,
              settings: DEFAULT_SETTINGS,
              now: NOW,
            }),
          ).not.toThrow();
      }
    }
  });
});

describe("subscriptionOrder (decisions 69)", () => {
  const line = makeOrder().line_items[0];
  const plan = { selling_plan: { id: 6291457, name: "Monthly" } };
  it.each([
    ["a one-time order", {}, null],
    [
      "a line on a selling plan",
      { line_items: [{ ...line, selling_plan_allocation: plan }] },
      "first",
    ],
    [
      "Recharge's or Skio's first-order tag",
      { tags: "Subscription, Subscription First Order" },
      "first",
    ],
    [
      "Appstle's first-order tag",
      { tags: "appstle_subscription_first_order" },
      "first",
    ],
    [
      "a contract's billing attempt",
      { source_name: "subscription_contract" },
      "renewal",
    ],
    [
      "a contract's billing attempt (checkout one)",
      { source_name: "subscription_contract_checkout_one" },
      "renewal",
    ],
    [
      "Recharge's or Skio's renewal tag",
      { tags: "Subscription,Subscription Recurring Order" },
      "renewal",
    ],
    [
      "Appstle's renewal tag",
      { tags: "appstle_subscription_recurring_order" },
      "renewal",
    ],
    [
      "a renewal of a selling plan",
      {
        source_name: "subscription_contract",
        line_items: [{ ...line, selling_plan_allocation: plan }],
      },
      "renewal",
    ],
    [
      "a channel named like one, no marker",
      { source_name: "My Subscription Box" },
      null,
    ],
    [
      "a tag that only mentions subscriptions",
      { tags: "subscription-ready, vip" },
      null,
    ],
  ])("%s -> %s", (_name, over, expected) => {
    expect(subscriptionOrder(parsed(makeOrder(over)))).toBe(expected);
  });
});

describe("the Subscribe of a subscription's first order (decisions 74)", () => {
  const [tee, mug] = makeOrder().line_items;
  const plan = { selling_plan: { id: 6291457, name: "Monthly" } };

  it("is the Purchase under its own name and id, valued at the lines on a selling plan", () => {
    const mapped = map(
      makeOrder({
        line_items: [{ ...tee, selling_plan_allocation: plan }, mug],
      }),
    );
    const { event_name, event_id, custom_data, ...rest } = mapped.subscribe!;
    const {
      event_name: _n,
      event_id: _i,
      custom_data: _c,
      ...purchase
    } = mapped.event;
    expect({ event_name, event_id, custom_data }).toEqual({
      event_name: "Subscribe",
      event_id: "subscribe_5789012345678",
      // 2 x 34.00 CAD, the presentment price, as the Purchase's value.
      custom_data: { value: 68, currency: "CAD", order_id: "5789012345678" },
    });
    expect(rest).toEqual(purchase);
  });

  it("takes the order's value when only a tag says it is a first order; none for other orders", () => {
    const tagged = map(makeOrder({ tags: "Subscription First Order" }));
    expect(tagged.subscribe?.custom_data).toEqual({
      value: 112.44,
      currency: "CAD",
      order_id: "5789012345678",
    });
    expect(map(makeOrder()).subscribe).toBeNull();
    expect(
      map(
        makeOrder({
          source_name: "subscription_contract",
          line_items: [{ ...tee, selling_plan_allocation: plan }],
        }),
      ).subscribe,
    ).toBeNull();
  });
});
