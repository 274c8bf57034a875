import { z } from "zod";
import { UNSAFE_TEXT } from "./browserEvent";
import { publicIp } from "./clientIp";
import {
  contentId,
  contentType,
  numericId,
  purchaseEventId,
  safePathAndQuery,
  FBC_PATTERN,
  FBP_PATTERN,
  fbcOfClickId,
  isClickId,
  type ActionSource,
  type CapiEvent,
  type Content,
  type CustomData,
  type UserData,
} from "../wire";
import { countryCodeOf, hashMatchKeys, type MatchKeyValues } from "./normalize";
import { orderShopperKeysMissing, withBrowserKey } from "./missingKeys";
import {
  firstQueryParam,
  httpUrl,
  roundMoney,
  shopifyTimestampMs,
  type HttpUrl,
} from "../fast";
import { letterCode, type ShopSettings } from "../reference";

// Shopify order webhook (orders/create, orders/paid, orders/cancelled) -> one Purchase event.
// Validation is strict only where the Purchase cannot do without a field (the order id, money, currency,
// quantities, the test flag). Buyer fields may be redacted without protected customer data approval, so a
// missing or oddly typed buyer field reads as absent and the order maps with fewer match keys.

/** Optional text: anything that is not a string reads as absent. */
const text = z.string().nullish().catch(null);

/** A Shopify id as sent (number, numeric string or gid); read with `numericId`, never trusted as a number. */
const anyId = z.union([z.number(), z.string()]).nullish().catch(null);

const AMOUNT = "must be an amount (a number or a decimal string)";
const money = z.union(
  [
    z.number(AMOUNT), // zod numbers are finite
    z
      .string()
      .trim()
      .regex(/^-?\d+(\.\d+)?$/, AMOUNT)
      .transform(Number),
  ],
  { error: AMOUNT },
);

const currencyCode = letterCode(3, "must be a three-letter currency code");

const moneySet = z
  .looseObject({
    presentment_money: z
      .looseObject({ amount: money, currency_code: currencyCode.nullish() })
      .nullish(),
  })
  .nullish();

const address = z
  .looseObject({
    first_name: text,
    last_name: text,
    city: text,
    province_code: text,
    zip: text,
    country: text,
    country_code: text,
    phone: text,
  })
  .nullish()
  .catch(null);

const lineItem = z.looseObject({
  /** Set when the line was bought on a selling plan (a subscription, pre-order or try-before-you-buy plan). */
  selling_plan_allocation: z.unknown().optional(),
  product_id: anyId,
  variant_id: anyId,
  sku: text,
  quantity: z.number().int().nonnegative(),
  price: money.nullish(),
  price_set: moneySet,
});

const ID =
  "must be a numeric id (a positive whole number or a string of digits)";

const orderFields = z.looseObject({
  // JSON numbers above 2^53 lose digits, so the gid (a string) is preferred below.
  id: z.union(
    [
      z.number().positive(ID).refine(Number.isInteger, ID),
      z
        .string()
        .trim()
        .regex(/^0*[1-9]\d*$/, ID),
    ],
    { error: ID },
  ),
  admin_graphql_api_id: text,
  name: text,
  email: text,
  contact_email: text,
  phone: text,
  browser_ip: text,
  checkout_token: text,
  /** The staff member who created the order (admin, draft order, point of sale); null for the buyer's checkout. */
  user_id: anyId,
  test: z.boolean().nullish(),
  cancelled_at: text,
  /** "refunded" once every payment was given back (a reconciled order read after its refund; decisions 68). */
  financial_status: text,
  created_at: text,
  processed_at: text,
  updated_at: text,
  source_name: text,
  /** Comma-separated, as the admin shows them: subscription apps mark their orders here. */
  tags: text,
  landing_site: text,
  order_status_url: text,
  currency: currencyCode.nullish(),
  presentment_currency: currencyCode.nullish(),
  total_price: money.nullish(),
  subtotal_price: money.nullish(),
  total_price_set: moneySet,
  subtotal_price_set: moneySet,
  customer: z
    .looseObject({
      id: anyId,
      admin_graphql_api_id: text,
      email: text,
      phone: text,
      first_name: text,
      last_name: text,
      default_address: address,
    })
    .nullish()
    .catch(null),
  billing_address: address,
  shipping_address: address,
  client_details: z
    .looseObject({ browser_ip: text, user_agent: text })
    .nullish()
    .catch(null),
  note_attributes: z
    .array(z.looseObject({ name: text, value: text }))
    .nullish()
    .catch(null),
  line_items: z.array(lineItem).nullish(),
  payment_terms: z
    .looseObject({
      payment_schedules: z
        .array(z.looseObject({ completed_at: text }))
        .nullish()
        .catch(null),
    })
    .nullish()
    .catch(null),
});

