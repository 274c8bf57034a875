import { describe, expect, it } from "vitest";
import {
  otherShopReason,
  storefrontHost,
} from "../../app/core/intake/shopIdentity";
import {
  HARBOUR,
  JUNIPER,
  orderStatusUrl,
  PLAIN,
  privacyBodies,
  shopOrder,
  shopPayload,
} from "../fixtures/shopDomains";
import { SAMPLE_APP_SUBSCRIPTION } from "../fixtures/shopifyWebhooks";

// decisions 35: what a webhook body says of its shop, against X-Shopify-Shop-Domain.

const known = (id: number) => ({ shopifyId: String(id) });
const header = HARBOUR.myshopifyDomain;

describe("otherShopReason", () => {
  it("accepts each shop's own bodies, known id or not", () => {
    for (const [topic, body] of Object.entries(privacyBodies(HARBOUR))) {
      expect(
        otherShopReason(topic, body, header, known(HARBOUR.id)),
        topic,
      ).toBeNull();
      expect(
        otherShopReason(topic, body, header.toUpperCase(), null),
        topic,
      ).toBeNull();
    }
    for (const topic of ["shop/update", "app/uninstalled"])
      expect(
        otherShopReason(topic, shopPayload(HARBOUR), header, known(HARBOUR.id)),
      ).toBeNull();
    for (const topic of ["orders/paid", "orders/create", "orders/cancelled"]) {
      expect(
        otherShopReason(topic, shopOrder(HARBOUR), header, known(HARBOUR.id)),
      ).toBeNull();
      expect(
        otherShopReason(topic, shopOrder(HARBOUR), header, null),
      ).toBeNull();
    }
    const plain = shopOrder(PLAIN);
    expect(plain.order_status_url).toMatch(
      /^https:\/\/plain-basics\.myshopify\.com\/70011223344\/orders\//,
    );
    expect(
      otherShopReason("orders/paid", plain, PLAIN.myshopifyDomain, null),
    ).toBeNull();
  });

  it("names the field when the body is another shop's", () => {
    for (const [topic, body] of Object.entries(privacyBodies(JUNIPER))) {
      expect(otherShopReason(topic, body, header, null), topic).toMatch(
        /shop_domain/,
      );
      expect(
        otherShopReason(
          topic,
          { ...body, shop_domain: header },
          header,
          known(HARBOUR.id),
        ),
        topic,
      ).toMatch(/shop_id/);
    }
    expect(
      otherShopReason("shop/update", shopPayload(JUNIPER), header, null),
    ).toMatch(/myshopify_domain/);
    expect(
      otherShopReason(
        "app/uninstalled",
        shopPayload(HARBOUR, { id: JUNIPER.id }),
        header,
        known(HARBOUR.id),
      ),
    ).toMatch(/shop id/);
    expect(
      otherShopReason(
        "orders/paid",
        shopOrder(JUNIPER),
        header,
        known(HARBOUR.id),
      ),
    ).toMatch(/order_status_url/);
    expect(
      otherShopReason("orders/paid", shopOrder(PLAIN), header, null),
    ).toMatch(/myshopify\.com/);
  });

  it("compares a subscription update's shop id with the shop's, once known", () => {
    const update = (id: number | string) => ({
      app_subscription: {
        ...SAMPLE_APP_SUBSCRIPTION.app_subscription,
        admin_graphql_api_shop_id: `gid://shopify/Shop/${id}`,
      },
    });
    const topic = "app_subscriptions/update";
    expect(
      otherShopReason(topic, update(HARBOUR.id), header, known(HARBOUR.id)),
    ).toBeNull();
    expect(
      otherShopReason(topic, update(JUNIPER.id), header, known(HARBOUR.id)),
    ).toBe("the body's admin_graphql_api_shop_id is another shop's");
    // Without a known id, or a subscription that does not say its shop, the header stands.
    expect(otherShopReason(topic, update(JUNIPER.id), header, null)).toBeNull();
    expect(
      otherShopReason(topic, { app_subscription: "x" }, header, known(1)),
    ).toBeNull();
  });

  it("lets the header stand where the body cannot tell", () => {
    // A custom domain without a known id: a shop may have several domains.
    expect(
      otherShopReason("orders/paid", shopOrder(JUNIPER), header, null),
    ).toBeNull();
    // Shopify's older checkout host carries the shop id only.
    const legacy = `https://checkout.shopify.com/${HARBOUR.id}/orders/6ad39c14dadeba57ac8efb1fa7b435c7/authenticate?key=3af52e85`;
    expect(
      otherShopReason(
        "orders/paid",
        shopOrder(HARBOUR, { order_status_url: legacy }),
        header,
        known(HARBOUR.id),
      ),
    ).toBeNull();
    expect(
      otherShopReason(
        "orders/paid",
        shopOrder(HARBOUR, { order_status_url: legacy }),
        header,
        known(JUNIPER.id),
      ),
    ).toMatch(/order_status_url/);
    for (const order_status_url of [
      null,
      "",
      "not a url",
      `https://${JUNIPER.myshopifyDomain}/`,
    ]) {
      expect(
        otherShopReason(
          "orders/paid",
          shopOrder(HARBOUR, { order_status_url }),
          header,
          known(HARBOUR.id),
        ),
      ).toBeNull();
    }
    expect(
      otherShopReason(
        "customers/redact",
        { customer: { id: 1 } },
        header,
        known(HARBOUR.id),
      ),
    ).toBeNull();
    expect(
      otherShopReason(
        "app/scopes_update",
        { id: 1, previous: [], current: ["read_orders"] },
        header,
        known(HARBOUR.id),
      ),
    ).toBeNull();
    for (const body of [null, "text", 42, []])
      expect(
        otherShopReason("shop/redact", body, header, known(HARBOUR.id)),
      ).toBeNull();
  });

  it("compares the order status page's id whatever its host once the id is known", () => {
    expect(orderStatusUrl(JUNIPER)).toBe(
      `https://www.juniper-oak.example/${JUNIPER.id}/orders/b1946ac92492d2347c6235b4d2611184/authenticate?key=f86449591c04f9d6c7005d70c628195f`,
    );
    const onOtherDomain = `https://${JUNIPER.primaryDomain}/${HARBOUR.id}/orders/abc/authenticate?key=k`;
    expect(
      otherShopReason(
        "orders/paid",
        shopOrder(HARBOUR, { order_status_url: onOtherDomain }),
        header,
        known(HARBOUR.id),
      ),
    ).toBeNull();
  });
});

describe("storefrontHost", () => {
  it("keeps host names, lower-cased", () => {
    expect(storefrontHost(" Shop.HarbourTea.example ")).toBe(
      "shop.harbourtea.example",
    );
    expect(storefrontHost("xn--bcher-kva.example")).toBe(
      "xn--bcher-kva.example",
    );
    expect(storefrontHost(PLAIN.myshopifyDomain)).toBe(PLAIN.myshopifyDomain);
  });

  it("refuses anything else", () => {
    for (const raw of [
      "https://shop.example",
      "shop.example/path",
      "shop.example:8080",
      "localhost",
      "127.0.0.1",
      "a..b.example",
      "-a.example",
      "",
      null,
      42,
      "shop example.com",
      `${"a".repeat(64)}.example`,
    ]) {
      expect(storefrontHost(raw), String(raw)).toBeNull();
    }
  });
});
