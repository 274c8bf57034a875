import { type ConsentSnapshot, numericId } from "../wire";
import type { OutboxStatus, ContextFields, Outbox } from "../outbox";
import {
  browserEventToCapi,
  type BrowserEvent as IngestEvent,
} from "./browserEvent";
import type { ShopSettings } from "../reference";
import { pixelReported, release } from "./release";
import { cartBoundedMoney, type LargestOrders } from "./cartValue";
import { linkShopper, withShopperKeys } from "./shopperLink";
import { storefrontKeysMissing } from "./missingKeys";

// Events posted by the web pixel. Non-purchase events become outbox rows of their own; a browser Purchase only
// contributes context (fbp, fbc, IP, UA, consent, URL) to the order's Purchase, joined by checkout token.
// What runs for every storefront event is prepared SQL underneath (the outbox's); the merge into an order's
// Purchase, once per order, is Prisma.

export type BrowserIntakeResult =
  | { outcome: "accepted"; status: OutboxStatus }
  | { outcome: "duplicate" }
  | { outcome: "context_merged" }
  | { outcome: "context_stored" }
  | { outcome: "context_late" }
  | { outcome: "ignored"; reason: string };

interface Network {
  clientIp: string | null;
  userAgent: string | null;
}

/** Where browser intake reads and writes, and for which shop. */
export interface BrowserTarget {
  outbox: Outbox;
  shopId: string;
  settings: ShopSettings;
  /** The shop's largest order per currency: what a browser event's value may reach (decisions 40). */
  largestOrders: LargestOrders;
  /** The one country the shop sells to, if one (decisions 66). */
  salesCountry: string | null;
}

const NO_CONTEXT: ContextFields = {
  clientId: null,
  fbp: null,
  fbc: null,
  eventSourceUrl: null,
  orderId: null,
  clientIp: null,
  clientUserAgent: null,
  consent: null,
  value: null,
  currency: null,
};

export async function intakeBrowserEvent(
  target: BrowserTarget,
  event: IngestEvent,
  net: Network,
  now = new Date(),
): Promise<BrowserIntakeResult> {
  const context = {
    ...NO_CONTEXT,
    clientId: event.client_id ?? null,
    fbp: event.fbp ?? null,
    fbc: event.fbc ?? null,
    clientIp: net.clientIp,
    clientUserAgent: net.userAgent,
    consent: event.consent,
  };
  if (event.event_name === "Purchase") {
    return intakeContext(
      target,
      event.checkout_token!,
      {
        ...context,
        eventSourceUrl: event.event_source_url ?? null,
        // Set only by the browser's Purchase: the pixel sent Meta `purchase_<orderId>` (the dedup coverage figure).
        orderId: numericId(event.order_id),
        // What the pixel's copy was worth: the event log compares it with the order's (decisions 111).
        value: event.custom_data?.value ?? null,
        currency: event.custom_data?.currency ?? null,
      },
      now,
    );
  }
  // Checkout steps carry the same context the Purchase needs, should the thank-you page never report.
  if (event.checkout_token)
    await target.outbox.saveContext(
      target.shopId,
      event.checkout_token,
      context,
      now,
    );

  const capi = browserEventToCapi(event, { clientIp: null, userAgent: null });
  const money = cartBoundedMoney(capi.custom_data, target.largestOrders);
  if (money) capi.custom_data = money;
  capi.user_data = await withShopperKeys(
    target.outbox,
    target.shopId,
    target.settings,
    {
      clientId: event.client_id ?? null,
      marketingAllowed: event.consent.marketingAllowed,
    },
    capi.user_data,
    now,
  );
  const row = {
    shopId: target.shopId,
    eventName: capi.event_name,
    eventId: capi.event_id,
    source: "browser",
    status: "held" as const,
    actionSource: capi.action_source,
    eventTime: new Date(capi.event_time * 1000),
    payload: capi,
    clientIp: net.clientIp,
    clientUserAgent: net.userAgent,
    consent: event.consent,
    countryCode: null,
    provinceCode: null,
    checkoutToken: event.checkout_token ?? null,
    // The browser's hashes, so customers/redact and data requests find these events too (as for orders).
    customerKey: capi.user_data.external_id?.[0] ?? null,
    emailHash: capi.user_data.em?.[0] ?? null,
    phoneHash: capi.user_data.ph?.[0] ?? null,
    // decisions 150: what this visitor's event lacks.
    missingKeys: storefrontKeysMissing(
      capi.user_data,
      net.clientIp,
      net.userAgent,
    ),
    receivedAt: now,
  };
  // Decided at once: a browser event has no context to wait for.
  const data = {
    ...row,
    ...release(row, null, target.settings, now, target.salesCountry).update,
  };
  // A PageView registers its browser; any other event of a browser never seen on a page view is a forger's at
  // worst, and a real browser's first page at best: not sent, and not stored to fill the event log (decisions 39).
  const browser = {
    clientId: event.client_id ?? null,
    pageView: event.event_name === "PageView",
  };
  const inserted = await target.outbox.insertBrowserEvent(data, browser);
  if (inserted === "unseen")
    return { outcome: "ignored", reason: "no page view from this browser yet" };
  if (inserted === "duplicate") return { outcome: "duplicate" };
  return { outcome: "accepted", status: data.status as OutboxStatus };
}

