import { z } from "zod";
import { contentId, contentType } from "./contentIds";
import { numericId, purchaseEventId } from "./eventId";
import { countryCodeOf, hashMatchKeys } from "./normalize";
import type { ShopSettings } from "./settings";
import type { ActionSource, CapiEvent, Content, CustomData, UserData } from "./types";

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
  { error: AMOUNT }
);

const currencyCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{3}$/, "must be a three-letter currency code")
  .transform((s) => s.toUpperCase());

const moneySet = z
  .looseObject({
    presentment_money: z.looseObject({ amount: money, currency_code: currencyCode.nullish() }).nullish(),
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
  product_id: anyId,
  variant_id: anyId,
  sku: text,
  quantity: z.number().int().nonnegative(),
  price: money.nullish(),
  price_set: moneySet,
});

const ID = "must be a numeric id (a positive whole number or a string of digits)";

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
    { error: ID }
  ),
  admin_graphql_api_id: text,
  name: text,
  email: text,
  contact_email: text,
  phone: text,
  browser_ip: text,
  checkout_token: text,
  test: z.boolean().nullish(),
  cancelled_at: text,
  created_at: text,
  processed_at: text,
  source_name: text,
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
  client_details: z.looseObject({ browser_ip: text, user_agent: text }).nullish().catch(null),
  note_attributes: z
    .array(z.looseObject({ name: text, value: text }))
    .nullish()
    .catch(null),
  line_items: z.array(lineItem).nullish(),
});

type OrderFields = z.output<typeof orderFields>;

