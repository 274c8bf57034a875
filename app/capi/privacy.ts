import { z } from "zod";
import type { Db, Prisma } from "./db";
import { normalizeAndHash } from "./normalize";
import { numericId } from "./eventId";
import { asJson } from "./outbox";

// Shopify's mandatory privacy webhooks. Everything we hold about a customer is keyed by hashes (customer id,
// email, phone), by order id or by the orders' checkout tokens, so a redaction can find it without the app ever
// storing raw PII.

const idLike = z.union([z.number(), z.string()]).transform((v) => numericId(v));
const customerSchema = z
  .object({ id: idLike.nullish(), email: z.string().nullish(), phone: z.string().nullish() })
  .nullish();

export const customersRedactSchema = z.object({
  shop_domain: z.string().optional(),
  customer: customerSchema,
  orders_to_redact: z.array(idLike).nullish(),
});
export const dataRequestSchema = z.object({
  shop_domain: z.string().optional(),
  customer: customerSchema,
  orders_requested: z.array(idLike).nullish(),
  data_request: z.object({ id: z.union([z.number(), z.string()]) }).nullish(),
});

interface CustomerKeys {
  customerKey: string | null;
  emailHash: string | null;
  phoneHash: string | null;
  orderIds: string[];
}

function keysOf(customer: z.infer<typeof customerSchema>, orders: (string | null)[] | null | undefined): CustomerKeys {
  return {
    customerKey: customer?.id ? normalizeAndHash("external_id", customer.id) : null,
    emailHash: customer?.email ? normalizeAndHash("em", customer.email) : null,
    phoneHash: customer?.phone ? normalizeAndHash("ph", customer.phone) : null,
    orderIds: (orders ?? []).filter((o): o is string => Boolean(o)),
  };
}

function rowsOf(shopId: string, k: CustomerKeys): Prisma.OutboxEventWhereInput {
  const or: Prisma.OutboxEventWhereInput[] = [];
  if (k.customerKey) or.push({ customerKey: k.customerKey });
  if (k.emailHash) or.push({ emailHash: k.emailHash });
  if (k.phoneHash) or.push({ phoneHash: k.phoneHash });
  if (k.orderIds.length) or.push({ orderId: { in: k.orderIds } });
  // No key at all must match nothing, never the whole shop.
  return or.length ? { shopId, OR: or } : { shopId, id: "__none__" };
}

const present = <T>(values: (T | null | undefined)[]): T[] => [...new Set(values.filter((v): v is T => v != null && v !== ""))];

/**
 * Everything held for the customer: rows found by a hashed identifier or an order id, plus every event of those
 * orders' checkouts (browser checkout steps may carry no identifier, only the checkout token).
 */
async function customerScope(db: Db, shopId: string, keys: CustomerKeys) {
  const direct = rowsOf(shopId, keys);
  const linked = await db.outboxEvent.findMany({ where: direct, select: { checkoutToken: true, orderId: true } });
  const orderIds = present([...keys.orderIds, ...linked.map((r) => r.orderId)]);
  const contexts = orderIds.length
    ? await db.browserContext.findMany({ where: { shopId, orderId: { in: orderIds } }, select: { checkoutToken: true } })
    : [];
  const tokens = present([...linked.map((r) => r.checkoutToken), ...contexts.map((c) => c.checkoutToken)]);
  const where: Prisma.OutboxEventWhereInput = tokens.length ? { OR: [direct, { shopId, checkoutToken: { in: tokens } }] } : direct;
  return { where, tokens, orderIds };
}

/** customers/redact: deletes the customer's events (sent or not), their browser context and data requests. */
export async function redactCustomer(db: Db, shopId: string, payload: z.infer<typeof customersRedactSchema>) {
  const keys = keysOf(payload.customer, payload.orders_to_redact);
  const { where, tokens, orderIds } = await customerScope(db, shopId, keys);
  const eventIds = (await db.outboxEvent.findMany({ where, select: { eventId: true } })).map((r) => r.eventId);
  // A data request report lists the customer's hashes and event ids: it is the customer's data too. Reports are
  // few, so they are matched by content (a request may have named the customer by email only).
  const needles = present([keys.customerKey, keys.emailHash, keys.phoneHash, ...eventIds]).map((n) => JSON.stringify(n));
  const reports = await db.dataRequest.findMany({ where: { shopId }, select: { id: true, customerKey: true, report: true } });
  const reportIds = reports
    .filter((r) => (keys.customerKey && r.customerKey === keys.customerKey) || needles.some((n) => JSON.stringify(r.report).includes(n)))
    .map((r) => r.id);
  const shop = await db.shop.findUnique({ where: { id: shopId }, select: { domain: true } });
  const [events, contexts, requests] = await db.$transaction([
    db.outboxEvent.deleteMany({ where }),
    db.browserContext.deleteMany({
      where: {
        shopId,
        OR: [
          { checkoutToken: { in: tokens } },
          { orderId: { in: orderIds } },
          ...(keys.customerKey ? [{ customerKey: keys.customerKey }] : []),
        ],
      },
    }),
    db.dataRequest.deleteMany({ where: { id: { in: reportIds } } }),
    db.webhookReceipt.deleteMany({ where: { shopDomain: shop?.domain ?? "", orderId: { in: orderIds } } }),
  ]);
  return { events: events.count, contexts: contexts.count, dataRequests: requests.count };
}

/** shop/redact (48 h after uninstall): nothing of the shop remains. */
export async function redactShop(db: Db, domain: string) {
  const shop = await db.shop.findUnique({ where: { domain } });
  await db.$transaction([
    ...(shop ? [db.shop.delete({ where: { id: shop.id } })] : []),
    db.session.deleteMany({ where: { shop: domain } }),
    db.webhookReceipt.deleteMany({ where: { shopDomain: domain } }),
  ]);
  return { deleted: Boolean(shop) };
}

/** customers/data_request: a report of what is held for the customer, stored for the merchant to retrieve. */
export async function recordDataRequest(db: Db, shopId: string, payload: z.infer<typeof dataRequestSchema>) {
  const keys = keysOf(payload.customer, payload.orders_requested);
  const rows = await db.outboxEvent.findMany({
    where: (await customerScope(db, shopId, keys)).where,
    orderBy: { receivedAt: "asc" },
    select: {
      eventName: true, eventId: true, status: true, suppressReason: true, orderName: true, orderId: true,
      receivedAt: true, sentAt: true, payload: true, clientIp: true, clientUserAgent: true,
    },
  });
  const report = {
    generatedAt: new Date().toISOString(),
    note:
      "Customer data is stored only as SHA-256 hashes (Meta's match keys). IP address and browser user agent are " +
      "kept only until an event is delivered to Meta or expires.",
    events: rows.map((r) => ({
      event: r.eventName,
      eventId: r.eventId,
      order: r.orderName ?? r.orderId,
      status: r.status,
      suppressReason: r.suppressReason,
      receivedAt: r.receivedAt.toISOString(),
      sentAt: r.sentAt?.toISOString() ?? null,
      hashedUserData: (r.payload as { user_data?: unknown }).user_data ?? {},
      ipAddressHeld: Boolean(r.clientIp),
      userAgentHeld: Boolean(r.clientUserAgent),
    })),
  };
  const requestId = String(payload.data_request?.id ?? `${Date.now()}`);
  await db.dataRequest.upsert({
    where: { shopId_requestId: { shopId, requestId } },
    create: { shopId, requestId, customerKey: keys.customerKey, report: asJson(report) },
    update: { report: asJson(report) },
  });
  return { requestId, events: rows.length };
}
