import { z } from "zod";
import type { Db } from "../db";
import { normalizeAndHash } from "../intake";
import { numericId } from "../wire";
import { deleteShop } from "../shops";
import {
  asJson,
  type CustomerKeys,
  type Deletes,
  type Outbox,
  storableText,
} from "../outbox";

// Shopify's mandatory privacy webhooks. Everything we hold about a customer is keyed by hashes (customer id,
// email, phone), by order id or by the orders' checkout tokens, so a redaction can find it without the app ever
// storing raw PII.

const idLike = z.union([z.number(), z.string()]).transform((v) => numericId(v));
const customerSchema = z
  .object({
    id: idLike.nullish(),
    email: z.string().nullish(),
    phone: z.string().nullish(),
  })
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

function keysOf(
  customer: z.infer<typeof customerSchema>,
  orders: (string | null)[] | null | undefined,
): CustomerKeys {
  return {
    customerKey: customer?.id
      ? normalizeAndHash("external_id", customer.id)
      : null,
    emailHash: customer?.email ? normalizeAndHash("em", customer.email) : null,
    phoneHash: customer?.phone ? normalizeAndHash("ph", customer.phone) : null,
    orderIds: (orders ?? []).filter((o): o is string => Boolean(o)),
  };
}

/** The customer's keys, and what the shop's outbox holds of them. */
async function findCustomer(
  outbox: Outbox,
  shopId: string,
  customer: z.infer<typeof customerSchema>,
  orders: (string | null)[] | null | undefined,
) {
  const keys = keysOf(customer, orders);
  return { keys, scope: await outbox.customerScope(shopId, keys) };
}

/** Whether a JSON value holds one of these strings (at any depth). */
function mentions(value: unknown, needles: Set<string>): boolean {
  if (typeof value === "string") return needles.has(value);
  return Boolean(
    value &&
    typeof value === "object" &&
    Object.values(value).some((v) => mentions(v, needles)),
  );
}

/** customers/redact: deletes the customer's events (sent or not), their browser context and data requests. */
export async function redactCustomer(
  db: Db,
  outbox: Outbox,
  shopId: string,
  payload: z.infer<typeof customersRedactSchema>,
) {
  const { keys, scope } = await findCustomer(
    outbox,
    shopId,
    payload.customer,
    payload.orders_to_redact,
  );
  // A data request report lists the customer's hashes and event ids: it is the customer's data too. Reports are
  // few, so they are matched by content (a request may have named the customer by email only).
  const needles = new Set(
    [
      keys.customerKey,
      keys.emailHash,
      keys.phoneHash,
      ...scope.eventIds,
    ].filter((v): v is string => Boolean(v)),
  );
  const reports = await db.dataRequest.findMany({
    where: { shopId },
    select: { id: true, customerKey: true, report: true },
  });
  const reportIds = reports
    .filter(
      (r) =>
        (keys.customerKey && r.customerKey === keys.customerKey) ||
        mentions(r.report, needles),
    )
    .map((r) => r.id);
  const erased = await outbox.eraseCustomer(shopId, scope, keys, [
    db.dataRequest.deleteMany({ where: { id: { in: reportIds } } }),
  ]);
  return {
    events: erased.events,
    contexts: erased.contexts,
    shopperLinks: erased.links,
    dataRequests: erased.alongside,
  };
}

/**
 * shop/redact (48 h after uninstall): nothing of the shop remains. `deleteSessions`: the delete of Shopify's sessions,
 * whose table is the session storage's (app/sessionStorage.server.ts), run in the same transaction.
 */
export async function redactShop(
  db: Db,
  outbox: Outbox,
  domain: string,
  deleteSessions: (db: Db, domain: string) => Deletes[number],
) {
  const [shops] = await outbox.eraseShop(domain, [
    deleteShop(db, domain),
    deleteSessions(db, domain),
  ]);
  return { deleted: shops > 0 };
}

/** customers/data_request: a report of what is held for the customer, stored for the merchant to retrieve. */
export async function recordDataRequest(
  db: Db,
  outbox: Outbox,
  shopId: string,
  payload: z.infer<typeof dataRequestSchema>,
) {
  const { keys, scope } = await findCustomer(
    outbox,
    shopId,
    payload.customer,
    payload.orders_requested,
  );
  const rows = await outbox.customerEvents(scope.rowIds);
  rows.sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime());
  const links = await outbox.customerLinks(shopId, keys);
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
    // A browser that checked out as the customer, whose later events carry these hashes (decisions 109).
    linkedBrowsers: links.map((l) => ({
      linkedAt: l.linkedAt.toISOString(),
      hashedUserData: l.userData,
    })),
  };
  // The id is Shopify's, stored as text: made storable like any text from outside (decisions 30).
  const requestId = storableText(
    String(payload.data_request?.id ?? `${Date.now()}`),
  );
  await db.dataRequest.upsert({
    where: { shopId_requestId: { shopId, requestId } },
    create: {
      shopId,
      requestId,
      customerKey: keys.customerKey,
      report: asJson(report),
    },
    update: { report: asJson(report) },
  });
  return { requestId, events: rows.length };
}