type OrderFields = z.output<typeof orderFields>;

export const orderSchema = orderFields.transform((order, ctx) => {
  const id = numericId(order.admin_graphql_api_id) ?? numericId(order.id);
  if (!id) {
    ctx.addIssue({
      code: "custom",
      path: ["id"],
      message: "is beyond 2^53 and admin_graphql_api_id is missing",
    });
    return z.NEVER;
  }
  if (!moneyOf(order.total_price_set, order.total_price, order)) {
    ctx.addIssue({
      code: "custom",
      path: ["total_price"],
      message: "a total with a currency is required",
    });
    return z.NEVER;
  }
  return { ...order, id };
});

/** A validated order; `id` is the numeric order id as a string. */
export type ShopifyOrder = z.output<typeof orderSchema>;

export type OrderSourceKind = "online" | "draft" | "pos" | "subscription";

export interface MappedOrder {
  /** user_data carries no client_ip_address / client_user_agent: those are stored apart and erased after delivery. */
  event: CapiEvent;
  clientIp: string | null;
  clientUserAgent: string | null;
  /** Numeric order id as a string. */
  orderId: string;
  orderName: string | null;
  checkoutToken: string | null;
  /**
   * ISO alpha-2, uppercase, from the shipping then the billing address; kept in clear for consent decisions. Without
   * an address, the release rule looks at the IP address and the shop's sales country (decisions 66).
   */
  countryCode: string | null;
  provinceCode: string | null;
  /** The order's updated_at: which of two webhooks of the order shows it newer (decisions 67). */
  updatedAt: Date | null;
  test: boolean;
  sourceKind: OrderSourceKind;
  /**
   * The optional `Subscribe` of a subscription's first order (decisions 74): the Purchase's event under its own name
   * and id, with the value of the lines bought on a selling plan. Null for any other order.
   */
  subscribe: CapiEvent | null;
  cancelled: boolean;
  /** Refunded in full as the payload shows it (decisions 68). */
  refunded: boolean;
  /** Hash of the Shopify customer id (equal to external_id), for redaction lookups. */
  customerKey: string | null;
  emailHashes: string[];
  phoneHashes: string[];
  /** Why each match key the event lacks is missing, as the order shows it (decisions 150). */
  missingKeys: string;
}

const MAX_ISSUES_IN_REASON = 3;

/** Never throws. The reason names paths and rules only, never the values (they may be PII). */
export function parseOrder(
  body: unknown,
): { ok: true; order: ShopifyOrder } | { ok: false; reason: string } {
  const parsed = orderSchema.safeParse(body);
  if (parsed.success) return { ok: true, order: parsed.data };
  const reason = parsed.error.issues
    .slice(0, MAX_ISSUES_IN_REASON)
    .map(
      (issue) =>
        `${issue.path.length ? issue.path.join(".") : "order"}: ${issue.message}`,
    )
    .join("; ");
  return { ok: false, reason };
}

/**
 * Builds the Purchase for a validated order. Never throws. `storefrontOrigin` is the shop's primary domain
 * ("https://shop.example"), where its pixel runs; without it, the myshopify domain (decisions 37). `topic` and
 * `triggeredAt` (X-Shopify-Triggered-At) are the webhook's: an orders/paid Purchase happened when the order was paid.
 */
