import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_SECRET, databaseKinds, eventually } from "../support/app";
import { asShopsOwn, sendWebhook } from "../support/shopifyWebhook";
import { connectedShop, type Scenario } from "../support/scenario";
import {
  consent,
  eventBody,
  ingestKeyOf,
  postIngest,
  VISITOR_IP,
  type Checkout,
} from "../support/checkout";
import {
  bankTransferOrderPaidLater,
  documentedOrderWithoutBrowser,
  netTermsOrderPaidLater,
  STAFF_BROWSER,
  staffDraftOrder,
} from "../fixtures/realOrders";
import type { CapiEvent } from "../../app/core/wire/metaEvent";

// What leaves for Meta from real order shapes (test/fixtures/realOrders.ts), end to end on the production build:
// staff-created draft orders (decisions 31), orders paid days after they were placed (decisions 32), and an order
// without a usable IP or any user agent (decisions 33).

const DAY = 86_400_000;
let seq = 0;

describe.each(databaseKinds())("real order shapes on %s", (kind) => {
  let s: Scenario;
  let base: number;
  const nextId = () => base + ++seq * 13;

  beforeAll(async () => {
    s = await connectedShop(kind, { env: { TRUST_PROXY_HOPS: "1" } });
    base = 6_400_000_000_000 + (Date.now() % 1_000_000) * 1000;
    const shop = await s.app.db.shop.findUniqueOrThrow({
      where: { domain: s.shop },
    });
    // Consent is not what these tests are about: every order may be sent.
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: {
        settings: { ...(shop.settings as object), consentPolicy: "always" },
      },
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  async function paid(
    body: object & { order_status_url?: unknown },
    opts: { triggeredAt?: Date } = {},
  ) {
    const own = asShopsOwn(body, s.shop);
    const res = await sendWebhook(s.app.url, {
      topic: "orders/paid",
      shop: s.shop,
      body: own,
      secret: API_SECRET,
      triggeredAt: opts.triggeredAt?.toISOString(),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      outcome: string;
      status: string | null;
      reason: string | null;
    };
  }

  async function sent(eventId: string): Promise<CapiEvent> {
    return eventually(
      () => s.graph.eventsReceived().find((e) => e.event_id === eventId),
      15_000,
      `${eventId} at Meta`,
    );
  }

  /** The pixel's Purchase on the thank-you page of a checkout: the buyer's own browser context. */
  async function buyerCheckout(orderId: number, checkoutToken: string) {
    const c = {
      orderId: String(orderId),
      eventId: `purchase_${orderId}`,
      checkoutToken,
      fbp: `fb.1.${Date.now()}.4242`,
      buyer: null,
    } as unknown as Checkout;
    const res = await postIngest(
      s.app,
      eventBody(
        s.shop,
        await ingestKeyOf(s.app, s.shop),
        c,
        "Purchase",
        consent(true),
      ),
    );
    expect(res.body).toMatchObject({ outcome: "context_stored" });
  }

  describe("draft orders a staff member created (decisions 31)", () => {
    it("send none of the staff member's browser as the buyer's", async () => {
      const buyers = [
        { first: "Imogen", last: "Hale", email: "imogen.hale@example.org" },
        { first: "Tomasz", last: "Nowak", email: "tomasz.nowak@example.org" },
        { first: "Aoife", last: "Byrne", email: "aoife.byrne@example.org" },
      ];
      const ids = buyers.map(() => nextId());
      for (const [i, buyer] of buyers.entries()) {
        expect(
          await paid(
            staffDraftOrder({ id: ids[i], placedAt: new Date(), buyer }),
          ),
        ).toMatchObject({ outcome: "accepted", status: "pending" });
      }
      for (const id of ids) {
        const event = await sent(`purchase_${id}`);
        expect(event.action_source).toBe("system_generated");
        expect(event.user_data.client_ip_address).toBeUndefined();
        expect(event.user_data.client_user_agent).toBeUndefined();
        expect(event.user_data.em).toHaveLength(1);
      }
      const rows = await eventually(async () => {
        const r = await s.app.db.outboxEvent.findMany({
          where: {
            eventId: { in: ids.map((id) => `purchase_${id}`) },
            status: "sent",
          },
        });
        return r.length === ids.length && r;
      });
      for (const row of rows)
        expect({ ip: row.sentWithIp, ua: row.sentWithUserAgent }).toEqual({
          ip: false,
          ua: false,
        });
      expect(JSON.stringify(s.graph.eventsReceived())).not.toContain(
        STAFF_BROWSER.browser_ip,
      );
    });

    it("still send the buyer's own browser context when the buyer paid the invoice at checkout", async () => {
      const id = nextId();
      const checkoutToken = `draftinvoice${id}`;
      await buyerCheckout(id, checkoutToken);
      const buyer = {
        first: "Priya",
        last: "Raman",
        email: "priya.raman@example.org",
      };
      expect(
        (
          await paid(
            staffDraftOrder({ id, placedAt: new Date(), buyer, checkoutToken }),
          )
        ).outcome,
      ).toBe("accepted");
      const event = await sent(`purchase_${id}`);
      expect(event.user_data.client_ip_address).toBe(VISITOR_IP);
      expect(event.user_data.client_user_agent).toMatch(/Windows NT 10\.0/);
      expect(event.user_data.client_user_agent).not.toBe(
        STAFF_BROWSER.user_agent,
      );
    });
  });

  describe("orders paid days after they were placed (decisions 32)", () => {
    it("sends an order on payment terms at the time it was paid, not expired", async () => {
      const id = nextId();
      const paidAt = new Date(Date.now() - 5 * 60_000);
      const answer = await paid(
        netTermsOrderPaidLater({
          id,
          placedAt: new Date(Date.now() - 8 * DAY),
          paidAt,
        }),
      );
      expect(answer).toMatchObject({ outcome: "accepted", status: "pending" });
      const event = await sent(`purchase_${id}`);
      expect(event.event_time).toBe(Math.floor(paidAt.getTime() / 1000));
      expect(event.custom_data).toMatchObject({
        value: 598.94,
        currency: "USD",
      });
    });

    it("takes the time of payment from X-Shopify-Triggered-At when the order does not carry it", async () => {
      const id = nextId();
      // A delivery Shopify retried: the webhook was triggered two hours ago, when the merchant marked it paid.
      const triggeredAt = new Date(Date.now() - 2 * 3_600_000);
      const order = bankTransferOrderPaidLater({
        id,
        placedAt: new Date(Date.now() - 9 * DAY),
        paidAt: triggeredAt,
      });
      expect(await paid(order, { triggeredAt })).toMatchObject({
        outcome: "accepted",
        status: "pending",
      });
      expect((await sent(`purchase_${id}`)).event_time).toBe(
        Math.floor(triggeredAt.getTime() / 1000),
      );
    });
  });

  describe("an order with 0.0.0.0 and no user agent (decisions 33)", () => {
    it("sends no 0.0.0.0, and follows Meta's rule for a website event without a user agent", async () => {
      const id = nextId();
      expect(
        await paid(documentedOrderWithoutBrowser({ id, placedAt: new Date() })),
      ).toMatchObject({ outcome: "accepted", status: "pending" });
      const event = await sent(`purchase_${id}`);
      expect(event.user_data.client_ip_address).toBeUndefined();
      expect(event.user_data.client_user_agent).toBeUndefined();
      // Meta requires client_user_agent for action_source "website".
      expect(event.action_source).toBe("other");
      const row = await s.app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: `purchase_${id}` },
      });
      expect(row.actionSource).toBe("other");
    });

    it("stays a website event when the buyer's browser context brings the user agent", async () => {
      const id = nextId();
      const order = documentedOrderWithoutBrowser({ id, placedAt: new Date() });
      await buyerCheckout(id, order.checkout_token);
      expect((await paid(order)).outcome).toBe("accepted");
      const event = await sent(`purchase_${id}`);
      expect(event.action_source).toBe("website");
      expect(event.user_data.client_user_agent).toMatch(/Windows NT 10\.0/);
      expect(event.user_data.client_ip_address).toBe(VISITOR_IP);
    });
  });
});
