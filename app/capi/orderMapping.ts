import { z } from "zod";
import { contentId, contentType } from "./contentIds";
import { numericId, purchaseEventId } from "./eventId";
import { countryCodeOf, normalizeAndHash, type HashField } from "./normalize";
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
  const nowMs = (opts.now ?? new Date()).getTime();
  const source = sourceOf(order.source_name);
  const region = regionOf(order);
  const shopUrl = `https://${opts.shopDomain}/`;
  const landing = httpUrl(order.landing_site, shopUrl);

  const occurredMs = dateMs(order.processed_at) ?? dateMs(order.created_at) ?? nowMs;
  const eventTime = Math.floor(Math.min(occurredMs, nowMs) / 1000);
  const createdMs = Math.min(dateMs(order.created_at) ?? occurredMs, nowMs);

  const customerId = numericId(order.customer?.admin_graphql_api_id) ?? numericId(order.customer?.id);
  const customerKey = normalizeAndHash("external_id", customerId);
  const userData = userDataOf(order, region.countryCode, customerKey);
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
      ? { event_source_url: landing?.href ?? httpUrl(order.order_status_url, shopUrl)?.href ?? shopUrl }
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

function userDataOf(order: ShopifyOrder, orderCountry: string | null, customerKey: string | null): UserData {
  const customer = order.customer;
  // The customer's record first, then the order's addresses; each value is normalised for its address's country.
  const addresses = [customer?.default_address, order.billing_address, order.shipping_address]
    .filter((a): a is Address => Boolean(a))
    .map((a) => ({ ...a, countryCode: countryOf(a) ?? orderCountry }));
  const customerCountry = countryOf(customer?.default_address) ?? orderCountry;

  const userData: UserData = {};
  const put = (key: HashField & keyof UserData, values: Candidate[]) => {
    const hashes = distinctHashes(key, values);
    if (hashes.length) userData[key] = hashes;
  };
  put(
    "em",
    [order.email, order.contact_email, customer?.email].map((email) => [email, null])
  );
  put("ph", [
    [order.phone, orderCountry],
    [customer?.phone, customerCountry],
    ...addresses.map((a): Candidate => [a.phone, a.countryCode]),
  ]);
  put("fn", [
    [customer?.first_name, customerCountry],
    ...addresses.map((a): Candidate => [a.first_name, a.countryCode]),
  ]);
  put("ln", [[customer?.last_name, customerCountry], ...addresses.map((a): Candidate => [a.last_name, a.countryCode])]);
  put(
    "ct",
    addresses.map((a) => [a.city, a.countryCode])
  );
  put(
    "st",
    addresses.map((a) => [a.province_code, a.countryCode])
  );
  put(
    "zp",
    addresses.map((a) => [a.zip, a.countryCode])
  );
  put(
    "country",
    addresses.map((a) => [a.countryCode, a.countryCode])
  );
  if (customerKey) userData.external_id = [customerKey];
  return userData;
}

/** A raw value and the country to normalise it for. */
type Candidate = readonly [raw: unknown, country: string | null];

function distinctHashes(field: HashField, values: Candidate[]): string[] {
  // At most a handful of values: arrays beat Sets here (npm run bench, mapping).
  const hashes: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const [raw, country] = values[i];
    // The same value often comes twice (the customer's default address is usually the billing address): hash it once.
    if (raw == null || isRepeat(values, i)) continue;
    const hash = normalizeAndHash(field, raw, { country });
    if (hash && !hashes.includes(hash)) hashes.push(hash);
  }
  return hashes;
}

function isRepeat(values: Candidate[], i: number): boolean {
  for (let j = 0; j < i; j++) if (values[j][0] === values[i][0] && values[j][1] === values[i][1]) return true;
  return false;
}

const FBC_FORMAT = /^fb\.\d+\.\d+\.\S+$/;
const FBP_FORMAT = /^fb\.\d+\.\d+\.\d+$/;
const MAX_FBCLID_LENGTH = 500;

/** decisions 19: browser `_fbc` (joined later) > cart note attribute `_fbc` > `fbclid` in the landing page. */
function fbcOf(order: ShopifyOrder, landing: URL | null, createdMs: number): string | null {
  const fromCart = noteAttribute(order, "_fbc");
  if (fromCart && FBC_FORMAT.test(fromCart)) return fromCart;
  const fbclid = landing?.searchParams.get("fbclid")?.trim();
  // fbclid is case-sensitive: keep it as sent. Meta says to ignore overlong values.
  if (fbclid && fbclid.length <= MAX_FBCLID_LENGTH) return `fb.1.${createdMs}.${fbclid}`;
  return null;
}

function noteAttribute(order: ShopifyOrder, name: string): string | null {
  const attribute = order.note_attributes?.find((a) => a.name === name);
  return nonEmpty(attribute?.value);
}

function customDataOf(order: ShopifyOrder, settings: ShopSettings): CustomData {
  const total =
    (settings.valueMode === "subtotal" && moneyOf(order.subtotal_price_set, order.subtotal_price, order)) ||
    moneyOf(order.total_price_set, order.total_price, order);
  const custom: CustomData = total
    ? { value: roundMoney(total.amount), currency: total.currency, order_id: order.id }
    : { order_id: order.id };

  const contents: Content[] = [];
  let numItems = 0;
  for (const line of order.line_items ?? []) {
    if (line.quantity === 0) continue;
    numItems += line.quantity;
    const ref = { productId: numericId(line.product_id), variantId: numericId(line.variant_id), sku: line.sku };
    const id = contentId(settings.contentIdFormat, ref, settings.catalogCountry);
    if (!id) continue;
    const price = moneyOf(line.price_set, line.price, order);
    contents.push({
      id,
      quantity: line.quantity,
      // A unit price in another currency than the value would mislead Meta: leave it out.
      ...(price && price.currency === total?.currency ? { item_price: roundMoney(price.amount) } : {}),
    });
  }
  if (contents.length) {
    custom.content_type = contentType(settings.contentIdFormat);
    custom.contents = contents;
    custom.content_ids = [...new Set(contents.map((c) => c.id))];
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

/** An absolute http(s) URL, relative ones resolved against the shop. */
function httpUrl(raw: string | null | undefined, base: string): URL | null {
  const value = nonEmpty(raw);
  if (!value) return null;
  try {
    const url = new URL(value, base);
    return url.protocol === "https:" || url.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}

function dateMs(raw: string | null | undefined): number | null {
  const ms = raw ? Date.parse(raw) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

function nonEmpty(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}