export function mapOrder(
  order: ShopifyOrder,
  opts: {
    shopDomain: string;
    storefrontOrigin?: string;
    settings: ShopSettings;
    now?: Date;
    topic?: string;
    triggeredAt?: string | null;
  },
): MappedOrder {
  const nowMs = opts.now?.getTime() ?? Date.now();
  const subscription = subscriptionOrder(order);
  const source = sourceOf(order, subscription);
  const region = regionOf(order);
  const landingSite = nonEmpty(order.landing_site);
  const landing = landingSite ? httpUrl(landingSite, STOREFRONT_BASE) : null;
  const storefront = opts.storefrontOrigin ?? `https://${opts.shopDomain}`;

  const createdAtMs = dateMs(order.created_at);
  // Shopify usually sends the same time for both: parsed once.
  const placedMs =
    (order.processed_at === order.created_at
      ? createdAtMs
      : dateMs(order.processed_at)) ?? createdAtMs;
  // decisions 32: an orders/paid Purchase happened when the order was paid. A bank transfer, cash on delivery or
  // payment terms can settle days after the order was placed, past Meta's window for that time.
  const paidMs =
    opts.topic === "orders/paid"
      ? (paidAtMs(order) ?? dateMs(opts.triggeredAt))
      : null;
  const occurredMs = paidMs ?? placedMs ?? nowMs;
  const eventTime = Math.floor(Math.min(occurredMs, nowMs) / 1000);
  const createdMs = Math.min(createdAtMs ?? placedMs ?? nowMs, nowMs);

  const customerId =
    numericId(order.customer?.admin_graphql_api_id) ??
    numericId(order.customer?.id);
  const matchKeys = orderMatchKeys(order, region.countryCode, customerId);
  const unmatched: MatchKeyValues[] = [];
  const userData: UserData = hashMatchKeys(matchKeys, unmatched);
  const customerKey = userData.external_id?.[0] ?? null;
  const fbc = fbcOf(order, landing, createdMs);
  if (fbc) userData.fbc = fbc;
  const fbp = noteAttribute(order, "_fbp");
  if (fbp && FBP_PATTERN.test(fbp)) userData.fbp = fbp;

  // decisions 31: on an order a staff member created, client_details and browser_ip are the staff member's admin
  // session, not the buyer's browser (the buyer's own checkout context, if any, joins later by checkout token).
  const staffCreated =
    source.kind === "draft" || numericId(order.user_id) !== null;
  const client = staffCreated ? null : order.client_details;
  const clientIp = staffCreated
    ? null
    : (publicIp(client?.browser_ip) ?? publicIp(order.browser_ip));
  const clientUserAgent = userAgentOf(client?.user_agent);
  // decisions 150: a buyer's own checkout, in a browser; its missing keys are explained from what the order carried.
  const buyerCheckout =
    !staffCreated && source.kind !== "pos" && source.kind !== "subscription";
  let missingKeys = orderShopperKeysMissing(
    unmatched,
    matchKeys,
    buyerCheckout,
  );
  missingKeys = withBrowserKey(
    missingKeys,
    "fbp",
    userData.fbp,
    fbp,
    buyerCheckout,
  );
  missingKeys = withBrowserKey(
    missingKeys,
    "fbc",
    fbc,
    fbc ? null : noteAttribute(order, "_fbc"),
    buyerCheckout,
  );
  missingKeys = withBrowserKey(
    missingKeys,
    "client_ip_address",
    clientIp,
    client?.browser_ip ?? order.browser_ip,
    buyerCheckout,
  );
  missingKeys = withBrowserKey(
    missingKeys,
    "client_user_agent",
    clientUserAgent,
    client?.user_agent,
    buyerCheckout,
  );

  const event: CapiEvent = {
    event_name: "Purchase",
    event_time: eventTime,
    // The schema guarantees a numeric id, so the event id always exists.
    event_id: purchaseEventId(order.id)!,
    action_source: source.actionSource,
    // The landing page, else the home page, on the storefront: never the order status page (it carries the order's
    // access key) nor any other private link (decisions 36, 37).
    ...(source.actionSource === "website"
      ? {
          event_source_url:
            storefront +
            (landing
              ? safePathAndQuery(landing.pathname, landing.search)
              : "/"),
        }
      : {}),
    user_data: userData,
    custom_data: customDataOf(order, opts.settings),
  };

  return {
    event,
    clientIp,
    clientUserAgent,
    orderId: order.id,
    orderName: nonEmpty(order.name),
    checkoutToken: nonEmpty(order.checkout_token),
    countryCode: region.countryCode,
    provinceCode: region.provinceCode,
    updatedAt: dateOf(order.updated_at),
    test: order.test === true,
    sourceKind: source.kind,
    subscribe: subscription === "first" ? subscribeOf(order, event) : null,
    cancelled: nonEmpty(order.cancelled_at) !== null,
    refunded: order.financial_status === "refunded",
    customerKey,
    emailHashes: userData.em?.slice() ?? [],
    phoneHashes: userData.ph?.slice() ?? [],
    missingKeys,
  };
}

