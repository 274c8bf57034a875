import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { makeOrder } from "../fixtures/order";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import type {
  BrowserEventInput,
  BrowserEventName,
  IngestBodyInput,
  ConsentSnapshot,
} from "../../app/core/wire/ingestBody";
import type { TestApp } from "./app";

// One storefront checkout as both paths see it: the signed order webhook body (region and buyer chosen by the
// test) and the bodies the web pixel posts to /ingest for the same checkout (same checkout token, same
// purchase_<order id>). For the consent, privacy and ops suites.

export const REGIONS = {
  DE: {
    city: "Berlin",
    province: null,
    province_code: null,
    zip: "10117",
    country: "Germany",
    country_code: "DE",
  },
  GB: {
    city: "London",
    province: "England",
    province_code: "ENG",
    zip: "SW1A 1AA",
    country: "United Kingdom",
    country_code: "GB",
  },
  "US-CA": {
    city: "San Francisco",
    province: "California",
    province_code: "CA",
    zip: "94103",
    country: "United States",
    country_code: "US",
  },
  "US-NY": {
    city: "New York",
    province: "New York",
    province_code: "NY",
    zip: "10001",
    country: "United States",
    country_code: "US",
  },
  "US-TX": {
    city: "Austin",
    province: "Texas",
    province_code: "TX",
    zip: "78701",
    country: "United States",
    country_code: "US",
  },
  BR: {
    city: "São Paulo",
    province: "São Paulo",
    province_code: "SP",
    zip: "01310-100",
    country: "Brazil",
    country_code: "BR",
  },
} as const;
/** null: an order without any address (e.g. no protected customer data access). */
export type Region = keyof typeof REGIONS | null;

export interface Buyer {
  id: number;
  email: string;
  phone: string;
  firstName: string;
  lastName: string;
}

export const BROWSER_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

// Ids unique across suites running at the same time and distinct from one another as substrings.
let seq = 0;
const idBase = 7_000_000_000_000 + randomInt(0, 90_000) * 10_000_000;

export function newBuyer(name: string): Buyer {
  const n = randomInt(100_000, 999_999);
  return {
    id: 8_000_000_000_000 + randomInt(0, 999_999_999),
    email: `${name.toLowerCase()}.${n}@example.org`,
    phone: `+1 (212) 555-${String(randomInt(0, 10_000)).padStart(4, "0")}`,
    firstName: name,
    lastName: `Tester${n}`,
  };
}

export interface Checkout {
  orderId: string;
  eventId: string;
  checkoutToken: string;
  fbp: string;
  /** The web pixel's clientId (Shopify's id of the browser), posted with every event and consent update. */
  clientId: string;
  buyer: Buyer | null;
  region: Region;
  /** The orders/paid (or orders/create) webhook body. */
  order: Record<string, unknown>;
}

export function newCheckout(
  opts: { region?: Region; buyer?: Buyer | null; ageDays?: number } = {},
): Checkout {
  const id = idBase + ++seq * 7919;
  const region = opts.region === undefined ? "BR" : opts.region;
  const buyer = opts.buyer ?? null;
  const when = new Date(
    Date.now() - (opts.ageDays ?? 0) * 86_400_000,
  ).toISOString();
  const checkoutToken = randomBytes(16).toString("hex");
  const fbp = `fb.1.${Date.now()}.${randomInt(1, 2_147_483_647)}`;
  const address = region
    ? {
        first_name: buyer?.firstName ?? "Sam",
        last_name: buyer?.lastName ?? "Shopper",
        address1: "1 Test Street",
        address2: null,
        company: null,
        phone: buyer?.phone ?? null,
        ...REGIONS[region],
      }
    : null;
  const order = makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    name: `#${(id % 100_000) + 1000}`,
    token: randomBytes(16).toString("hex"),
    checkout_token: checkoutToken,
    created_at: when,
    processed_at: when,
    email: buyer?.email ?? null,
    contact_email: buyer?.email ?? null,
    phone: buyer?.phone ?? null,
    customer: buyer
      ? {
          id: buyer.id,
          admin_graphql_api_id: `gid://shopify/Customer/${buyer.id}`,
          email: buyer.email,
          phone: buyer.phone,
          first_name: buyer.firstName,
          last_name: buyer.lastName,
          state: "enabled",
          email_marketing_consent: {
            state: "not_subscribed",
            opt_in_level: "single_opt_in",
            consent_updated_at: null,
          },
        }
      : null,
    billing_address: address,
    shipping_address: address,
    note_attributes: [{ name: "_fbp", value: fbp }],
  });
  return {
    orderId: String(id),
    eventId: `purchase_${id}`,
    checkoutToken,
    fbp,
    clientId: randomUUID(),
    buyer,
    region,
    order,
  };
}

