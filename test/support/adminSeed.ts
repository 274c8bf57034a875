import { randomBytes, randomUUID } from "node:crypto";
import { eventually } from "./app";
import {
  consent,
  eventBody,
  ingestKeyOf,
  newBuyer,
  newCheckout,
  postIngest,
  type Checkout,
} from "./checkout";
import { orderWebhook, type Scenario } from "./scenario";

// A shop's activity for the admin suites, through the real paths: the pixel posts to /ingest, Shopify's signed
// order webhooks, the dispatcher sending to the fake Graph API (which rejects the events chosen to fail).

export interface SeedSpec {
  /** Orders with their browser Purchase (same event id): sent and deduplicated. */
  sent: number;
  /** Orders without any browser data: sent, not deduplicated. */
  serverOnly?: number;
  /** Orders Meta rejects (fake Graph API: 100/2804050). */
  failed: number;
  /** EEA orders without a consent snapshot: not sent (no_consent_opt_in_region). */
  optInRegion: number;
  /** Test orders without a test event code: not sent (test_order). */
  testOrders: number;
  /** Storefront page views with marketing consent (sent) and without (not sent). */
  pageViews: number;
  pageViewsDenied: number;
}

export interface Seeded {
  spec: SeedSpec;
  sent: Checkout[];
  failed: Checkout[];
  optInRegion: Checkout[];
  testOrders: Checkout[];
  /** Purchases that reached the fake Graph API. */
  purchasesSent: number;
}

export async function seedActivity(
  s: Scenario,
  spec: SeedSpec,
): Promise<Seeded> {
  const key = await ingestKeyOf(s.app, s.shop);
  const seeded: Seeded = {
    spec,
    sent: [],
    failed: [],
    optInRegion: [],
    testOrders: [],
    purchasesSent: 0,
  };

  for (let i = 0; i < spec.sent; i++) {
    const c = newCheckout({ region: "BR", buyer: newBuyer(`Ana${i}`) });
    // The thank-you page reports first, so the order's Purchase merges the browser's context at intake.
    await postIngest(
      s.app,
      eventBody(s.shop, key, c, "Purchase", consent(true)),
    );
    await expectAccepted(s, c);
    seeded.sent.push(c);
  }
  for (let i = 0; i < (spec.serverOnly ?? 0); i++) {
    const c = newCheckout({ region: "US-NY", buyer: newBuyer(`Sam${i}`) });
    await expectAccepted(s, c);
    seeded.sent.push(c);
  }
  for (let i = 0; i < spec.failed; i++) {
    const c = newCheckout({ region: "US-NY", buyer: newBuyer(`Rita${i}`) });
    s.graph.rejectEvents((e) => e.event_id === c.eventId);
    await expectAccepted(s, c);
    seeded.failed.push(c);
  }
  for (let i = 0; i < spec.optInRegion; i++) {
    const c = newCheckout({ region: "DE", buyer: newBuyer(`Lena${i}`) });
    await expectAccepted(s, c);
    seeded.optInRegion.push(c);
  }
  for (let i = 0; i < spec.testOrders; i++) {
    const c = newCheckout({ region: "BR", buyer: newBuyer(`Tess${i}`) });
    c.order.test = true;
    await expectAccepted(s, c);
    seeded.testOrders.push(c);
  }
  for (let i = 0; i < spec.pageViews + spec.pageViewsDenied; i++) {
    const c = newCheckout();
    const allowed = i < spec.pageViews;
    const res = await postIngest(
      s.app,
      eventBody(s.shop, key, c, "PageView", consent(allowed), {
        eventId: `pv-${randomBytes(6).toString("hex")}`,
      }),
    );
    if (res.status >= 300)
      throw new Error(
        `ingest answered ${res.status}: ${JSON.stringify(res.body)}`,
      );
  }
  seeded.purchasesSent = spec.sent + (spec.serverOnly ?? 0);
  await settled(s);
  return seeded;
}

async function expectAccepted(s: Scenario, c: Checkout): Promise<void> {
  const res = await orderWebhook(s, c.order);
  if (res.status !== 200 || res.body.outcome !== "accepted")
    throw new Error(`order webhook: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Waits until the dispatcher is done with every event of the shop. */
export async function settled(s: Scenario, timeoutMs = 20_000): Promise<void> {
  const shop = await s.app.db.shop.findUniqueOrThrow({
    where: { domain: s.shop },
  });
  await eventually(
    async () =>
      (await s.app.db.outboxEvent.count({
        where: {
          shopId: shop.id,
          status: { in: ["held", "pending", "sending"] },
        },
      })) === 0,
    timeoutMs,
    `${s.shop}: every event sent or final`,
  );
}

/**
 * Earlier days of the same shop, copied from events the pipeline really sent, for the charts: `days` days before
 * today, `scale` times a small shop's daily events.
 */
export async function insertHistory(
  s: Scenario,
  shopId: string,
  { days = 6, scale = 1 }: { days?: number; scale?: number } = {},
): Promise<void> {
  const templates = await s.app.db.outboxEvent.findMany({
    where: { shopId, status: "sent" },
    distinct: ["eventName"],
  });
  const rows = [];
  for (let day = 1; day <= days; day++) {
    const at = Date.now() - day * 86_400_000;
    for (const t of templates) {
      const n =
        scale *
        (t.eventName === "Purchase"
          ? 4 + ((day * 3) % 5)
          : 12 + ((day * 7) % 9));
      for (let i = 0; i < n; i++) {
        const status =
          i % 11 === 5 ? "suppressed" : i % 17 === 3 ? "failed" : "sent";
        const time = new Date(at - i * 60_000);
        rows.push({
          shopId,
          eventName: t.eventName,
          eventId: `${t.eventName.toLowerCase()}_hist_${randomUUID()}`,
          source: t.source,
          status,
          suppressReason:
            status === "suppressed"
              ? t.eventName === "Purchase"
                ? "no_consent_opt_in_region"
                : "no_marketing_consent"
              : null,
          actionSource: t.actionSource,
          eventTime: time,
          receivedAt: time,
          sentAt: status === "sent" ? time : null,
          finalAt: time,
          payload: t.payload ?? {},
          orderName: t.orderName ? `#${9000 + day * 100 + i}` : null,
          sentWithIp: status === "sent",
          sentWithUserAgent: status === "sent",
          // Most orders also came from the shopper's browser (the dedup figure).
          browserSeenAt:
            t.eventName === "Purchase" && i % 4 !== 0 ? time : null,
          lastErrorCode: status === "failed" ? 100 : null,
          lastErrorSubcode: status === "failed" ? 2804050 : null,
          lastErrorMessage: status === "failed" ? "Invalid parameter" : null,
        });
      }
    }
  }
  for (let i = 0; i < rows.length; i += 2_000)
    await s.app.db.outboxEvent.createMany({ data: rows.slice(i, i + 2_000) });
}