function sourceOf(
  order: ShopifyOrder,
  subscription: "first" | "renewal" | null,
): {
  actionSource: ActionSource;
  kind: OrderSourceKind;
} {
  // decisions 69: a renewal is an order the subscription billed, not the buyer; the first order of a subscription
  // is the buyer's own checkout and maps as one.
  if (subscription === "renewal")
    return { actionSource: "system_generated", kind: "subscription" };
  const name = (order.source_name ?? "").trim().toLowerCase();
  switch (name) {
    case "web":
      return { actionSource: "website", kind: "online" };
    case "pos":
      return { actionSource: "physical_store", kind: "pos" };
    case "shopify_draft_order":
      return { actionSource: "system_generated", kind: "draft" };
    default:
      return { actionSource: "other", kind: "online" };
  }
}

/**
 * Orders a subscription contract billed: Shopify's own billing attempts (Shopify Subscriptions, and the apps built on
 * its contracts: Seal, Loop, Appstle, Skio, Recharge's Shopify Checkout Integration) have these source names.
 */
const RENEWAL_SOURCES = new Set([
  "subscription_contract",
  "subscription_contract_checkout_one",
]);
/** Subscription apps' order tags (lower case): Recharge and Skio, then Appstle. */
const RENEWAL_TAGS = new Set([
  "subscription recurring order",
  "appstle_subscription_recurring_order",
]);
const FIRST_ORDER_TAGS = new Set([
  "subscription first order",
  "appstle_subscription_first_order",
]);

/**
 * Whether an order belongs to a subscription (decisions 69): "renewal" when the subscription billed it (its source
 * or a subscription app's tag says so), "first" when the buyer's checkout started one (a line on a selling plan, or
 * a first-order tag), else null. Never by a word in `source_name` alone: a channel may be called anything.
 */
export function subscriptionOrder(
  order: Pick<ShopifyOrder, "source_name" | "tags" | "line_items">,
): "first" | "renewal" | null {
  const source = (order.source_name ?? "").trim().toLowerCase();
  if (RENEWAL_SOURCES.has(source)) return "renewal";
  // Most orders have no tags: nothing to split then.
  let firstOrderTag = false;
  if (order.tags) {
    for (const tag of order.tags.split(",")) {
      const t = tag.trim().toLowerCase();
      if (RENEWAL_TAGS.has(t)) return "renewal";
      if (FIRST_ORDER_TAGS.has(t)) firstOrderTag = true;
    }
  }
  if (
    firstOrderTag ||
    (order.line_items ?? []).some((line) => line.selling_plan_allocation)
  )
    return "first";
  return null;
}

/** The Subscribe's event id: one per order, as the Purchase's (decisions 74). */
export const subscribeEventId = (orderId: string) => `subscribe_${orderId}`;

/**
 * decisions 74: the Subscribe of a first order, its id derived from the order (`subscribe_<order id>`) so a redelivery
 * makes no second one. Its value is what the lines on a selling plan cost in the order's currency; a first order
 * known by its tag alone (no such line) takes the order's value.
 */