/** What the pixel reports for a visitor: Shopify's four booleans. */
export function consent(
  marketingAllowed: boolean,
  saleOfDataAllowed = true,
): ConsentSnapshot {
  return {
    marketingAllowed,
    analyticsProcessingAllowed: true,
    preferencesProcessingAllowed: true,
    saleOfDataAllowed,
  };
}

export async function ingestKeyOf(
  app: Pick<TestApp, "db">,
  shop: string,
): Promise<string> {
  return (await app.db.shop.findUniqueOrThrow({ where: { domain: shop } }))
    .ingestKey;
}

/** A `visitorConsentCollected` update as the pixel posts it, attached to the checkout. */
export function consentBody(
  shop: string,
  key: string,
  c: Pick<Checkout, "checkoutToken" | "clientId">,
  snapshot: ConsentSnapshot,
): IngestBodyInput {
  return {
    v: 1,
    kind: "consent",
    shop,
    key,
    checkout_token: c.checkoutToken,
    client_id: c.clientId,
    consent: snapshot,
  };
}

/** A browser event of this checkout; a Purchase carries purchase_<order id> and the checkout token, as the pixel sends it. */
export function eventBody(
  shop: string,
  key: string,
  c: Checkout,
  name: BrowserEventName,
  snapshot: ConsentSnapshot,
  opts: {
    withCheckout?: boolean;
    eventId?: string;
    hashed?: boolean;
    /** The Purchase's value and currency (default 10 USD). */
    customData?: { value?: number; currency?: string };
  } = {},
): IngestBodyInput {
  const withCheckout = opts.withCheckout ?? name !== "PageView";
  const event: BrowserEventInput = {
    event_name: name,
    event_id:
      opts.eventId ??
      (name === "Purchase"
        ? c.eventId
        : `sh-${randomBytes(8).toString("hex")}`),
    event_time: Math.floor(Date.now() / 1000),
    event_source_url: `https://${shop}/checkouts/cn/${c.checkoutToken}/thank-you`,
    fbp: c.fbp,
    client_id: c.clientId,
    consent: snapshot,
  };
  if (withCheckout) event.checkout_token = c.checkoutToken;
  if (name === "Purchase") {
    event.order_id = `gid://shopify/OrderIdentity/${c.orderId}`;
    event.custom_data = opts.customData ?? { value: 10, currency: "USD" };
  }
  // Without protected customer data access the pixel's checkout has no email or phone: `hashed: false`.
  if (c.buyer && withCheckout && opts.hashed !== false) {
    // Hashed in the browser by the pixel, with Meta's normalisation.
    event.user_data = {
      em: [normalizeAndHash("em", c.buyer.email)!],
      ph: [normalizeAndHash("ph", c.buyer.phone)!],
    };
  }
  return { v: 1, kind: "event", shop, key, event };
}

/** The visitor's address, as a load balancer reports it (the app must run with TRUST_PROXY_HOPS=1 to use it). */
export const VISITOR_IP = "198.51.100.23";

export async function postIngest(
  app: Pick<TestApp, "url">,
  body: IngestBodyInput,
  opts: { ip?: string; userAgent?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  // As the pixel sends it: a text/plain simple request from the storefront's browser, through one proxy.
  const res = await fetch(`${app.url}/ingest`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: {
      "User-Agent": opts.userAgent ?? BROWSER_UA,
      "X-Forwarded-For": opts.ip ?? VISITOR_IP,
    },
  });
  return { status: res.status, body: await res.json() };
}
