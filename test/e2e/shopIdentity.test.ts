import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserEventName } from "../../app/core/wire/ingestBody";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import {
  API_SECRET,
  databaseKinds,
  eventually,
  startApp,
  type DbKind,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { sendWebhook } from "../support/shopifyWebhook";
import { adminGraphql, seedSession } from "../support/shopifyAdmin";
import { connect, PIXEL, TOKEN } from "../support/scenario";
import { consent, postIngest } from "../support/checkout";
import { makeOrder } from "../fixtures/order";
import {
  adminShop,
  HARBOUR,
  JUNIPER,
  orderStatusUrl,
  privacyBodies,
  privateUrls,
  shopOrder,
  shopPayload,
  type FixtureShop,
} from "../fixtures/shopDomains";

// Defects 5, 11 and 12 end to end, against the production build: a webhook body that names another shop than its
// X-Shopify-Shop-Domain header is recorded and ignored (decisions 35); the shop's Shopify id and primary domain come
// from the Admin API at install and from shop/update (decisions 34); and Meta never gets a private link, and gets
// URLs on the shop's own domain (decisions 36, 37).

const { recordShopDetails } = await import("../../app/shops.server");

describe.each(databaseKinds())(
  "the shop's identity and its domains on %s",
  (kind: DbKind) => {
    let graph: FakeGraph;
    let app: TestApp;
    let nextOrderId = 7_100_000_000_000;

    beforeAll(async () => {
      graph = await startFakeGraph();
      graph.addPixel(PIXEL, { name: "Identity Pixel", token: TOKEN });
      app = await startApp({
        db: kind,
        graphUrl: graph.url,
        env: { TRUST_PROXY_HOPS: "1" },
      });
      for (const shop of [JUNIPER, HARBOUR]) {
        await seedSession(app.db, shop.myshopifyDomain);
        await connect(app, shop.myshopifyDomain, TOKEN);
      }
    });
    afterAll(async () => {
      await app?.close();
      await graph?.close();
    });

    /** A signed delivery of `body` under `header`'s X-Shopify-Shop-Domain. */
    async function webhook(topic: string, header: FixtureShop, body: unknown) {
      const webhookId = randomUUID();
      const res = await sendWebhook(app.url, {
        topic,
        shop: header.myshopifyDomain,
        body,
        secret: API_SECRET,
        webhookId,
      });
      const text = await res.text();
      return {
        status: res.status,
        body: (text ? JSON.parse(text) : {}) as {
          outcome?: string;
          reason?: string | null;
        },
        webhookId,
      };
    }
    const shopRow = (shop: FixtureShop) =>
      app.db.shop.findUnique({ where: { domain: shop.myshopifyDomain } });
    const receipt = (webhookId: string) =>
      app.db.webhookReceipt.findUniqueOrThrow({ where: { webhookId } });
    const newOrderId = () => ++nextOrderId;
    const orderBody = (
      shop: FixtureShop,
      over: Record<string, unknown> = {},
    ) => {
      const id = newOrderId();
      const now = new Date().toISOString();
      return shopOrder(shop, {
        id,
        admin_graphql_api_id: `gid://shopify/Order/${id}`,
        created_at: now,
        processed_at: now,
        ...over,
      });
    };
    const sentEvent = (eventId: string) =>
      eventually(
        () => graph.eventsReceived().find((e) => e.event_id === eventId),
        10_000,
        `${eventId} at the Graph API`,
      );

    /** The rejection of a replayed body: answered 200 (decisions 11), recorded with its reason, nothing else done. */
    async function expectRejected(
      res: Awaited<ReturnType<typeof webhook>>,
      reason: RegExp,
    ) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        outcome: "rejected",
        reason: expect.stringMatching(reason),
      });
      expect(await receipt(res.webhookId)).toMatchObject({
        outcome: "rejected",
        shopDomain: HARBOUR.myshopifyDomain,
        reason: expect.stringMatching(reason),
      });
    }

    describe("before the shops' ids are known (the header stands unless the body names another shop)", () => {
      it("a signed shop/redact of one shop, replayed with another shop's header, leaves that other shop intact", async () => {
        const order = orderBody(HARBOUR, { order_status_url: null });
        expect(
          (await webhook("orders/paid", HARBOUR, order)).body.outcome,
        ).toBe("accepted");
        const harbour = (await shopRow(HARBOUR))!;
        const events = await app.db.outboxEvent.count({
          where: { shopId: harbour.id },
        });
        expect(events).toBeGreaterThan(0);

        await expectRejected(
          await webhook(
            "shop/redact",
            HARBOUR,
            privacyBodies(JUNIPER)["shop/redact"],
          ),
          /shop_domain/,
        );
        expect(await shopRow(HARBOUR)).toMatchObject({
          id: harbour.id,
          pixelId: PIXEL,
        });
        expect(
          await app.db.outboxEvent.count({ where: { shopId: harbour.id } }),
        ).toBe(events);
        expect(
          await app.db.session.count({
            where: { shop: HARBOUR.myshopifyDomain },
          }),
        ).toBeGreaterThan(0);
      });

      it("an orders/paid of one shop replayed as another makes no Purchase for it (its status page is on the first shop's myshopify domain)", async () => {
        const juniperOrder = orderBody(JUNIPER, {
          order_status_url: `https://${JUNIPER.myshopifyDomain}/${JUNIPER.id}/orders/abc/authenticate?key=k`,
        });
        for (const topic of ["orders/paid", "orders/create"]) {
          await expectRejected(
            await webhook(topic, HARBOUR, juniperOrder),
            /order_status_url/,
          );
        }
        expect(
          await app.db.outboxEvent.count({
            where: { eventId: `purchase_${juniperOrder.id}` },
          }),
        ).toBe(0);
        // The shop's own order goes through.
        const own = orderBody(HARBOUR, {
          order_status_url: `https://${HARBOUR.myshopifyDomain}/${HARBOUR.id}/orders/abc/authenticate?key=k`,
        });
        expect((await webhook("orders/paid", HARBOUR, own)).body.outcome).toBe(
          "accepted",
        );
      });

      it("customers/redact and customers/data_request of one shop, replayed as another, touch nothing of it", async () => {
        const buyer = privacyBodies(HARBOUR)["customers/redact"].customer;
        const order = orderBody(HARBOUR, {
          customer: {
            ...makeOrder().customer,
            id: buyer.id,
            admin_graphql_api_id: `gid://shopify/Customer/${buyer.id}`,
          },
        });
        expect(
          (await webhook("orders/paid", HARBOUR, order)).body.outcome,
        ).toBe("accepted");
        const harbour = (await shopRow(HARBOUR))!;
        const before = await app.db.outboxEvent.count({
          where: { shopId: harbour.id },
        });

        await expectRejected(
          await webhook(
            "customers/redact",
            HARBOUR,
            privacyBodies(JUNIPER)["customers/redact"],
          ),
          /shop_domain/,
        );
        expect(
          await app.db.outboxEvent.count({ where: { shopId: harbour.id } }),
        ).toBe(before);
        expect(
          await app.db.outboxEvent.count({
            where: { shopId: harbour.id, eventId: `purchase_${order.id}` },
          }),
        ).toBe(1);

        await expectRejected(
          await webhook(
            "customers/data_request",
            HARBOUR,
            privacyBodies(JUNIPER)["customers/data_request"],
          ),
          /shop_domain/,
        );
        expect(
          await app.db.dataRequest.count({ where: { shopId: harbour.id } }),
        ).toBe(0);
      });
    });

    describe("the shop's id and primary domain", () => {
      it("are read from the Admin API at install, and kept when the API fails or answers for another shop", async () => {
        const juniper = (await shopRow(JUNIPER))!;
        const admin = adminGraphql({ data: adminShop(JUNIPER) });
        await recordShopDetails(
          app.db,
          juniper.id,
          JUNIPER.myshopifyDomain,
          admin.graphql,
        );
        expect(admin.queries).toHaveLength(1);
        expect(admin.queries[0]).toMatch(
          /shop\s*\{[^}]*\bid\b[^}]*email[^}]*primaryDomain\s*\{\s*host/,
        );
        expect(await shopRow(JUNIPER)).toMatchObject({
          shopifyId: String(JUNIPER.id),
          primaryDomain: JUNIPER.primaryDomain,
          contactEmail: "owner@juniper-oak.example",
          // decisions 66: the one country it sells to.
          salesCountry: "CA",
        });
        await recordShopDetails(
          app.db,
          juniper.id,
          JUNIPER.myshopifyDomain,
          adminGraphql({
            data: adminShop(JUNIPER, undefined, ["CA", "US"]),
          }).graphql,
        );
        expect((await shopRow(JUNIPER))!.salesCountry).toBeNull();

        await recordShopDetails(
          app.db,
          juniper.id,
          JUNIPER.myshopifyDomain,
          adminGraphql({ errors: [{ message: "Throttled" }] }).graphql,
        );
        await recordShopDetails(
          app.db,
          juniper.id,
          JUNIPER.myshopifyDomain,
          adminGraphql(new Error("fetch failed")).graphql,
        );
        await recordShopDetails(
          app.db,
          juniper.id,
          JUNIPER.myshopifyDomain,
          adminGraphql({ data: adminShop(HARBOUR) }).graphql,
        );
        expect(await shopRow(JUNIPER)).toMatchObject({
          shopifyId: String(JUNIPER.id),
          primaryDomain: JUNIPER.primaryDomain,
        });
      });

      it("are kept up to date by shop/update; a malformed domain changes nothing", async () => {
        const res = await webhook("shop/update", HARBOUR, shopPayload(HARBOUR));
        expect(res).toMatchObject({
          status: 200,
          body: { outcome: "accepted" },
        });
        expect(await shopRow(HARBOUR)).toMatchObject({
          shopifyId: String(HARBOUR.id),
          primaryDomain: HARBOUR.primaryDomain,
        });

        const bad = await webhook(
          "shop/update",
          HARBOUR,
          shopPayload(HARBOUR, { domain: "https://evil.example/<script>" }),
        );
        expect(bad).toMatchObject({
          status: 200,
          body: {
            outcome: "rejected",
            reason: expect.stringMatching(/domain/),
          },
        });
        expect(await shopRow(HARBOUR)).toMatchObject({
          primaryDomain: HARBOUR.primaryDomain,
        });
      });

      it("a shop/update or app/uninstalled of another shop is rejected and changes nothing", async () => {
        await expectRejected(
          await webhook("shop/update", HARBOUR, shopPayload(JUNIPER)),
          /myshopify_domain/,
        );
        // Same myshopify domain, another shop's id.
        await expectRejected(
          await webhook(
            "shop/update",
            HARBOUR,
            shopPayload(HARBOUR, { id: JUNIPER.id, domain: "stolen.example" }),
          ),
          /shop id/,
        );
        await expectRejected(
          await webhook("app/uninstalled", HARBOUR, shopPayload(JUNIPER)),
          /myshopify_domain/,
        );
        expect(await shopRow(HARBOUR)).toMatchObject({
          shopifyId: String(HARBOUR.id),
          primaryDomain: HARBOUR.primaryDomain,
          uninstalledAt: null,
        });
      });
    });

    describe("once the shops' ids are known", () => {
      it("an order whose status page carries another shop's id is rejected, even on a custom domain", async () => {
        const juniperOrder = orderBody(JUNIPER);
        expect(juniperOrder.order_status_url).toBe(orderStatusUrl(JUNIPER));
        await expectRejected(
          await webhook("orders/paid", HARBOUR, juniperOrder),
          /order_status_url/,
        );
        expect(
          await app.db.outboxEvent.count({
            where: { eventId: `purchase_${juniperOrder.id}` },
          }),
        ).toBe(0);
        // On the other shop's domain but with the shop's own id: the id decides.
        const own = orderBody(HARBOUR, {
          order_status_url: `https://${JUNIPER.primaryDomain}/${HARBOUR.id}/orders/abc/authenticate?key=k`,
        });
        expect((await webhook("orders/paid", HARBOUR, own)).body.outcome).toBe(
          "accepted",
        );
      });

      it("a privacy webhook with the header's domain but another shop's id is rejected", async () => {
        await expectRejected(
          await webhook("shop/redact", HARBOUR, {
            ...privacyBodies(HARBOUR)["shop/redact"],
            shop_id: JUNIPER.id,
          }),
          /shop_id/,
        );
        expect(await shopRow(HARBOUR)).not.toBeNull();
      });
    });

    describe("the URLs Meta gets (defects 11, 12)", () => {
      it("a Purchase's event_source_url is the landing page on the shop's primary domain, else its home: never the order status page", async () => {
        const landed = orderBody(JUNIPER);
        const bare = orderBody(JUNIPER, { landing_site: null });
        const invoice = orderBody(JUNIPER, {
          landing_site: `/${JUNIPER.id}/invoices/ba8dcf6c022ccad3d47e3909e378e33f`,
        });
        for (const order of [landed, bare, invoice])
          expect(
            (await webhook("orders/paid", JUNIPER, order)).body.outcome,
          ).toBe("accepted");
        expect(
          (await sentEvent(`purchase_${landed.id}`)).event_source_url,
        ).toBe(`https://${JUNIPER.primaryDomain}${landed.landing_site}`);
        expect((await sentEvent(`purchase_${bare.id}`)).event_source_url).toBe(
          `https://${JUNIPER.primaryDomain}/`,
        );
        expect(
          (await sentEvent(`purchase_${invoice.id}`)).event_source_url,
        ).toBe(`https://${JUNIPER.primaryDomain}/`);
      });

      it("follows a change of primary domain announced by shop/update", async () => {
        const moved = { ...JUNIPER, primaryDomain: "juniper-oak.example" };
        expect(
          (await webhook("shop/update", JUNIPER, shopPayload(moved))).body
            .outcome,
        ).toBe("accepted");
        const order = orderBody(JUNIPER, { landing_site: null });
        expect(
          (await webhook("orders/paid", JUNIPER, order)).body.outcome,
        ).toBe("accepted");
        expect((await sentEvent(`purchase_${order.id}`)).event_source_url).toBe(
          "https://juniper-oak.example/",
        );
        expect(
          (await webhook("shop/update", JUNIPER, shopPayload(JUNIPER))).body
            .outcome,
        ).toBe("accepted");
      });

      it("browser events from checkout pages reach Meta without the checkout token or any private link", async () => {
        const key = (await shopRow(JUNIPER))!.ingestKey;
        const origin = `https://${JUNIPER.primaryDomain}`;
        const order = orderBody(JUNIPER, {
          landing_site: null,
          checkout_token: "c0ffee00c0ffee00c0ffee00c0ffee00",
        });
        const token = order.checkout_token as string;
        const base = {
          event_time: Math.floor(Date.now() / 1000),
          fbp: "fb.1.1764000000000.1234567890",
          client_id: "shopper-browser-1",
          consent: consent(true),
          checkout_token: token,
        };
        // The app forwards a browser's events once it has seen a page view from it (decisions 39).
        const { checkout_token: _token, ...storefront } = base;
        const landed = {
          ...storefront,
          event_name: "PageView" as const,
          event_id: `sh-${randomUUID()}`,
          event_source_url: `${origin}/`,
        };
        expect(
          (
            await postIngest(app, {
              v: 1,
              kind: "event",
              shop: JUNIPER.myshopifyDomain,
              key,
              event: landed,
            })
          ).body,
        ).toMatchObject({ outcome: "accepted" });
        const checkoutUrl = `${origin}/checkouts/cn/${token}/information`;
        const thankYou = `${origin}/checkouts/cn/${token}/thank-you`;
        const ids: string[] = [];
        const pages: [BrowserEventName, string, string][] = [
          ["InitiateCheckout", checkoutUrl, `${origin}/cart`],
          [
            "AddPaymentInfo",
            `${origin}/checkouts/cn/${token}/payment?key=0123secret`,
            checkoutUrl,
          ],
          ...privateUrls(origin).map(
            (p): [BrowserEventName, string, string] => [
              "PageView",
              p.url,
              p.url,
            ],
          ),
        ];
        for (const [event_name, url, referrer] of pages) {
          const event_id = `sh-${randomUUID()}`;
          ids.push(event_id);
          const res = await postIngest(app, {
            v: 1,
            kind: "event",
            shop: JUNIPER.myshopifyDomain,
            key,
            event: {
              ...base,
              event_name,
              event_id,
              event_source_url: url,
              referrer_url: referrer,
            },
          });
          expect(res.status, JSON.stringify(res.body)).toBe(202);
        }
        const purchase = {
          ...base,
          event_name: "Purchase" as const,
          event_id: `purchase_${order.id}`,
          event_source_url: thankYou,
          referrer_url: checkoutUrl,
          order_id: String(order.id),
        };
        expect(
          (
            await postIngest(app, {
              v: 1,
              kind: "event",
              shop: JUNIPER.myshopifyDomain,
              key,
              event: purchase,
            })
          ).status,
        ).toBe(202);
        expect(
          (await webhook("orders/paid", JUNIPER, order)).body.outcome,
        ).toBe("accepted");

        const sent: CapiEvent[] = [];
        for (const id of [...ids, `purchase_${order.id}`])
          sent.push(await sentEvent(id));
        expect(sent.at(-1)!.event_source_url).toBe(`${origin}/`);
        expect(sent[0]).toMatchObject({
          event_source_url: `${origin}/`,
          referrer_url: `${origin}/cart`,
        });
        const secrets = [
          token,
          "0123secret",
          ...privateUrls(origin).map((p) => p.secret),
        ];
        for (const event of sent) {
          for (const url of [event.event_source_url, event.referrer_url]) {
            for (const secret of secrets)
              expect(
                url ?? "",
                `${event.event_name} ${event.event_id}`,
              ).not.toContain(secret);
          }
        }
        // What the app keeps is as safe as what it sent.
        const contexts = await app.db.browserContext.findMany({
          where: { checkoutToken: token },
        });
        expect(contexts.map((c) => c.eventSourceUrl)).toEqual([`${origin}/`]);
      });
    });
  },
);