function subscribeOf(order: ShopifyOrder, purchase: CapiEvent): CapiEvent {
  const custom = purchase.custom_data ?? {};
  let planned = 0;
  for (const line of order.line_items ?? []) {
    if (!line.selling_plan_allocation) continue;
    const price = moneyOf(line.price_set, line.price, order);
    if (price && price.currency === custom.currency)
      planned += price.amount * line.quantity;
  }
  return {
    ...purchase,
    event_name: "Subscribe",
    event_id: subscribeEventId(order.id),
    custom_data: {
      value: planned > 0 ? roundMoney(planned) : custom.value,
      currency: custom.currency,
      order_id: order.id,
    },
  };
}

type Address = NonNullable<OrderFields["billing_address"]>;

/**
 * Country and province of one address, so the two never come from different addresses: shipping first, where the
 * buyer receives the goods, then billing (decisions 66).
 */
function regionOf(order: ShopifyOrder): {
  countryCode: string | null;
  provinceCode: string | null;
} {
  for (const a of [order.shipping_address, order.billing_address]) {
    const countryCode = countryOf(a);
    if (countryCode)
      return {
        countryCode,
        provinceCode: nonEmpty(a?.province_code)?.toUpperCase() ?? null,
      };
  }
  return { countryCode: null, provinceCode: null };
}

function countryOf(a: Address | null | undefined): string | null {
  return a ? countryCodeOf(a.country_code ?? a.country) : null;
}

/** The order's candidate values of each shopper key, for hashMatchKeys (and the reasons of the missing ones). */
function orderMatchKeys(
  order: ShopifyOrder,
  orderCountry: string | null,
  customerId: string | null,
): MatchKeyValues[] {
  const customer = order.customer;
  const home = customer?.default_address;
  const billing = order.billing_address;
  const shipping = order.shipping_address;
  // The customer's record first, then the order's addresses; each value is normalised for its address's
  // country (a missing address has no values, and no country to add either).
  const customerCountry = countryOf(home) ?? orderCountry;
  const homeCountry = home ? customerCountry : null;
  const billingCountry = billing ? (countryOf(billing) ?? orderCountry) : null;
  const shippingCountry = shipping
    ? (countryOf(shipping) ?? orderCountry)
    : null;
  // Each field read by its name: a helper reading `address[field]` for every key cost ~1 µs of ~20 per order
  // (npm run bench, mapping).
  return [
    [
      "em",
      [
        [order.email, null],
        [order.contact_email, null],
        [customer?.email, null],
      ],
    ],
    [
      "ph",
      [
        [order.phone, orderCountry],
        [customer?.phone, customerCountry],
        [home?.phone, homeCountry],
        [billing?.phone, billingCountry],
        [shipping?.phone, shippingCountry],
      ],
    ],
    [
      "fn",
      [
        [customer?.first_name, customerCountry],
        [home?.first_name, homeCountry],
        [billing?.first_name, billingCountry],
        [shipping?.first_name, shippingCountry],
      ],
    ],
    [
      "ln",
      [
        [customer?.last_name, customerCountry],
        [home?.last_name, homeCountry],
        [billing?.last_name, billingCountry],
        [shipping?.last_name, shippingCountry],
      ],
    ],
    [
      "ct",
      [
        [home?.city, homeCountry],
        [billing?.city, billingCountry],
        [shipping?.city, shippingCountry],
      ],
    ],
    [
      "st",
      [
        [home?.province_code, homeCountry],
        [billing?.province_code, billingCountry],
        [shipping?.province_code, shippingCountry],
      ],
    ],
    [
      "zp",
      [
        [home?.zip, homeCountry],
        [billing?.zip, billingCountry],
        [shipping?.zip, shippingCountry],
      ],
    ],
    [
      "country",
      [
        [homeCountry, homeCountry],
        [billingCountry, billingCountry],
        [shippingCountry, shippingCountry],
      ],
    ],
    ["external_id", [[customerId, null]]],
  ];
}

const FBCLID = "fbclid";

