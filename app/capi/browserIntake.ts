import type { Db, Prisma } from "./db";
import type { ConsentSnapshot, OutboxStatus } from "./types";
import { browserEventToCapi, type BrowserEvent as IngestEvent } from "./browserEvent";
import type { ShopSettings } from "./settings";
import { mergeBrowserContext } from "./purchaseMerge";
import { asJson, decideRelease, finalFields, releaseUpdate } from "./outbox";
import { numericId } from "./eventId";
import type { ContextFields, NewOutboxEvent, SqlStore } from "./sqlStore";

// Events posted by the web pixel. Non-purchase events become outbox rows of their own; a browser Purchase only
// contributes context (fbp, fbc, IP, UA, consent, URL) to the order's Purchase, joined by checkout token.
// What runs for every storefront event goes through the SQL store; Prisma does the merge into an order's
// Purchase, which happens once per order.

export type BrowserIntakeResult =
  | { outcome: "accepted"; status: OutboxStatus }
  | { outcome: "duplicate" }
  | { outcome: "context_merged" }
  | { outcome: "context_stored" }
  | { outcome: "context_late" };

interface Network {
  clientIp: string | null;
  userAgent: string | null;
}

/** Where browser intake reads and writes, and for which shop. */
export interface BrowserTarget {
  db: Db;
  store: SqlStore;
  shopId: string;
  settings: ShopSettings;
}

const NO_CONTEXT: ContextFields = { fbp: null, fbc: null, eventSourceUrl: null, orderId: null, clientIp: null, clientUserAgent: null, consent: null };

export async function intakeBrowserEvent(
  target: BrowserTarget,
  event: IngestEvent,
  net: Network,
  now = new Date(),
): Promise<BrowserIntakeResult> {
  const context = {
    ...NO_CONTEXT,
    fbp: event.fbp ?? null,
    fbc: event.fbc ?? null,
    clientIp: net.clientIp,
    clientUserAgent: net.userAgent,
    consent: event.consent,
  };
  if (event.event_name === "Purchase") {
    return intakeContext(target, event.checkout_token!, event.event_id, {
      ...context,
      eventSourceUrl: event.event_source_url ?? null,
      // Set only by the browser's Purchase: the pixel sent Meta `purchase_<orderId>` (the dedup coverage figure).
      orderId: numericId(event.order_id),
    }, now);
  }
  // Checkout steps carry the same context the Purchase needs, should the thank-you page never report.
  if (event.checkout_token) await target.store.saveContext(target.shopId, event.checkout_token, context, now);

  const capi = browserEventToCapi(event, { clientIp: null, userAgent: null });
  const row = {
    shopId: target.shopId,
    eventName: capi.event_name,
    eventId: capi.event_id,
    source: "browser",
    status: "held",
    suppressReason: null,
    lastErrorMessage: null,
    actionSource: capi.action_source,
    eventTime: new Date(capi.event_time * 1000),
    payload: capi,
    clientIp: null,
    clientUserAgent: null,
    countryCode: null,
    provinceCode: null,
    consent: event.consent,
    lduApplied: false,
    orderId: null,
    orderName: null,
    checkoutToken: event.checkout_token ?? null,
    // The browser's hashes, so customers/redact and data requests find these events too (as for orders).
    customerKey: capi.user_data.external_id?.[0] ?? null,
    emailHash: capi.user_data.em?.[0] ?? null,
    phoneHash: capi.user_data.ph?.[0] ?? null,
    holdUntil: null,
    nextAttemptAt: now,
    browserSeenAt: null,
    receivedAt: now,
    releasedAt: null,
    finalAt: null,
  };
  const decision = decideRelease({ ...row, payload: asJson(capi) as Prisma.JsonValue, consent: asJson(event.consent) as Prisma.JsonValue }, target.settings);
  const data: NewOutboxEvent = {
    ...row,
    ...(decision.status === "pending" ? { clientIp: net.clientIp, clientUserAgent: net.userAgent } : {}),
    ...(releaseUpdate(decision, now) as Partial<NewOutboxEvent>),
  };
  if ((await target.store.insertEvent(data, null, null)) === "duplicate") return { outcome: "duplicate" };
  return { outcome: "accepted", status: data.status as OutboxStatus };
}

