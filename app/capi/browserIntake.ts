import type { Db, Prisma, Shop } from "./db";
import type { ConsentSnapshot, OutboxStatus } from "./types";
import { browserEventToCapi, type BrowserEvent as IngestEvent } from "./browserEvent";
import { parseSettings } from "./settings";
import { mergeBrowserContext } from "./purchaseMerge";
import { asJson, decideRelease, finalFields, releaseUpdate } from "./outbox";
import { isUniqueViolation } from "./orderIntake";
import { numericId } from "./eventId";

// Events posted by the web pixel. Non-purchase events become outbox rows of their own; a browser Purchase only
// contributes context (fbp, fbc, IP, UA, consent, URL) to the order's Purchase, joined by checkout token.

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

export async function intakeBrowserEvent(
  db: Db,
  shop: Shop,
  event: IngestEvent,
  net: Network,
  now = new Date(),
): Promise<BrowserIntakeResult> {
  if (event.event_name === "Purchase") {
    return intakeContext(db, shop, {
      checkoutToken: event.checkout_token!,
      eventId: event.event_id,
      fbp: event.fbp ?? null,
      fbc: event.fbc ?? null,
      eventSourceUrl: event.event_source_url,
      orderId: numericId(event.order_id),
      consent: event.consent,
      ...net,
    }, now);
  }
  if (event.checkout_token) {
    // Checkout steps carry the same context the Purchase needs, should the thank-you page never report.
    await upsertContext(db, shop.id, event.checkout_token, {
      fbp: event.fbp ?? null,
      fbc: event.fbc ?? null,
      eventSourceUrl: null,
      consent: event.consent,
      ...net,
    });
  }

  const capi = browserEventToCapi(event, { clientIp: null, userAgent: null });
  const row = {
    shopId: shop.id,
    eventName: capi.event_name,
    eventId: capi.event_id,
    source: "browser",
    actionSource: capi.action_source,
    eventTime: new Date(capi.event_time * 1000),
    checkoutToken: event.checkout_token ?? null,
    // The browser's hashes, so customers/redact and data requests find these events too (as for orders).
    customerKey: capi.user_data.external_id?.[0] ?? null,
    emailHash: capi.user_data.em?.[0] ?? null,
    phoneHash: capi.user_data.ph?.[0] ?? null,
    consent: asJson(event.consent),
    receivedAt: now,
  };
  const decision = decideRelease({ ...row, countryCode: null, provinceCode: null, payload: asJson(capi) as Prisma.JsonValue, consent: row.consent as Prisma.JsonValue }, parseSettings(shop.settings));
  const data = {
    ...row,
    status: "held",
    payload: asJson(capi),
    ...(decision.status === "pending" ? { clientIp: net.clientIp, clientUserAgent: net.userAgent } : {}),
    ...(releaseUpdate(decision, now) as object),
  } as Prisma.OutboxEventUncheckedCreateInput;
  try {
    // `select: id`: reading back every column of the new row costs more than the insert (npm run bench, ingest).
    await db.outboxEvent.create({ data, select: { id: true } });
    return { outcome: "accepted", status: data.status as OutboxStatus };
  } catch (err) {
    if (isUniqueViolation(err)) return { outcome: "duplicate" };
    throw err;
  }
}

/** A consent change in the browser; stored for the checkout so a later order of it uses the newest snapshot. */
export async function intakeConsent(
  db: Db,
  shop: Shop,
  update: { checkoutToken: string; consent: ConsentSnapshot },
): Promise<void> {
  await upsertContext(db, shop.id, update.checkoutToken, { consent: update.consent });
  await db.outboxEvent.updateMany({
    where: { shopId: shop.id, checkoutToken: update.checkoutToken, eventName: "Purchase", status: "held" },
    data: { consent: asJson(update.consent) },
  });
}

