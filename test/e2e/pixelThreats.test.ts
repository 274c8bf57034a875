import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestBodyInput } from "../../app/core/wire/ingestBody";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import { databaseKinds, eventually } from "../support/app";
import {
  connect,
  connectedShop,
  orderWebhook,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { seedSession } from "../support/shopifyAdmin";
import {
  BROWSER_UA,
  consent,
  consentBody,
  eventBody,
  ingestKeyOf,
  newCheckout,
  postIngest,
  VISITOR_IP,
  type Checkout,
} from "../support/checkout";

// The pixel endpoint's threat model (docs/decisions.md, "Hardening: the pixel endpoint's threat model"), end to end
// against the production build: /ingest is public, so anyone may post to it. What a stranger must not be able to do
// is tested here, over HTTP, on both databases.

const STRANGER_IP = "192.0.2.66";
const STRANGER_UA = "curl/8.5.0";

/** Someone else's browser that learnt the shopper's checkout token (from a URL, say): its own clientId and _fbp. */
const stranger = (c: Checkout): Checkout => ({
  ...c,
  clientId: randomUUID(),
  fbp: "fb.1.1764000000000.666",
});

// Every forger and visitor of the flood tests posts from an address of its own.
let ipSeq = 0;
const nextIp = () => {
  ipSeq++;
  return `203.0.${113 + Math.floor(ipSeq / 250)}.${(ipSeq % 250) + 1}`;
};

describe.each(databaseKinds())("pixel endpoint threats on %s", (kind) => {
  let s: Scenario;
  let key: string;

  beforeAll(async () => {
    // Orders wait for their browser context; a test ends the wait by moving holdUntil into the past.
    s = await connectedShop(kind, {
      env: { TRUST_PROXY_HOPS: "1", PURCHASE_HOLD_SECONDS: "600" },
    });
    key = (await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } }))
      .ingestKey;
  });
  afterAll(async () => {
    await s?.close();
  });

  const shopper = (body: IngestBodyInput) => postIngest(s.app, body);
  const fromStranger = (body: IngestBodyInput) =>
    postIngest(s.app, body, { ip: STRANGER_IP, userAgent: STRANGER_UA });
  const contextOf = (c: Checkout) =>
    s.app.db.browserContext.findFirstOrThrow({
      where: { checkoutToken: c.checkoutToken },
    });
  const purchaseOf = (c: Checkout) =>
    s.app.db.outboxEvent.findFirstOrThrow({
      where: { eventName: "Purchase", eventId: c.eventId },
    });
  const sent = (eventId: string) =>
    eventually(
      () => s.graph.eventsReceived().find((e) => e.event_id === eventId),
      10_000,
      `${eventId} at the Graph API`,
    );
  const endHold = (c: Checkout) =>
    s.app.db.outboxEvent.updateMany({
      where: { eventId: c.eventId, status: "held" },
      data: { holdUntil: new Date(Date.now() - 1000) },
    });
  /** Without a client id, as a browser whose pixel had none: only its _fbp can say it is the same browser. */
  const withoutClientId = (body: IngestBodyInput): IngestBodyInput => {
    if (body.kind === "event") delete body.event.client_id;
    else delete body.client_id;
    return body;
  };

  describe("defect 3: a checkout's context belongs to the browser that first posted it", () => {
    it("a stranger with the checkout token cannot turn the shopper's refusal into a grant", async () => {
      const c = newCheckout({ region: "BR" });
      // The shopper refused marketing at checkout: the pixel posts the refusal with the checkout and its clientId.
      expect(
        (await shopper(consentBody(s.shop, key, c, consent(false)))).body,
      ).toEqual({ outcome: "consent_recorded" });

      const x = stranger(c);
      expect(
        (
          await fromStranger(
            eventBody(s.shop, key, x, "Purchase", consent(true)),
          )
        ).body,
      ).toEqual({ outcome: "context_stored" });
      expect(
        (await fromStranger(consentBody(s.shop, key, x, consent(true)))).body,
      ).toEqual({ outcome: "consent_recorded" });
      // A consent update carries no network context of its own.
      expect(await contextOf(c)).toMatchObject({
        clientId: c.clientId,
        consent: consent(false),
        fbp: null,
        clientIp: null,
        clientUserAgent: null,
      });

      expect((await orderWebhook(s, c.order)).body).toMatchObject({
        outcome: "accepted",
        status: "suppressed",
        reason: "no_marketing_consent",
      });
    });

    it("a stranger cannot turn a grant into a refusal, nor replace the shopper's fbp, IP and user agent, and learns nothing", async () => {
      const c = newCheckout({ region: "BR" });
      expect(
        (
          await shopper(
            eventBody(s.shop, key, c, "InitiateCheckout", consent(true)),
          )
        ).status,
      ).toBe(202);

      const x = stranger(c);
      const answers = [
        (await fromStranger(consentBody(s.shop, key, x, consent(false)))).body,
        (
          await fromStranger(
            eventBody(s.shop, key, x, "Purchase", consent(false)),
          )
        ).body,
        // Without a client id and with another _fbp, it is another browser too.
        (
          await fromStranger(
            withoutClientId(
              eventBody(s.shop, key, x, "Purchase", consent(false)),
            ),
          )
        ).body,
      ];
      expect(answers).toEqual([
        { outcome: "consent_recorded" },
        { outcome: "context_stored" },
        { outcome: "context_stored" },
      ]);
      expect(await contextOf(c)).toMatchObject({
        clientId: c.clientId,
        fbp: c.fbp,
        consent: consent(true),
        clientIp: VISITOR_IP,
        clientUserAgent: BROWSER_UA,
      });

      expect((await orderWebhook(s, c.order)).body).toMatchObject({
        outcome: "accepted",
        status: "pending",
      });
      const event = await sent(c.eventId);
      expect(event.user_data).toMatchObject({
        fbp: c.fbp,
        client_ip_address: VISITOR_IP,
        client_user_agent: BROWSER_UA,
      });
      await eventually(async () => (await purchaseOf(c)).status === "sent");

      // After the order: the stranger's answer still does not tell that the checkout became an order...
      expect(
        (
          await fromStranger(
            eventBody(s.shop, key, x, "Purchase", consent(true)),
          )
        ).body,
      ).toEqual({ outcome: "context_stored" });
      // ... while the shopper's own browser gets the real answer.
      expect(
        (await shopper(eventBody(s.shop, key, c, "Purchase", consent(true))))
          .body,
      ).toEqual({ outcome: "context_late" });
      expect((await purchaseOf(c)).browserSeenAt).not.toBeNull();
    });

    it("a stranger's consent does not reach a Purchase waiting for its context; the shopper's does", async () => {
      const c = newCheckout({ region: "DE" });
      expect((await orderWebhook(s, c.order)).body).toMatchObject({
        outcome: "accepted",
        status: "held",
      });
      // The shopper's browser posts first (its consent, granted), then the stranger refuses for it.
      await shopper(consentBody(s.shop, key, c, consent(true)));
      expect((await purchaseOf(c)).consent).toMatchObject({
        marketingAllowed: true,
      });
      const x = stranger(c);
      await fromStranger(consentBody(s.shop, key, x, consent(false)));
      await fromStranger(eventBody(s.shop, key, x, "Purchase", consent(false)));
      expect((await purchaseOf(c)).consent).toMatchObject({
        marketingAllowed: true,
      });
      expect((await purchaseOf(c)).status).toBe("held");

      await endHold(c);
      const event = await sent(c.eventId);
      expect(event.user_data.fbp).not.toBe(x.fbp);
      expect(event.user_data.client_ip_address).not.toBe(STRANGER_IP);
    });

    it("a browser without a client id is recognised by its _fbp: its own later posts count, another _fbp's do not", async () => {
      const c = newCheckout({ region: "BR" });
      await shopper(
        withoutClientId(
          eventBody(s.shop, key, c, "InitiateCheckout", consent(true)),
        ),
      );
      await fromStranger(
        withoutClientId(
          eventBody(s.shop, key, stranger(c), "AddPaymentInfo", consent(false)),
        ),
      );
      expect(await contextOf(c)).toMatchObject({
        clientId: null,
        fbp: c.fbp,
        consent: consent(true),
        clientUserAgent: BROWSER_UA,
      });
      // The shopper's own refusal, later, wins.
      await shopper(
        withoutClientId(eventBody(s.shop, key, c, "Purchase", consent(false))),
      );
      expect((await orderWebhook(s, c.order)).body).toMatchObject({
        outcome: "accepted",
        status: "suppressed",
        reason: "no_marketing_consent",
      });
    });
  });
  describe("defect 6: forged browsing events cost more and matter less", () => {
    /** A browsing event of a visitor (no checkout), with the money given. */
    function browsing(
      visitor: Checkout,
      name: "AddToCart" | "InitiateCheckout" | "ViewContent",
      money?: {
        value?: number;
        currency: string;
        contents?: { id: string; quantity: number; item_price?: number }[];
      },
    ) {
      const body = eventBody(s.shop, key, visitor, name, consent(true), {
        withCheckout: false,
      });
      if (body.kind === "event" && money)
        body.event.custom_data = {
          ...money,
          content_type: "product",
          content_ids: money.contents?.map((x) => x.id),
        };
      return body;
    }
    const idOf = (body: IngestBodyInput) =>
      body.kind === "event" ? body.event.event_id : "";
    const outboxRows = (ids: string[]) =>
      s.app.db.outboxEvent.count({ where: { eventId: { in: ids } } });
    /** Anything sent before a later event reached Meta was sent: the dispatcher sends in order. */
    async function dispatcherPassed(visitor: Checkout) {
      const sentinel = eventBody(
        s.shop,
        key,
        visitor,
        "PageView",
        consent(true),
        { withCheckout: false },
      );
      await postIngest(s.app, sentinel, { ip: nextIp() });
      await sent(idOf(sentinel));
    }

    it("does not forward, nor store, an event from a browser that never posted a page view", async () => {
      // The forgery: AddToCart / InitiateCheckout worth 1e9 with random e-mails, each from an address of its own.
      const forged: string[] = [];
      for (let i = 0; i < 30; i++) {
        const forger = newCheckout();
        const body = browsing(
          forger,
          i % 2 ? "AddToCart" : "InitiateCheckout",
          { value: 1e9, currency: "USD" },
        );
        if (body.kind === "event")
          body.event.user_data = {
            em: [normalizeAndHash("em", `${randomUUID()}@example.net`)!],
          };
        if (i % 3 === 0 && body.kind === "event") delete body.event.client_id;
        const res = await postIngest(s.app, body, {
          ip: nextIp(),
          userAgent: STRANGER_UA,
        });
        expect(res.status).toBe(202);
        expect(res.body).toEqual({
          outcome: "ignored",
          reason: "no page view from this browser yet",
        });
        forged.push(idOf(body));
      }
      expect(await outboxRows(forged)).toBe(0);

      // A browser that posted a page view is forwarded.
      const visitor = newCheckout();
      expect(
        (
          await postIngest(
            s.app,
            eventBody(s.shop, key, visitor, "PageView", consent(true), {
              withCheckout: false,
            }),
          )
        ).body,
      ).toEqual({ outcome: "accepted", status: "pending" });
      const later = browsing(visitor, "AddToCart", {
        value: 25,
        currency: "USD",
      });
      expect((await postIngest(s.app, later)).body).toEqual({
        outcome: "accepted",
        status: "pending",
      });
      expect((await sent(idOf(later))).custom_data).toMatchObject({
        value: 25,
        currency: "USD",
      });
      await dispatcherPassed(visitor);
      expect(
        s.graph.eventsReceived().filter((e) => forged.includes(e.event_id)),
      ).toEqual([]);
    });

    it("sends no value beyond what a cart of the shop can hold: three times its largest order in that currency", async () => {
      // A shop of its own, whose first order (112.44 CAD, the fixture's presentment total) arrives before any pixel post.
      const domain = `values-${randomUUID().slice(0, 8)}.myshopify.com`;
      await seedSession(s.app.db, domain);
      await connect(s.app, domain, TOKEN);
      const shopKey = await ingestKeyOf(s.app, domain);
      const order = newCheckout();
      expect(
        (await orderWebhook({ app: s.app, shop: domain }, order.order)).body,
      ).toMatchObject({ outcome: "accepted" });

      const visitor = newCheckout();
      const post = (body: IngestBodyInput) => postIngest(s.app, body);
      const on = (body: IngestBodyInput) =>
        body.kind === "event" ? { ...body, shop: domain, key: shopKey } : body;
      expect(
        (
          await post(
            on(
              eventBody(domain, shopKey, visitor, "PageView", consent(true), {
                withCheckout: false,
              }),
            ),
          )
        ).body,
      ).toMatchObject({ outcome: "accepted" });
      const cases = {
        "CAD within 3 × 112.44": on(
          browsing(visitor, "InitiateCheckout", {
            value: 337.3,
            currency: "CAD",
            contents: [{ id: "1", quantity: 2, item_price: 168.65 }],
          }),
        ),
        "CAD beyond": on(
          browsing(visitor, "AddToCart", {
            value: 337.4,
            currency: "CAD",
            contents: [{ id: "1", quantity: 1, item_price: 337.4 }],
          }),
        ),
        "CAD lines beyond": on(
          browsing(visitor, "AddToCart", {
            value: 25,
            currency: "CAD",
            contents: [{ id: "1", quantity: 10_000, item_price: 25 }],
          }),
        ),
        "JPY, no order yet, within 100,000": on(
          browsing(visitor, "AddToCart", { value: 99_000, currency: "JPY" }),
        ),
        "JPY 1e9": on(
          browsing(visitor, "AddToCart", {
            value: 1e9,
            currency: "JPY",
            contents: [{ id: "1", quantity: 1, item_price: 1e9 }],
          }),
        ),
      };
      for (const body of Object.values(cases))
        expect((await post(body)).body).toEqual({
          outcome: "accepted",
          status: "pending",
        });
      const atMeta: Record<string, unknown> = {};
      for (const [name, body] of Object.entries(cases)) {
        const e = await sent(idOf(body));
        atMeta[name] = {
          value: e.custom_data?.value,
          prices: e.custom_data?.contents?.map((x) => x.item_price),
        };
      }
      expect(atMeta).toEqual({
        "CAD within 3 × 112.44": { value: 337.3, prices: [168.65] },
        "CAD beyond": { value: undefined, prices: [undefined] },
        "CAD lines beyond": { value: undefined, prices: [undefined] },
        "JPY, no order yet, within 100,000": {
          value: 99_000,
          prices: undefined,
        },
        "JPY 1e9": { value: undefined, prices: [undefined] },
      });
      // What the merchant's event log shows is what Meta got.
      const row = await s.app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: idOf(cases["JPY 1e9"]) },
      });
      expect(
        (row.payload as { custom_data?: { value?: number } }).custom_data
          ?.value,
      ).toBeUndefined();
    });
  });
  describe("defect 6: a flood degrades the flooder, not the shop's shoppers", () => {
    const pageView = (visitor: Checkout) =>
      eventBody(s.shop, key, visitor, "PageView", consent(true), {
        withCheckout: false,
      });
    /** Statuses (and the first refusal's error) of posts made one after another. */
    async function statuses(
      posts: (() => Promise<{
        status: number;
        body: Record<string, unknown>;
      }>)[],
    ) {
      const out: number[] = [];
      let error: unknown;
      for (const post of posts) {
        const res = await post();
        out.push(res.status);
        if (res.status === 429) error ??= res.body.error;
      }
      return { out, accepted: out.filter((st) => st === 202).length, error };
    }

    it("limits each browser (its clientId) whatever its address, and an IPv6 client by its /64", async () => {
      await s.app.restart({
        INGEST_CLIENT_RATE_PER_SEC: "1",
        INGEST_CLIENT_BURST: "3",
        INGEST_SHOP_RATE_PER_SEC: "1000",
        INGEST_SHOP_BURST: "1000",
      });
      const started = Date.now();
      const refilled = () => Math.ceil((Date.now() - started) / 1000);

      const browser = newCheckout();
      const oneBrowser = await statuses(
        Array.from(
          { length: 8 },
          () => () => postIngest(s.app, pageView(browser), { ip: nextIp() }),
        ),
      );
      expect(oneBrowser.out.slice(0, 3)).toEqual([202, 202, 202]);
      expect(oneBrowser.accepted).toBeLessThanOrEqual(3 + refilled());
      expect(oneBrowser.error).toBe("too many requests from this browser");

      // One IPv6 network hands its client a /64: a new address (and a new clientId) per post is still one client.
      const v6 = await statuses(
        Array.from(
          { length: 8 },
          (_, i) => () =>
            postIngest(s.app, pageView(newCheckout()), {
              ip: `2001:db8:7:1::${(i + 1).toString(16)}`,
            }),
        ),
      );
      expect(v6.out.slice(0, 3)).toEqual([202, 202, 202]);
      expect(v6.accepted).toBeLessThanOrEqual(3 + refilled());
      expect(v6.error).toBe("too many requests from this client");
      expect(
        (
          await postIngest(s.app, pageView(newCheckout()), {
            ip: "2001:db8:7:2::1",
          })
        ).status,
      ).toBe(202);
    });

    it("a flood of new browsers from many addresses does not starve the browsers already seen", async () => {
      await s.app.restart({
        INGEST_CLIENT_RATE_PER_SEC: "100",
        INGEST_CLIENT_BURST: "100",
        INGEST_SHOP_RATE_PER_SEC: "1",
        INGEST_SHOP_BURST: "8",
      });
      const shopper = newCheckout();
      const shopperIp = nextIp();
      expect(
        (await postIngest(s.app, pageView(shopper), { ip: shopperIp })).status,
      ).toBe(202);

      // Thirty new identities, each from an address of its own: new browsers share a quarter of the shop's limit.
      const flood = await statuses(
        Array.from(
          { length: 30 },
          () => () =>
            postIngest(s.app, pageView(newCheckout()), {
              ip: nextIp(),
              userAgent: STRANGER_UA,
            }),
        ),
      );
      expect(flood.accepted).toBeLessThanOrEqual(3);
      expect(flood.error).toBe("too many requests for this shop");

      // The shopper, seen before the flood, browses on.
      const browsingOn = await statuses(
        Array.from(
          { length: 6 },
          () => () =>
            postIngest(
              s.app,
              eventBody(s.shop, key, shopper, "ViewContent", consent(true), {
                withCheckout: false,
              }),
              { ip: shopperIp },
            ),
        ),
      );
      expect(browsingOn.out).toEqual(Array(6).fill(202));
    });
  });
});