/** A consent change in the browser; stored for the checkout so a later order of it uses the newest snapshot. */
export async function intakeConsent(
  target: BrowserTarget,
  update: { checkoutToken: string; consent: ConsentSnapshot },
  now = new Date(),
): Promise<void> {
  await target.store.saveContext(target.shopId, update.checkoutToken, { ...NO_CONTEXT, consent: update.consent }, now);
  await target.db.outboxEvent.updateMany({
    where: { shopId: target.shopId, checkoutToken: update.checkoutToken, eventName: "Purchase", status: "held" },
    data: { consent: asJson(update.consent) },
  });
}

async function intakeContext(
  { db, store, shopId, settings }: BrowserTarget,
  checkoutToken: string,
  eventId: string,
  fields: ContextFields,
  now: Date,
): Promise<BrowserIntakeResult> {
  await store.saveContext(shopId, checkoutToken, fields, now);
  const purchase = await store.findPurchase(shopId, checkoutToken);
  if (!purchase) return { outcome: "context_stored" };

  // The pixel sent its Purchase to Meta with this id: the dedup coverage figure counts it.
  const sameEvent = purchase.eventId === eventId;
  const seen = sameEvent && !purchase.browserSeenAt ? { browserSeenAt: now } : {};
  // The context as merged: what this post gave on top of what earlier posts of the checkout stored.
  const ctx = purchase.status === "held" ? await store.findContext(shopId, checkoutToken) : null;
  if (!ctx) return recordLate(db, shopId, purchase.id, checkoutToken, sameEvent, now);

  const merged = mergeBrowserContext(
    { payload: purchase.payload as never, clientIp: purchase.clientIp, clientUserAgent: purchase.clientUserAgent, consent: purchase.consent },
    ctx,
  );
  const decision = decideRelease(
    { ...purchase, payload: asJson(merged.payload) as Prisma.JsonValue, consent: merged.consent as Prisma.JsonValue },
    settings,
  );
  const res = await db.outboxEvent.updateMany({
    where: { id: purchase.id, status: "held" },
    data: {
      payload: asJson(merged.payload),
      consent: merged.consent ? asJson(merged.consent) : undefined,
      ...(decision.status === "pending"
        ? { clientIp: merged.clientIp, clientUserAgent: merged.clientUserAgent }
        : finalFields(now)),
      ...(releaseUpdate(decision, now) as Prisma.OutboxEventUpdateManyMutationInput),
      ...seen,
    },
  });
  // Released by the hold timer between the read and this update.
  if (res.count === 0) return recordLate(db, shopId, purchase.id, checkoutToken, sameEvent, now);
  await db.browserContext.update({ where: { id: ctx.id }, data: { usedAt: now, clientIp: null, clientUserAgent: null } });
  return { outcome: "context_merged" };
}

/**
 * The Purchase left `held` before the context came: nothing is sent again. The browser's Purchase is recorded
 * for the dedup figure, and the context's raw IP and user agent, now of no use, are erased.
 */
async function recordLate(
  db: Db,
  shopId: string,
  purchaseId: string,
  checkoutToken: string,
  sameEvent: boolean,
  now: Date,
): Promise<BrowserIntakeResult> {
  if (sameEvent) await db.outboxEvent.updateMany({ where: { id: purchaseId, browserSeenAt: null }, data: { browserSeenAt: now } });
  await db.browserContext.update({
    where: { shopId_checkoutToken: { shopId, checkoutToken } },
    data: { usedAt: now, clientIp: null, clientUserAgent: null },
  });
  return { outcome: "context_late" };
}
