import { describe, expect, it } from "vitest";
import { mapOrder, parseOrder } from "../../app/core/intake/orderMapping";
import { storefrontKeysMissing } from "../../app/core/intake/missingKeys";
import {
  MISSING_REASONS,
  addMissingKey,
  parseMissingKeys,
} from "../../app/core/outbox/missingKeys";
import { parseSettings } from "../../app/core/reference/settings";
import { MATCH_KEYS } from "../../app/core/wire";
import {
  FIXTURE_SHOP_DOMAIN as SHOP,
  makeOrder,
  makeRedactedOrder,
} from "../fixtures/order";

// decisions 150: why each match key an order lacks is missing, as mapOrder records it.

const NOW = new Date("2026-11-10T20:00:00Z");

function missingOf(body: unknown): Record<string, string> {
  const parsed = parseOrder(body);
  if (!parsed.ok) throw new Error(parsed.reason);
  const mapped = mapOrder(parsed.order, {
    shopDomain: SHOP,
    settings: parseSettings({}),
    now: NOW,
  });
  return parseMissingKeys(mapped.missingKeys);
}

const noBrowser = {
  fbp: "no_browser",
  fbc: "no_browser",
  client_ip_address: "no_browser",
  client_user_agent: "no_browser",
};

const full = makeOrder();
const withoutAddresses = {
  billing_address: null,
  shipping_address: null,
  customer: { ...full.customer, default_address: null },
};

describe("mapOrder: why each missing key is missing", () => {
  it.each<[string, Record<string, unknown>, Record<string, string>]>([
    ["the full fixture lacks nothing", makeOrder(), {}],
    [
      "a guest checkout without a phone or an address: absent from the order",
      makeOrder({
        ...withoutAddresses,
        phone: null,
        customer: null,
      }),
      {
        ph: "absent",
        fn: "absent",
        ln: "absent",
        ct: "absent",
        st: "absent",
        zp: "absent",
        country: "absent",
        external_id: "absent",
      },
    ],
    [
      "a checkout with neither e-mail nor phone: Shopify redacted it (Level 2), the customer id excepted",
      makeRedactedOrder(),
      {
        em: "redacted",
        ph: "redacted",
        fn: "redacted",
        ln: "redacted",
        ct: "redacted",
        st: "redacted",
        zp: "redacted",
        country: "redacted",
        external_id: "absent",
      },
    ],
    [
      "values that normalisation drops are invalid, others of the order stay",
      makeOrder({
        email: "not an address",
        contact_email: null,
        customer: {
          ...full.customer,
          email: "x@@y",
          phone: null,
          default_address: { ...full.customer.default_address, phone: null },
        },
        phone: "12",
        billing_address: { ...full.billing_address, phone: "--" },
        shipping_address: { ...full.shipping_address, phone: null },
        note_attributes: [{ name: "_fbp", value: "not-a-cookie" }],
        landing_site: "/",
        client_details: { browser_ip: "10.0.0.1", user_agent: "bad\u0000ua" },
        browser_ip: null,
      }),
      {
        em: "invalid",
        ph: "invalid",
        fbp: "invalid",
        fbc: "absent",
        client_ip_address: "invalid",
        client_user_agent: "invalid",
      },
    ],
    [
      "a draft order has no buyer's browser, and no contact is not taken for redaction",
      makeRedactedOrder({
        source_name: "shopify_draft_order",
        note_attributes: [],
        landing_site: null,
      }),
      {
        em: "absent",
        ph: "absent",
        fn: "absent",
        ln: "absent",
        ct: "absent",
        st: "absent",
        zp: "absent",
        country: "absent",
        external_id: "absent",
        ...noBrowser,
      },
    ],
    [
      "a point-of-sale order has no buyer's browser",
      makeOrder({
        source_name: "pos",
        note_attributes: [],
        landing_site: null,
        client_details: null,
        browser_ip: null,
      }),
      noBrowser,
    ],
    [
      "an order a staff member created in the admin: its browser is the staff member's",
      makeOrder({ user_id: 42, note_attributes: [], landing_site: null }),
      noBrowser,
    ],
    [
      "a checkout without the theme's cookies or an ad click: absent until its browser's context joins",
      makeOrder({ note_attributes: [], landing_site: "/" }),
      { fbp: "absent", fbc: "absent" },
    ],
  ])("%s", (_name, body, expected) => {
    expect(missingOf(body)).toEqual(expected);
  });
});

describe("storefrontKeysMissing", () => {
  it("names every key a visitor's event lacks, as absent", () => {
    expect(
      parseMissingKeys(
        storefrontKeysMissing(
          { em: ["h"], fbp: "fb.1.1700000000000.1" },
          "203.0.113.9",
          null,
        ),
      ),
    ).toEqual({
      ph: "absent",
      fn: "absent",
      ln: "absent",
      ct: "absent",
      st: "absent",
      zp: "absent",
      country: "absent",
      external_id: "absent",
      fbc: "absent",
      client_user_agent: "absent",
    });
  });
});

describe("the column's text", () => {
  it("reads back what was written, and nothing from an unknown text", () => {
    // Every reason, each on a key of its own, reads back.
    let text = "";
    MISSING_REASONS.forEach((reason, i) => {
      text = addMissingKey(text, MATCH_KEYS[i], reason);
    });
    expect(parseMissingKeys(text)).toEqual(
      Object.fromEntries(MISSING_REASONS.map((r, i) => [MATCH_KEYS[i], r])),
    );
    expect(
      addMissingKey(addMissingKey("", "em", "absent"), "fbc", "invalid"),
    ).toBe("em=absent,fbc=invalid");
    expect(parseMissingKeys("em=absent,fbc=invalid")).toEqual({
      em: "absent",
      fbc: "invalid",
    });
    expect(parseMissingKeys("em=later,=absent,junk")).toEqual({});
    expect(parseMissingKeys(null)).toEqual({});
    expect(parseMissingKeys("")).toEqual({});
  });
});
