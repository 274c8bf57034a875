import { z } from "zod";

// Shopify's orders as the Admin GraphQL API gives them, and the one mapping rule from there to the REST order of
// the webhooks (decisions 77): reconciliation feeds the webhook's intake (parseOrder, mapOrder) with the same shape,
// so an order makes the same Purchase whichever way it came. Only fields read_orders gives are asked for.

/** Orders per page, and line items per order in it: the query's requested cost stays near 500 of the 1,000 allowed. */
export const PAGE_SIZE = 10;
const LINES = 25;

const MONEY = `shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }`;
const ADDRESS = `firstName lastName city provinceCode zip country countryCodeV2 phone`;
const LINE_ITEMS = `pageInfo { hasNextPage endCursor }
    nodes { quantity sku variant { id } product { id } originalUnitPriceSet { ${MONEY} } }`;

export const ORDERS_QUERY = `#graphql
query ReconcileOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name email phone test cancelledAt createdAt processedAt updatedAt sourceName clientIp statusPageUrl
      displayFinancialStatus currencyCode presentmentCurrencyCode
      totalPriceSet { ${MONEY} }
      subtotalPriceSet { ${MONEY} }
      customer { id email phone firstName lastName defaultAddress { ${ADDRESS} } }
      billingAddress { ${ADDRESS} }
      shippingAddress { ${ADDRESS} }
      customAttributes { key value }
      customerJourneySummary { firstVisit { landingPage } }
      paymentTerms { paymentSchedules(first: 10) { nodes { completedAt } } }
      lineItems(first: ${LINES}) { ${LINE_ITEMS} }
    }
  }
}`;

/** The rest of an order's lines, past the first page. */
export const LINE_ITEMS_QUERY = `#graphql
query ReconcileOrderLines($id: ID!, $after: String) {
  order(id: $id) { lineItems(first: 100, after: $after) { ${LINE_ITEMS} } }
}`;

export const ORDERS_COUNT_QUERY = `#graphql
query ReconcileOrdersCount($query: String!) {
  ordersCount(query: $query, limit: null) { count precision }
}`;

/** Shopify's search syntax for orders updated at or after `since` (decisions 77: updated, not created). */
export function updatedSince(since: Date): string {
  return `updated_at:>='${since.toISOString()}'`;
}

/** Shopify's search syntax for orders created at or after `since`: the home page's count of the period's orders. */
export function createdSince(since: Date): string {
  return `created_at:>='${since.toISOString()}'`;
}

const pageInfo = z.object({
  hasNextPage: z.boolean(),
  endCursor: z.string().nullable(),
});
const lineConnection = z.object({
  pageInfo,
  nodes: z.array(z.looseObject({})),
});

/** What a page must be for the run to go on; the orders themselves are read leniently by `restOrderOf`. */
export const ordersPage = z.object({
  orders: z.object({
    pageInfo,
    nodes: z.array(
      z.looseObject({
        id: z.string().regex(/^gid:\/\/shopify\/Order\/\d+$/),
        updatedAt: z.iso.datetime({ offset: true }),
        displayFinancialStatus: z.string().nullish(),
        lineItems: lineConnection,
      }),
    ),
  }),
});
export type OrderNode = z.output<typeof ordersPage>["orders"]["nodes"][number];

export const lineItemsPage = z.object({
  order: z.object({ lineItems: lineConnection }).nullable(),
});

export const ordersCount = z.object({
  ordersCount: z.object({ count: z.number().int().nonnegative() }),
});

/** Paid as `orders/paid` means it (decisions 77): Shopify sends that webhook once an order is paid in full. */
const PAID = new Set(["PAID", "PARTIALLY_REFUNDED", "REFUNDED"]);
export function isPaid(node: OrderNode): boolean {
  return PAID.has(node.displayFinancialStatus ?? "");
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null;
const nodesOf = (v: unknown): Obj[] => {
  const nodes = obj(v)?.nodes;
  return Array.isArray(nodes) ? (nodes.map(obj).filter(Boolean) as Obj[]) : [];
};

function moneySet(v: unknown) {
  const set = obj(v);
  if (!set) return null;
  const side = (m: unknown) => {
    const money = obj(m);
    return money
      ? { amount: money.amount, currency_code: money.currencyCode }
      : null;
  };
  return {
    shop_money: side(set.shopMoney),
    presentment_money: side(set.presentmentMoney),
  };
}

function address(v: unknown) {
  const a = obj(v);
  return a
    ? {
        first_name: a.firstName,
        last_name: a.lastName,
        city: a.city,
        province_code: a.provinceCode,
        zip: a.zip,
        country: a.country,
        country_code: a.countryCodeV2,
        phone: a.phone,
      }
    : null;
}

/**
 * The REST webhook order of a GraphQL order, with its lines (the first page's and any fetched after). The
 * GraphQL API has no checkout token, user agent or staff member: those read as absent, and the order's IP
 * address is taken only from an online store order, never one staff may have keyed in (decisions 31, 77).
 */
export function restOrderOf(node: OrderNode, lines: Obj[]): Obj {
  const customer = obj(node.customer);
  const total = obj(node.totalPriceSet);
  const subtotal = obj(node.subtotalPriceSet);
  return {
    id: node.id.slice(node.id.lastIndexOf("/") + 1),
    admin_graphql_api_id: node.id,
    name: node.name,
    email: node.email,
    phone: node.phone,
    test: node.test,
    cancelled_at: node.cancelledAt,
    // GraphQL's REFUNDED, PARTIALLY_REFUNDED… are the REST payload's values in capitals.
    financial_status: node.displayFinancialStatus?.toLowerCase() ?? null,
    created_at: node.createdAt,
    processed_at: node.processedAt,
    source_name: node.sourceName,
    browser_ip: node.sourceName === "web" ? node.clientIp : null,
    landing_site: obj(obj(node.customerJourneySummary)?.firstVisit)
      ?.landingPage,
    order_status_url: node.statusPageUrl,
    currency: node.currencyCode,
    presentment_currency: node.presentmentCurrencyCode,
    total_price: obj(obj(total)?.shopMoney)?.amount,
    subtotal_price: obj(obj(subtotal)?.shopMoney)?.amount,
    total_price_set: moneySet(total),
    subtotal_price_set: moneySet(subtotal),
    customer: customer
      ? {
          id: customer.id,
          admin_graphql_api_id: customer.id,
          email: customer.email,
          phone: customer.phone,
          first_name: customer.firstName,
          last_name: customer.lastName,
          default_address: address(customer.defaultAddress),
        }
      : null,
    billing_address: address(node.billingAddress),
    shipping_address: address(node.shippingAddress),
    note_attributes: Array.isArray(node.customAttributes)
      ? node.customAttributes.map((a: Obj) => ({
          name: obj(a)?.key,
          value: obj(a)?.value,
        }))
      : null,
    line_items: lines.map((line) => ({
      product_id: obj(line.product)?.id ?? null,
      variant_id: obj(line.variant)?.id ?? null,
      sku: line.sku,
      quantity: line.quantity,
      price: obj(obj(line.originalUnitPriceSet)?.shopMoney)?.amount,
      price_set: moneySet(line.originalUnitPriceSet),
    })),
    payment_terms: obj(node.paymentTerms)
      ? {
          payment_schedules: nodesOf(
            obj(node.paymentTerms)!.paymentSchedules,
          ).map((s) => ({ completed_at: s.completedAt })),
        }
      : null,
  };
}