interface ContextInput extends Network {
  checkoutToken: string;
  eventId: string;
  fbp: string | null;
  fbc: string | null;
  eventSourceUrl: string | null;
  /** Set only by the browser's Purchase: the pixel sent Meta `purchase_<orderId>` (the dedup coverage figure). */
  orderId?: string | null;
  consent: ConsentSnapshot;
}

async function intakeContext(db: Db, shop: Shop, input: ContextInput, now: Date): Promise<BrowserIntakeResult> {
  const ctx = await upsertContext(db, shop.id, input.checkoutToken, {
    fbp: input.fbp,
    fbc: input.fbc,
    eventSourceUrl: input.eventSourceUrl,
    orderId: input.orderId,
    consent: input.consent,
    clientIp: input.clientIp,
    userAgent: input.userAgent,
  });
  const purchase = await db.outboxEvent.findFirst({
    where: { shopId: shop.id, eventName: "Purchase", checkoutToken: input.checkoutToken },
  });
  if (!purchase) return { outcome: "context_stored" };

  // The pixel sent its Purchase to Meta with this id: the dedup coverage figure counts it.
  const sameEvent = purchase.eventId === input.eventId;
  const seen = sameEvent && !purchase.browserSeenAt ? { browserSeenAt: now } : {};
  if (purchase.status !== "held") return recordLate(db, purchase.id, ctx.id, sameEvent, now);

  const merged = mergeBrowserContext(
    { payload: purchase.payload as never, clientIp: purchase.clientIp, clientUserAgent: purchase.clientUserAgent, consent: purchase.consent },
    ctx,
  );
  const decision = decideRelease(
    { ...purchase, payload: asJson(merged.payload) as Prisma.JsonValue, consent: merged.consent as Prisma.JsonValue },
    parseSettings(shop.settings),
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
  if (res.count === 0) return recordLate(db, purchase.id, ctx.id, sameEvent, now);
  await db.browserContext.update({ where: { id: ctx.id }, data: { usedAt: now, clientIp: null, clientUserAgent: null } });
  return { outcome: "context_merged" };
}

/**
 * The Purchase left `held` before the context came: nothing is sent again. The browser's Purchase is recorded
 * for the dedup figure, and the context's raw IP and user agent, now of no use, are erased.
 */
async function recordLate(db: Db, purchaseId: string, contextId: string, sameEvent: boolean, now: Date): Promise<BrowserIntakeResult> {
  if (sameEvent) await db.outboxEvent.updateMany({ where: { id: purchaseId, browserSeenAt: null }, data: { browserSeenAt: now } });
  await db.browserContext.update({ where: { id: contextId }, data: { usedAt: now, clientIp: null, clientUserAgent: null } });
  return { outcome: "context_late" };
}

async function upsertContext(
  db: Db,
  shopId: string,
  checkoutToken: string,
  fields: Partial<Omit<ContextInput, "checkoutToken" | "eventId">>,
) {
  // Only the fields the browser actually gave overwrite older ones.
  const data = {
    ...(fields.fbp ? { fbp: fields.fbp } : {}),
    ...(fields.fbc ? { fbc: fields.fbc } : {}),
    ...(fields.eventSourceUrl ? { eventSourceUrl: fields.eventSourceUrl } : {}),
    ...(fields.orderId ? { orderId: fields.orderId } : {}),
    ...(fields.clientIp ? { clientIp: fields.clientIp } : {}),
    ...(fields.userAgent ? { clientUserAgent: fields.userAgent } : {}),
    ...(fields.consent ? { consent: asJson(fields.consent) } : {}),
  };
  try {
    return await db.browserContext.upsert({
      where: { shopId_checkoutToken: { shopId, checkoutToken } },
      create: { shopId, checkoutToken, ...data },
      update: data,
    });
  } catch (err) {
    // Two posts for one checkout raced on the insert: the other one created it, so update.
    if (!isUniqueViolation(err)) throw err;
    return db.browserContext.update({ where: { shopId_checkoutToken: { shopId, checkoutToken } }, data });
  }
}