/** decisions 19: browser `_fbc` (joined later) > cart note attribute `_fbc` > `fbclid` in the landing page. */
function fbcOf(
  order: ShopifyOrder,
  landing: HttpUrl | null,
  createdMs: number,
): string | null {
  const fromCart = noteAttribute(order, "_fbc");
  if (fromCart && FBC_PATTERN.test(fromCart)) return fromCart;
  const fbclid = landing && firstQueryParam(landing, FBCLID)?.trim();
  // fbclid is case-sensitive: kept as sent, when it is one (decisions 30).
  if (fbclid && isClickId(fbclid)) return fbcOfClickId(fbclid, createdMs);
  return null;
}

function noteAttribute(order: ShopifyOrder, name: string): string | null {
  for (const attribute of order.note_attributes ?? [])
    if (attribute.name === name) return nonEmpty(attribute.value);
  return null;
}

function customDataOf(order: ShopifyOrder, settings: ShopSettings): CustomData {
  const total =
    (settings.valueMode === "subtotal" &&
      moneyOf(order.subtotal_price_set, order.subtotal_price, order)) ||
    moneyOf(order.total_price_set, order.total_price, order);
  const custom: CustomData = total
    ? {
        value: roundMoney(total.amount),
        currency: total.currency,
        order_id: order.id,
      }
    : { order_id: order.id };

  const contents: Content[] = [];
  // A Set: de-duplicating by Array.includes took seconds on a 50,000-line order.
  const contentIds = new Set<string>();
  let numItems = 0;
  for (const line of order.line_items ?? []) {
    if (line.quantity === 0) continue;
    numItems += line.quantity;
    const ref = {
      productId: numericId(line.product_id),
      variantId: numericId(line.variant_id),
      sku: line.sku,
    };
    const id = contentId(
      settings.contentIdFormat,
      ref,
      settings.catalogCountry,
    );
    if (!id) continue;
    const content: Content = { id, quantity: line.quantity };
    const price = moneyOf(line.price_set, line.price, order);
    // A unit price in another currency than the value would mislead Meta: leave it out.
    if (price && price.currency === total?.currency)
      content.item_price = roundMoney(price.amount);
    contents.push(content);
    contentIds.add(id);
  }
  if (contents.length) {
    custom.content_type = contentType(settings.contentIdFormat);
    custom.contents = contents;
    custom.content_ids = [...contentIds];
  }
  if (numItems) custom.num_items = numItems;
  return custom;
}

type MoneySet = OrderFields["total_price_set"];

/** The customer's (presentment) money when the *_set is there, else the plain amount in the shop currency. */
function moneyOf(
  set: MoneySet,
  plain: number | null | undefined,
  order: Pick<OrderFields, "currency" | "presentment_currency">,
): { amount: number; currency: string } | null {
  const presentment = set?.presentment_money;
  if (presentment) {
    const currency =
      presentment.currency_code ?? order.presentment_currency ?? order.currency;
    return currency ? { amount: presentment.amount, currency } : null;
  }
  const currency = order.currency ?? order.presentment_currency;
  return plain != null && currency ? { amount: plain, currency } : null;
}

/** Relative landing pages resolve against a storefront; only their path and query are used (decisions 37). */
const STOREFRONT_BASE = "https://storefront.invalid/";

/** When a paid order was paid, if it says: the last completed payment of its payment terms. */
function paidAtMs(order: ShopifyOrder): number | null {
  let paid: number | null = null;
  for (const schedule of order.payment_terms?.payment_schedules ?? []) {
    const ms = dateMs(schedule.completed_at);
    if (ms !== null && (paid === null || ms > paid)) paid = ms;
  }
  return paid;
}

/** A user agent as a browser sends it: control characters or invalid Unicode mean it is not one. */
function userAgentOf(raw: string | null | undefined): string | null {
  const ua = nonEmpty(raw);
  return ua && !UNSAFE_TEXT.test(ua) ? ua : null;
}

function dateOf(raw: string | null | undefined): Date | null {
  const ms = dateMs(raw);
  return ms === null ? null : new Date(ms);
}

function dateMs(raw: string | null | undefined): number | null {
  if (!raw) return null;
  const ms = shopifyTimestampMs(raw) ?? Date.parse(raw);
  return Number.isFinite(ms) ? ms : null;
}

function nonEmpty(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}