/**
 * A consent change in the browser; stored for the checkout so a later order of it uses the newest snapshot. Only
 * from the browser the checkout's context belongs to (decisions 38): another's changes nothing, and is not told so.
 */
export async function intakeConsent(
  target: BrowserTarget,
  update: {
    checkoutToken: string;
    clientId: string | null;
    consent: ConsentSnapshot;
  },
  now = new Date(),
): Promise<void> {
  const fields = {
    ...NO_CONTEXT,
    clientId: update.clientId,
    consent: update.consent,
  };
  if (
    !(await target.outbox.saveContext(
      target.shopId,
      update.checkoutToken,
      fields,
      now,
    ))
  )
    return;
  await target.outbox.recordHeldConsent(
    target.shopId,
    update.checkoutToken,
    update.consent,
  );
}

async function intakeContext(
  { outbox, shopId, settings, salesCountry }: BrowserTarget,
  checkoutToken: string,
  fields: ContextFields,
  now: Date,
): Promise<BrowserIntakeResult> {
  // Another browser's post changes nothing, and its answer does not tell whether the checkout exists or became an
  // order: it is what a first post of an unknown checkout gets (decisions 38).
  if (!(await outbox.saveContext(shopId, checkoutToken, fields, now)))
    return { outcome: "context_stored" };
  const purchase = await outbox.findPurchase(shopId, checkoutToken);
  if (!purchase) return { outcome: "context_stored" };

  // The context as merged: what this post gave on top of what earlier posts of the checkout stored.
  const ctx =
    purchase.status === "held"
      ? await outbox.findContext(shopId, checkoutToken)
      : null;
  if (ctx) {
    const { update, contextUsed } = release(
      { ...purchase, status: "held" },
      ctx,
      settings,
      now,
      salesCountry,
    );
    const released = {
      id: purchase.id,
      from: "held" as const,
      update: update!,
      contextId: contextUsed ? ctx.id : null,
    };
    if (await outbox.applyReleases([released], now)) {
      await linkShopper(outbox, shopId, ctx, released.update, now);
      return { outcome: "context_merged" };
    }
    // Released by the hold timer between the read and this update: late.
  }
  const seen = pixelReported(fields.orderId, purchase.eventId)
    ? { value: fields.value, currency: fields.currency }
    : null;
  await outbox.useLateContext(
    shopId,
    checkoutToken,
    { id: purchase.id, seen },
    now,
  );
  return { outcome: "context_late" };
}