export const orderSchema = orderFields.transform((order, ctx) => {
  const id = numericId(order.admin_graphql_api_id) ?? numericId(order.id);
  if (!id) {
    ctx.addIssue({ code: "custom", path: ["id"], message: "is beyond 2^53 and admin_graphql_api_id is missing" });
    return z.NEVER;
  }
  if (!moneyOf(order.total_price_set, order.total_price, order)) {
    ctx.addIssue({ code: "custom", path: ["total_price"], message: "a total with a currency is required" });
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
  /** ISO alpha-2, uppercase, from the billing then the shipping address; kept in clear for consent decisions. */
  countryCode: string | null;
  provinceCode: string | null;
  test: boolean;
  sourceKind: OrderSourceKind;
  cancelled: boolean;
  /** Hash of the Shopify customer id (equal to external_id), for redaction lookups. */
  customerKey: string | null;
  emailHashes: string[];
  phoneHashes: string[];
}

const MAX_ISSUES_IN_REASON = 3;

/** Never throws. The reason names paths and rules only, never the values (they may be PII). */
export function parseOrder(body: unknown): { ok: true; order: ShopifyOrder } | { ok: false; reason: string } {
  const parsed = orderSchema.safeParse(body);
  if (parsed.success) return { ok: true, order: parsed.data };
  const reason = parsed.error.issues
    .slice(0, MAX_ISSUES_IN_REASON)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "order"}: ${issue.message}`)
    .join("; ");
  return { ok: false, reason };
}

/** Builds the Purchase for a validated order. Never throws. */
export function mapOrder(
  order: ShopifyOrder,
  opts: { shopDomain: string; settings: ShopSettings; now?: Date }
): MappedOrder {
  const nowMs = opts.now?.getTime() ?? Date.now();
  const source = sourceOf(order.source_name);
  const region = regionOf(order);
  const shopUrl = `https://${opts.shopDomain}/`;
  const landing = httpUrl(order.landing_site, opts.shopDomain);

  const createdAtMs = dateMs(order.created_at);
  const occurredMs = dateMs(order.processed_at) ?? createdAtMs ?? nowMs;
  const eventTime = Math.floor(Math.min(occurredMs, nowMs) / 1000);
  const createdMs = Math.min(createdAtMs ?? occurredMs, nowMs);

  const customerId = numericId(order.customer?.admin_graphql_api_id) ?? numericId(order.customer?.id);
  const userData = userDataOf(order, region.countryCode, customerId);
  const customerKey = userData.external_id?.[0] ?? null;
  const fbc = fbcOf(order, landing, createdMs);
  if (fbc) userData.fbc = fbc;
  const fbp = noteAttribute(order, "_fbp");
  if (fbp && FBP_FORMAT.test(fbp)) userData.fbp = fbp;

  const event: CapiEvent = {
    event_name: "Purchase",
    event_time: eventTime,
    // The schema guarantees a numeric id, so the event id always exists.
    event_id: purchaseEventId(order.id)!,
    action_source: source.actionSource,
    ...(source.actionSource === "website"
      ? { event_source_url: landing?.href ?? httpUrl(order.order_status_url, opts.shopDomain)?.href ?? shopUrl }
      : {}),
    user_data: userData,
    custom_data: customDataOf(order, opts.settings),
  };

  const client = order.client_details;
  return {
    event,
    clientIp: nonEmpty(client?.browser_ip) ?? nonEmpty(order.browser_ip),
    clientUserAgent: nonEmpty(client?.user_agent),
    orderId: order.id,
    orderName: nonEmpty(order.name),
    checkoutToken: nonEmpty(order.checkout_token),
    countryCode: region.countryCode,
    provinceCode: region.provinceCode,
    test: order.test === true,
    sourceKind: source.kind,
    cancelled: nonEmpty(order.cancelled_at) !== null,
    customerKey,
    emailHashes: [...(userData.em ?? [])],
    phoneHashes: [...(userData.ph ?? [])],
  };
}

function sourceOf(sourceName: string | null | undefined): { actionSource: ActionSource; kind: OrderSourceKind } {
  const name = (sourceName ?? "").trim().toLowerCase();
  // Subscription apps name their channel freely ("subscription_contract", "subscription_contract_checkout_one").
  if (name.includes("subscription")) return { actionSource: "system_generated", kind: "subscription" };
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

type Address = NonNullable<OrderFields["billing_address"]>;

/** Country and province of one address (billing first), so the two never come from different addresses. */
function regionOf(order: ShopifyOrder): { countryCode: string | null; provinceCode: string | null } {
  for (const a of [order.billing_address, order.shipping_address]) {
    const countryCode = countryOf(a);
    if (countryCode) return { countryCode, provinceCode: nonEmpty(a?.province_code)?.toUpperCase() ?? null };
  }
  return { countryCode: null, provinceCode: null };
}

function countryOf(a: Address | null | undefined): string | null {
  return a ? countryCodeOf(a.country_code ?? a.country) : null;
}

function userDataOf(order: ShopifyOrder, orderCountry: string | null, customerId: string | null): UserData {
  const customer = order.customer;
  const home = customer?.default_address;
  const billing = order.billing_address;
  const shipping = order.shipping_address;
  // The customer's record first, then the order's addresses; each value is normalised for its address's
  // country (a missing address has no values, and no country to add either).
  const customerCountry = countryOf(home) ?? orderCountry;
  const homeCountry = home ? customerCountry : null;
  const billingCountry = billing ? countryOf(billing) ?? orderCountry : null;
  const shippingCountry = shipping ? countryOf(shipping) ?? orderCountry : null;
  return hashMatchKeys([
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
  ]);
}

const FBC_FORMAT = /^fb\.\d+\.\d+\.\S+$/;
const FBP_FORMAT = /^fb\.\d+\.\d+\.\d+$/;
const MAX_FBCLID_LENGTH = 500;
const FBCLID = "fbclid";

/** decisions 19: browser `_fbc` (joined later) > cart note attribute `_fbc` > `fbclid` in the landing page. */
function fbcOf(order: ShopifyOrder, landing: HttpUrl | null, createdMs: number): string | null {
  const fromCart = noteAttribute(order, "_fbc");
  if (fromCart && FBC_FORMAT.test(fromCart)) return fromCart;
  const fbclid = landing && fbclidOf(landing)?.trim();
  // fbclid is case-sensitive: keep it as sent. Meta says to ignore overlong values.
  if (fbclid && fbclid.length <= MAX_FBCLID_LENGTH) return `fb.1.${createdMs}.${fbclid}`;
  return null;
}

/** The first `fbclid` of the URL's query, as `url.searchParams.get("fbclid")` reads it. */
function fbclidOf(url: HttpUrl): string | null {
  const query = url.search;
  // Only "%" and "+" need decoding in a serialised query. Without them the parameter is found by hand:
  // URLSearchParams, or even splitting the query, cost as much as parsing the URL (npm run bench, mapping).
  if (query.includes("%") || query.includes("+")) return new URLSearchParams(query).get(FBCLID);
  for (let start = 1; start < query.length; ) {
    let end = query.indexOf("&", start);
    if (end === -1) end = query.length;
    if (query.startsWith(FBCLID, start)) {
      const after = start + FBCLID.length;
      if (after === end) return ""; // "…&fbclid&…": present, empty
      if (query[after] === "=") return query.slice(after + 1, end);
    }
    start = end + 1;
  }
  return null;
}

function noteAttribute(order: ShopifyOrder, name: string): string | null {
  for (const attribute of order.note_attributes ?? []) if (attribute.name === name) return nonEmpty(attribute.value);
  return null;
}

function customDataOf(order: ShopifyOrder, settings: ShopSettings): CustomData {
  const total =
    (settings.valueMode === "subtotal" && moneyOf(order.subtotal_price_set, order.subtotal_price, order)) ||
    moneyOf(order.total_price_set, order.total_price, order);
  const custom: CustomData = total
    ? { value: roundMoney(total.amount), currency: total.currency, order_id: order.id }
    : { order_id: order.id };

  const contents: Content[] = [];
  const contentIds: string[] = [];
  let numItems = 0;
  for (const line of order.line_items ?? []) {
    if (line.quantity === 0) continue;
    numItems += line.quantity;
    const ref = { productId: numericId(line.product_id), variantId: numericId(line.variant_id), sku: line.sku };
    const id = contentId(settings.contentIdFormat, ref, settings.catalogCountry);
    if (!id) continue;
    const content: Content = { id, quantity: line.quantity };
    const price = moneyOf(line.price_set, line.price, order);
    // A unit price in another currency than the value would mislead Meta: leave it out.
    if (price && price.currency === total?.currency) content.item_price = roundMoney(price.amount);
    contents.push(content);
    if (!contentIds.includes(id)) contentIds.push(id);
  }
  if (contents.length) {
    custom.content_type = contentType(settings.contentIdFormat);
    custom.contents = contents;
    custom.content_ids = contentIds;
  }
  if (numItems) custom.num_items = numItems;
  return custom;
}

type MoneySet = OrderFields["total_price_set"];

/** The customer's (presentment) money when the *_set is there, else the plain amount in the shop currency. */
function moneyOf(
  set: MoneySet,
  plain: number | null | undefined,
  order: Pick<OrderFields, "currency" | "presentment_currency">
): { amount: number; currency: string } | null {
  const presentment = set?.presentment_money;
  if (presentment) {
    const currency = presentment.currency_code ?? order.presentment_currency ?? order.currency;
    return currency ? { amount: presentment.amount, currency } : null;
  }
  const currency = order.currency ?? order.presentment_currency;
  return plain != null && currency ? { amount: plain, currency } : null;
}

/** Two decimals without binary noise: 1.005 -> 1.01, 0.1 + 0.2 -> 0.3. */
function roundMoney(amount: number): number {
  const cents = amount * 100;
  const whole = Math.round(cents);
  // Almost every amount is whole cents already ("112.44" * 100 is within float noise of 11244): skip toPrecision.
  if (Math.abs(cents - whole) < 1e-7) return whole / 100;
  return Math.round(Number(cents.toPrecision(15))) / 100;
}

/** A parsed http(s) URL: its serialisation and its query ("?…", or "" without one), as `URL` gives them. */
type HttpUrl = Pick<URL, "href" | "search">;

// A path whose characters the URL parser keeps as they are (nothing to percent-encode, no backslash, fragment,
// whitespace or non-ASCII) and without "." segments to resolve (any "/." or "%2e" is left to the parser), on
// a shop domain the parser keeps as it is too (lowercase ASCII labels, no IDN, the last one not a number):
// its URL is the two joined.
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.|%2e/i;
const PLAIN_HOST = /^(?:(?!xn--)[a-z0-9-]+\.)+(?!xn--)[a-z][a-z0-9-]*$/;

/** An absolute http(s) URL, relative ones resolved against the shop. */
function httpUrl(raw: string | null | undefined, shopDomain: string): HttpUrl | null {
  const value = nonEmpty(raw);
  if (!value) return null;
  // Landing pages are such paths: joining them skips `new URL`, the costliest step after hashing (npm run
  // bench, mapping). Anything else is left to the parser.
  if (PLAIN_PATH.test(value) && !DOT_SEGMENT.test(value) && PLAIN_HOST.test(shopDomain)) {
    const query = value.indexOf("?");
    return {
      href: `https://${shopDomain}${value}`,
      search: query === -1 || query === value.length - 1 ? "" : value.slice(query),
    };
  }
  try {
    const url = new URL(value, `https://${shopDomain}/`);
    return url.protocol === "https:" || url.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}

function dateMs(raw: string | null | undefined): number | null {
  if (!raw) return null;
  const ms = shopifyTimestampMs(raw) ?? Date.parse(raw);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Date.parse of the shape Shopify sends, "2026-11-10T14:03:12-05:00" or "2026-11-10T19:03:12.345Z", read by
 * hand: Date.parse cost as much as normalising all the buyer's names (npm run bench, mapping). null for any
 * other shape or a field out of range, which Date.parse then judges.
 */
function shopifyTimestampMs(s: string): number | null {
  const zone = s[19] === "." ? 23 : 19;
  const utc = s.length === zone + 1 && s[zone] === "Z";
  if (!utc && !(s.length === zone + 6 && (s[zone] === "+" || s[zone] === "-") && s[zone + 3] === ":")) return null;
  if (s[4] !== "-" || s[7] !== "-" || s[10] !== "T" || s[13] !== ":" || s[16] !== ":") return null;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const second = digitsAt(s, 17, 2);
  const millis = zone === 23 ? digitsAt(s, 20, 3) : 0;
  const offsetHours = utc ? 0 : digitsAt(s, zone + 1, 2);
  const offsetMinutes = utc ? 0 : digitsAt(s, zone + 4, 2);
  // digitsAt gives -1 for a non-digit. Date.UTC reads years below 100 as 19xx; a day 29-31 past the month's
  // end rolls over in both.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31 || millis < 0) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  if (offsetHours < 0 || offsetHours > 23 || offsetMinutes < 0 || offsetMinutes > 59) return null;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) + (s[zone] === "-" ? offsetMs : -offsetMs);
}

/** The number written with `length` ASCII digits at `start`, or -1. */
function digitsAt(s: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const digit = s.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function nonEmpty(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}
