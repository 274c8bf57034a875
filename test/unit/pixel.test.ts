import { createHash } from "node:crypto";
import { readFile, mkdtemp, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import {
  browserEventToCapi,
  parseIngestBody,
  type IngestBody,
} from "../../app/core/intake/browserEvent";
import { buildPixel, MAX_PIXEL_BYTES } from "../../scripts/build-pixel";

type IngestEventBody = Extract<IngestBody, { kind: "event" }>;
import {
  CONSENT_DENIED,
  CONSENT_GRANTED,
  FIXTURE_CHECKOUT_TOKEN,
  FIXTURE_CLIENT_ID,
  FIXTURE_EMAIL,
  FIXTURE_EMAIL_NORMALISED,
  FIXTURE_ORDER_GID,
  FIXTURE_ORDER_NUMERIC_ID,
  FIXTURE_PHONE_NORMALISED,
  FIXTURE_PIXEL_ID,
  FIXTURE_SHOP,
  FIXTURE_SHOP_KEY,
  FIXTURE_STOREFRONT,
  FIXTURE_URLS,
  cartViewed,
  checkoutCompleted,
  checkoutStarted,
  collectionViewed,
  fixtureInit,
  fixtureSettings,
  loggedInCustomer,
  pageViewed,
  paymentInfoSubmitted,
  productAddedToCart,
  productViewed,
  purchaseJourney,
  searchSubmitted,
} from "../fixtures/pixelEvents";
import { startPixel, type PixelSandboxOptions } from "../support/pixelSandbox";
import { privateUrls } from "../fixtures/shopDomains";

const sha256 = (s: string) =>
  createHash("sha256").update(s, "utf8").digest("hex");
const FBP_RE = /^fb\.1\.\d{13}\.\d{1,10}$/;

function sandbox(
  over: Partial<PixelSandboxOptions> & {
    settings?: Record<string, string>;
  } = {},
) {
  return startPixel({
    ...over,
    settings: fixtureSettings(over.settings),
    init: over.init ?? fixtureInit(),
  } as PixelSandboxOptions);
}

function parsedPosts(px: Awaited<ReturnType<typeof startPixel>>): IngestBody[] {
  return px.appPosts().map((p) => {
    const r = parseIngestBody(p.body);
    if (!r.ok)
      throw new Error(`posted body did not validate: ${r.error}\n${p.body}`);
    return r.body;
  });
}
const eventPosts = (px: Awaited<ReturnType<typeof startPixel>>) =>
  parsedPosts(px).filter((b): b is IngestEventBody => b.kind === "event");
const consentPosts = (px: Awaited<ReturnType<typeof startPixel>>) =>
  parsedPosts(px).filter((b) => b.kind === "consent");

/** Standard event names from the package's own type declarations (interfaces with `type: EventType.Standard`). */
async function officialStandardEvents(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve("@shopify/web-pixels-extension")); // index.js at the package root
  const dts = await readFile(
    path.join(pkgDir, "build/ts/types/PixelEvents/index.d.ts"),
    "utf8",
  );
  const names: string[] = [];
  for (const m of dts.matchAll(
    /name: '([a-z_]+)';[\s\S]*?type: EventType\.(\w+);/g,
  )) {
    if (m[2] === "Standard") names.push(m[1]);
  }
  return names;
}

describe("web pixel: purchase journey", () => {
  it("sends every event once to Meta's pixel and once to the app with the same event_id", async () => {
    const px = await sandbox();
    const steps = purchaseJourney();
    const expected = [
      "PageView",
      "ViewContent",
      "AddToCart",
      "InitiateCheckout",
      "AddPaymentInfo",
      "Purchase",
    ];

    for (const [i, step] of steps.entries()) {
      px.clearRequests();
      await px.publish(step.name, step.event);
      const meta = px.metaRequests();
      const posts = eventPosts(px);
      expect(meta, step.name).toHaveLength(1);
      expect(posts, step.name).toHaveLength(1);
      expect(px.requests).toHaveLength(2);

      const m = meta[0];
      const e = posts[0].event;
      expect(m.params.get("id")).toBe(FIXTURE_PIXEL_ID);
      expect(m.params.get("ev")).toBe(expected[i]);
      expect(e.event_name).toBe(expected[i]);
      expect(m.params.get("eid")).toBe(e.event_id);
      expect(e.event_id).toBe(
        step.name === "checkout_completed"
          ? `purchase_${FIXTURE_ORDER_NUMERIC_ID}`
          : step.event.id,
      );
      // Checkout pages carry the checkout token: Meta gets the storefront's home instead (decisions 36).
      const safe = (url: string) =>
        url.includes("/checkouts/") ? FIXTURE_URLS.home : url;
      expect(m.params.get("dl")).toBe(
        safe(step.event.context.document.location.href),
      );
      expect(e.event_source_url).toBe(
        safe(step.event.context.document.location.href),
      );
      expect(m.params.get("rl")).toBe(
        safe(step.event.context.document.referrer),
      );
      expect(Number(m.params.get("ts"))).toBe(Date.parse(step.event.timestamp));
      expect(e.event_time).toBe(
        Math.floor(Date.parse(step.event.timestamp) / 1000),
      );
      expect(m.params.get("fbp")).toBe(e.fbp);
      expect(e.client_id).toBe(FIXTURE_CLIENT_ID);
      expect(e.consent).toEqual(CONSENT_GRANTED);
      expect(posts[0]).toMatchObject({
        v: 1,
        kind: "event",
        shop: FIXTURE_SHOP,
        key: FIXTURE_SHOP_KEY,
      });

      // transport: image pixel GET no-cors keepalive; app POST as a simple request (string body, NO headers)
      expect(m.init).toEqual({
        method: "GET",
        mode: "no-cors",
        keepalive: true,
      });
      const post = px.appPosts()[0];
      expect(post.url).toBe("https://capi-app.example/pixel/ingest");
      expect(post.init.method).toBe("POST");
      expect(post.init.keepalive).toBe(true);
      expect(post.init.headers).toBeUndefined();
      expect(typeof post.init.body).toBe("string");
    }
  });

  it("never puts the checkout token, or any other secret of a page's URL, in dl, rl, event_source_url or referrer_url", async () => {
    const px = await sandbox();
    for (const step of purchaseJourney())
      await px.publish(step.name, step.event);
    for (const { url, secret } of privateUrls(FIXTURE_STOREFRONT)) {
      await px.publish("page_viewed", pageViewed({ href: url, referrer: url }));
      for (const m of px.metaRequests()) expect(m.url).not.toContain(secret);
    }
    await px.publish(
      "page_viewed",
      pageViewed({
        href: `${FIXTURE_URLS.product}&key=0123secret`,
        referrer: `${FIXTURE_URLS.home}?access_token=0123secret`,
      }),
    );
    const meta = px.metaRequests();
    // Only the product pages (viewed, added to cart, viewed again with a key) are more than a site's home.
    expect(
      meta
        .map((m) => m.params.get("dl")!)
        .filter((dl) => new URL(dl).pathname !== "/"),
    ).toEqual([
      FIXTURE_URLS.product,
      FIXTURE_URLS.product,
      FIXTURE_URLS.product,
    ]);
    expect(meta.at(-1)!.params.get("rl")).toBe(FIXTURE_URLS.home);
    for (const m of meta) expect(m.url).not.toContain(FIXTURE_CHECKOUT_TOKEN);
    for (const m of meta) expect(m.url).not.toContain("0123secret");
    // As posted (the endpoint's own reduction must not be what hides them).
    for (const post of px.appPosts()) {
      const event = (
        JSON.parse(post.body) as {
          event?: { event_source_url: string; referrer_url?: string };
        }
      ).event;
      for (const url of event
        ? [event.event_source_url, event.referrer_url ?? ""]
        : []) {
        expect(url).not.toContain(FIXTURE_CHECKOUT_TOKEN);
        expect(url).not.toContain("0123secret");
      }
    }
  });

  it("posts a page's other events to the app once its PageView has been answered; the browser pixel does not wait", async () => {
    // The app sends a browser's events only after it has stored a PageView from it (decisions 39).
    const px = await sandbox({ holdAppAnswers: true });
    await px.publish("page_viewed", pageViewed());
    const viewing = px.publish("product_viewed", productViewed());
    await new Promise((r) => setTimeout(r, 200));
    expect(eventPosts(px).map((b) => b.event.event_name)).toEqual(["PageView"]);
    expect(px.metaRequests().map((r) => r.params.get("ev"))).toEqual([
      "PageView",
      "ViewContent",
    ]);
    px.answerAppPosts();
    await viewing;
    expect(eventPosts(px).map((b) => b.event.event_name)).toEqual([
      "PageView",
      "ViewContent",
    ]);
  });

  it("waits at most a second for an unanswered PageView, and not at all on a page without one", async () => {
    const px = await sandbox({ holdAppAnswers: true });
    await px.publish("page_viewed", pageViewed());
    const started = Date.now();
    await px.publish("product_added_to_cart", productAddedToCart());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(eventPosts(px).map((b) => b.event.event_name)).toEqual([
      "PageView",
      "AddToCart",
    ]);
    // The thank-you page's Purchase only brings context to its order, which needs no page view: it does not wait.
    await px.publish("page_viewed", pageViewed());
    const t1 = Date.now();
    await px.publish("checkout_completed", checkoutCompleted());
    expect(Date.now() - t1).toBeLessThan(500);
    expect(eventPosts(px).map((b) => b.event.event_name)).toEqual([
      "PageView",
      "AddToCart",
      "PageView",
      "Purchase",
    ]);

    const noPageView = await sandbox({ holdAppAnswers: true });
    const t0 = Date.now();
    await noPageView.publish("product_viewed", productViewed());
    expect(Date.now() - t0).toBeLessThan(500);
    expect(eventPosts(noPageView).map((b) => b.event.event_name)).toEqual([
      "ViewContent",
    ]);
  });

  it("maps value, currency and contents like the server (variant ids by default)", async () => {
    const px = await sandbox();
    for (const step of purchaseJourney())
      await px.publish(step.name, step.event);
    const byName = Object.fromEntries(
      eventPosts(px).map((b) => [b.event.event_name, b.event]),
    );
    const meta = Object.fromEntries(
      px.metaRequests().map((m) => [m.params.get("ev"), m.params]),
    );

    expect(byName.PageView.custom_data).toBeUndefined();
    expect(byName.ViewContent.custom_data).toEqual({
      value: 25,
      currency: "EUR",
      content_ids: ["44556677001"],
      contents: [{ id: "44556677001", quantity: 1, item_price: 25 }],
      content_type: "product",
    });
    expect(byName.AddToCart.custom_data).toEqual({
      value: 50,
      currency: "EUR",
      content_ids: ["44556677001"],
      contents: [{ id: "44556677001", quantity: 2, item_price: 25 }],
      content_type: "product",
      num_items: 2,
    });
    const checkoutData = {
      value: 114.8,
      currency: "EUR",
      content_ids: ["44556677001", "44556677002"],
      contents: [
        { id: "44556677001", quantity: 2, item_price: 25 },
        { id: "44556677002", quantity: 1, item_price: 59.9 },
      ],
      content_type: "product",
      num_items: 3,
    };
    expect(byName.InitiateCheckout.custom_data).toEqual(checkoutData);
    expect(byName.AddPaymentInfo.custom_data).toEqual(checkoutData);
    expect(byName.Purchase.custom_data).toEqual(checkoutData);
    expect(byName.Purchase.order_id).toBe(FIXTURE_ORDER_NUMERIC_ID);
    for (const n of ["InitiateCheckout", "AddPaymentInfo", "Purchase"]) {
      expect(byName[n].checkout_token).toBe(FIXTURE_CHECKOUT_TOKEN);
    }

    const p = meta.Purchase!;
    expect(p.get("eid")).toBe(`purchase_${FIXTURE_ORDER_NUMERIC_ID}`);
    expect(p.get("cd[value]")).toBe("114.8");
    expect(p.get("cd[currency]")).toBe("EUR");
    expect(JSON.parse(p.get("cd[content_ids]")!)).toEqual(
      checkoutData.content_ids,
    );
    expect(JSON.parse(p.get("cd[contents]")!)).toEqual(checkoutData.contents);
    expect(p.get("cd[content_type]")).toBe("product");
    expect(p.get("cd[num_items]")).toBe("3");
  });

  it("hashes the shopper's keys in the browser: ud[em] = sha256(trimmed, lowercased email), ph digits with country code, names, the customer id", async () => {
    const px = await sandbox();
    await px.publish("checkout_completed", checkoutCompleted());
    const [m] = px.metaRequests();
    const [b] = eventPosts(px);
    expect(FIXTURE_EMAIL).not.toBe(FIXTURE_EMAIL_NORMALISED);
    expect(m.params.get("ud[em]")).toBe(sha256(FIXTURE_EMAIL_NORMALISED));
    expect(m.params.get("ud[ph]")).toBe(sha256(FIXTURE_PHONE_NORMALISED));
    expect(m.params.get("ud[fn]")).toBe(sha256("jane"));
    expect(m.params.get("ud[ln]")).toBe(sha256("doe"));
    // the order's customer: the digits of its gid, as the server's order carries them
    expect(m.params.get("ud[external_id]")).toBe(sha256("7001"));
    expect(b.event.user_data).toEqual({
      em: [sha256(FIXTURE_EMAIL_NORMALISED)],
      ph: [sha256(FIXTURE_PHONE_NORMALISED)],
      fn: [sha256("jane")],
      ln: [sha256("doe")],
      external_id: [sha256("7001")],
    });
    // nothing in clear
    expect(m.url).not.toMatch(/jane|doe%40|612345678/i);
    expect(px.appPosts()[0].body).not.toMatch(/jane|612345678/i);
  });

  it("gives a logged-in shopper's keys to every event, on both paths, hashed in the browser (decisions 109)", async () => {
    const init = fixtureInit();
    init.data.customer = loggedInCustomer();
    const px = await sandbox({ init });
    await px.publish("page_viewed", pageViewed());
    await px.publish("product_viewed", productViewed());
    await px.publish("product_added_to_cart", productAddedToCart());
    const expected = {
      em: sha256("returning.shopper@example.com"),
      ph: sha256("33611223344"),
      fn: sha256("zoë"),
      ln: sha256("oneil"),
      external_id: sha256("42"),
    };
    expect(px.metaRequests()).toHaveLength(3);
    for (const m of px.metaRequests())
      for (const [field, hash] of Object.entries(expected))
        expect(m.params.get(`ud[${field}]`), field).toBe(hash);
    for (const b of eventPosts(px))
      expect(b.event.user_data).toEqual(
        Object.fromEntries(
          Object.entries(expected).map(([field, hash]) => [field, [hash]]),
        ),
      );
    expect(
      px
        .appPosts()
        .map((p) => p.body)
        .join(),
    ).not.toMatch(/returning|shopper|611223344|neil/i);
  });

  it("gives a logged-in shopper who refused marketing nothing", async () => {
    const init = fixtureInit({ customerPrivacy: CONSENT_DENIED });
    init.data.customer = loggedInCustomer();
    const px = await sandbox({ init });
    await px.publish("page_viewed", pageViewed());
    await px.publish("product_viewed", productViewed());
    expect(px.metaRequests()).toHaveLength(0);
    expect(eventPosts(px)).toHaveLength(0);
  });

  it("hashes the same without crypto.subtle (portable SHA-256)", async () => {
    const px = await sandbox({ withoutSubtle: true });
    await px.publish(
      "checkout_started",
      checkoutStarted({ email: "Ünïcode.Ñame@Example.com" }),
    );
    expect(px.metaRequests()[0].params.get("ud[em]")).toBe(
      sha256("ünïcode.ñame@example.com"),
    );
  });

  it("works with protected customer data redacted (null email/phone/addresses): fewer keys, no error", async () => {
    const px = await sandbox();
    await px.publish(
      "checkout_completed",
      checkoutCompleted({ redacted: true }),
    );
    const [m] = px.metaRequests();
    const [b] = eventPosts(px);
    expect(m.params.has("ud[em]")).toBe(false);
    expect(m.params.has("ud[ph]")).toBe(false);
    expect(m.params.has("ud[fn]")).toBe(false);
    // the customer id is not protected customer data
    expect(b.event.user_data).toEqual({ external_id: [sha256("7001")] });
    expect(b.event.event_id).toBe(`purchase_${FIXTURE_ORDER_NUMERIC_ID}`);
  });

  it("drops a phone without a country code instead of hashing a national number", async () => {
    const px = await sandbox();
    await px.publish(
      "checkout_started",
      checkoutStarted({ phone: "06 12 34 56 78" }),
    );
    expect(px.metaRequests()[0].params.has("ud[ph]")).toBe(false);
    px.clearRequests();
    await px.publish(
      "checkout_started",
      checkoutStarted({ phone: "+44 (0)20 7946 0958" }),
    );
    expect(px.metaRequests()[0].params.get("ud[ph]")).toBe(
      sha256("442079460958"),
    );
  });

  it("normalises the Purchase event_id from a numeric order id too", async () => {
    const px = await sandbox();
    await px.publish(
      "checkout_completed",
      checkoutCompleted({ orderId: "5678901234" }),
    );
    expect(px.metaRequests()[0].params.get("eid")).toBe("purchase_5678901234");
    expect(FIXTURE_ORDER_GID).toContain("OrderIdentity");
  });

  it("does not fire the browser Purchase without an order id (it could not deduplicate), but posts to the app", async () => {
    const px = await sandbox();
    const ev = checkoutCompleted({ orderId: null });
    await px.publish("checkout_completed", ev);
    expect(px.metaRequests()).toHaveLength(0);
    const [b] = eventPosts(px);
    expect(b.event).toMatchObject({
      event_name: "Purchase",
      event_id: ev.id,
      checkout_token: FIXTURE_CHECKOUT_TOKEN,
    });
    expect(b.event.order_id).toBeUndefined();
  });

  it("maps Search with its query and result ids", async () => {
    const px = await sandbox();
    await px.publish(
      "search_submitted",
      searchSubmitted({ query: "  Linen Shirt " }),
    );
    const [m] = px.metaRequests();
    expect(m.params.get("ev")).toBe("Search");
    expect(m.params.get("cd[search_string]")).toBe("Linen Shirt");
    expect(JSON.parse(m.params.get("cd[content_ids]")!)).toEqual([
      "44556677002",
      "44556677001",
    ]);
    expect(eventPosts(px)[0].event.custom_data?.search_string).toBe(
      "Linen Shirt",
    );
  });

  it("uses the shop's content id format (shopify_catalog, sku, product)", async () => {
    const cat = await sandbox({
      settings: { contentIdFormat: "shopify_catalog", catalogCountry: "fr" },
    });
    await cat.publish("product_viewed", productViewed());
    expect(eventPosts(cat)[0].event.custom_data?.content_ids).toEqual([
      "shopify_FR_8011223344_44556677001",
    ]);

    const sku = await sandbox({ settings: { contentIdFormat: "sku" } });
    await sku.publish("product_added_to_cart", productAddedToCart());
    expect(eventPosts(sku)[0].event.custom_data?.content_ids).toEqual([
      "TEE-BLK-M",
    ]);

    const product = await sandbox({ settings: { contentIdFormat: "product" } });
    await product.publish("product_viewed", productViewed());
    expect(eventPosts(product)[0].event.custom_data).toMatchObject({
      content_ids: ["8011223344"],
      content_type: "product_group",
    });
  });
});

describe("web pixel: the same value and currency as the server's Purchase (decisions 110)", () => {
  it.each([
    ["total", undefined, 114.8],
    ["total", "total", 114.8],
    ["subtotal", "subtotal", 109.9],
    ["total (an unknown setting)", "net", 114.8],
  ])(
    "value setting %s: every checkout event on both paths",
    async (_, valueMode, value) => {
      const settings: Record<string, string> =
        valueMode === undefined ? {} : { valueMode };
      const px = await sandbox({ settings });
      await px.publish("checkout_started", checkoutStarted());
      await px.publish("payment_info_submitted", paymentInfoSubmitted());
      await px.publish("checkout_completed", checkoutCompleted());
      expect(px.metaRequests()).toHaveLength(3);
      for (const m of px.metaRequests()) {
        expect(m.params.get("cd[value]")).toBe(String(value));
        expect(m.params.get("cd[currency]")).toBe("EUR");
      }
      for (const b of eventPosts(px))
        expect(b.event.custom_data).toMatchObject({ value, currency: "EUR" });
    },
  );
});

describe("web pixel: _fbp and _fbc", () => {
  it("creates _fbp once (fb.1.<ms>.<random>), stores it 90 days on path /, and reuses it", async () => {
    const px = await sandbox();
    for (const step of purchaseJourney())
      await px.publish(step.name, step.event);
    const writes = px.cookieWrites.filter((w) => w.name === "_fbp");
    expect(writes).toHaveLength(1);
    expect(writes[0].value).toMatch(FBP_RE);
    const rand = Number(writes[0].value.split(".")[3]);
    expect(rand).toBeGreaterThanOrEqual(1);
    expect(rand).toBeLessThanOrEqual(2147483647);
    expect(writes[0].attributes["max-age"]).toBe(String(90 * 24 * 3600));
    expect(writes[0].attributes.path).toBe("/");
    expect(writes[0].attributes.expires).toBeTruthy();
    const fbps = new Set([
      ...px.metaRequests().map((m) => m.params.get("fbp")),
      ...eventPosts(px).map((b) => b.event.fbp),
    ]);
    expect([...fbps]).toEqual([writes[0].value]);
    // cookies read once, then served from memory
    expect(px.cookieReads.filter((n) => n === "_fbp")).toHaveLength(1);
  });

  it("keeps an existing _fbp cookie", async () => {
    const existing = "fb.1.1700000000000.1234567890";
    const px = await sandbox({ cookies: { _fbp: existing } });
    await px.publish("page_viewed", pageViewed());
    await px.publish("product_viewed", productViewed());
    expect(px.cookieWrites).toHaveLength(0);
    expect(px.metaRequests().map((m) => m.params.get("fbp"))).toEqual([
      existing,
      existing,
    ]);
    expect(eventPosts(px).map((b) => b.event.fbp)).toEqual([
      existing,
      existing,
    ]);
  });

  it("treats an undefined cookie answer as absent", async () => {
    const px = await sandbox({ missingCookieValue: undefined });
    await px.publish("page_viewed", pageViewed());
    expect(px.cookieWrites.filter((w) => w.name === "_fbp")).toHaveLength(1);
  });

  it("builds _fbc from fbclid (case preserved), keeps it for the same fbclid, replaces it for a new one", async () => {
    const fbclid = "IwAR2xYzAbC-dEf_GhIjKlMnOpQrStUvWxYz0123456789";
    const landing = `${FIXTURE_URLS.product}&fbclid=${fbclid}`;
    const now = 1_765_000_000_000;
    const px = await sandbox({
      init: fixtureInit({ href: landing }),
      now: () => now,
    });
    await px.publish("page_viewed", pageViewed({ href: landing }));
    const fbcWrites = () => px.cookieWrites.filter((w) => w.name === "_fbc");
    expect(fbcWrites()).toHaveLength(1);
    expect(fbcWrites()[0].value).toBe(`fb.1.${now}.${fbclid}`);
    expect(fbcWrites()[0].attributes["max-age"]).toBe(String(90 * 24 * 3600));
    expect(px.metaRequests()[0].params.get("fbc")).toBe(
      `fb.1.${now}.${fbclid}`,
    );
    expect(eventPosts(px)[0].event.fbc).toBe(`fb.1.${now}.${fbclid}`);

    // the same fbclid again (reload of the landing page): not reset
    await px.publish("page_viewed", pageViewed({ href: landing }));
    expect(fbcWrites()).toHaveLength(1);
    // later pages without fbclid keep the fbc
    await px.publish("product_viewed", productViewed());
    expect(eventPosts(px).at(-1)!.event.fbc).toBe(`fb.1.${now}.${fbclid}`);
    // a new ad click: replaced
    await px.publish(
      "page_viewed",
      pageViewed({ href: `${FIXTURE_URLS.home}?fbclid=NewClickID_42` }),
    );
    expect(fbcWrites()).toHaveLength(2);
    expect(eventPosts(px).at(-1)!.event.fbc).toBe(`fb.1.${now}.NewClickID_42`);
  });

  it("does not reset an existing _fbc cookie that has the same fbclid", async () => {
    const existing = "fb.1.1700000000000.SameClick";
    const href = `${FIXTURE_URLS.home}?fbclid=SameClick`;
    const px = await sandbox({
      cookies: { _fbc: existing },
      init: fixtureInit({ href }),
    });
    await px.publish("page_viewed", pageViewed({ href }));
    expect(px.cookieWrites.filter((w) => w.name === "_fbc")).toHaveLength(0);
    expect(px.metaRequests()[0].params.get("fbc")).toBe(existing);
  });

  it("keeps cookies with capi-param-builder's appendix as they are, and does not reset _fbc for the same fbclid", async () => {
    const fbp = "fb.1.1733000000000.123456789987654321.AQIBAQAA";
    const fbc = "fb.1.1733000000000.SameClick.Ag";
    const href = `${FIXTURE_URLS.home}?fbclid=SameClick`;
    const px = await sandbox({
      cookies: { _fbp: fbp, _fbc: fbc },
      init: fixtureInit({ href }),
    });
    await px.publish("page_viewed", pageViewed({ href }));
    expect(px.cookieWrites).toHaveLength(0);
    expect(px.metaRequests()[0].params.get("fbp")).toBe(fbp);
    expect(px.metaRequests()[0].params.get("fbc")).toBe(fbc);
    expect(eventPosts(px)[0].event).toMatchObject({ fbp, fbc });
  });

  it("ignores an fbclid over 500 characters", async () => {
    const href = `${FIXTURE_URLS.home}?fbclid=${"a".repeat(501)}`;
    const px = await sandbox({ init: fixtureInit({ href }) });
    await px.publish("page_viewed", pageViewed({ href }));
    expect(px.cookieWrites.filter((w) => w.name === "_fbc")).toHaveLength(0);
    expect(px.metaRequests()[0].params.has("fbc")).toBe(false);
    expect(eventPosts(px)[0].event.fbc).toBeUndefined();

    const ok = `${FIXTURE_URLS.home}?fbclid=${"b".repeat(500)}`;
    await px.publish("page_viewed", pageViewed({ href: ok }));
    expect(eventPosts(px).at(-1)!.event.fbc).toMatch(/^fb\.1\.\d{13}\.b{500}$/);
  });
});

describe("web pixel: consent", () => {
  it("with marketing denied at init: nothing to facebook.com, no event posts, no cookies; only consent posts", async () => {
    const px = await sandbox({
      init: fixtureInit({ customerPrivacy: CONSENT_DENIED }),
    });
    for (const step of purchaseJourney())
      await px.publish(step.name, step.event);
    expect(
      px.requests.filter((r) => r.url.includes("facebook.com")),
    ).toHaveLength(0);
    expect(eventPosts(px)).toHaveLength(0);
    expect(px.cookieWrites).toHaveLength(0);
    expect(px.cookieReads).toHaveLength(0);
    const consents = consentPosts(px);
    // one consent record for the checkout (deduplicated across the three checkout events)
    expect(consents).toEqual([
      {
        v: 1,
        kind: "consent",
        shop: FIXTURE_SHOP,
        key: FIXTURE_SHOP_KEY,
        checkout_token: FIXTURE_CHECKOUT_TOKEN,
        client_id: FIXTURE_CLIENT_ID,
        consent: CONSENT_DENIED,
      },
    ]);
  });

  it("follows a change denied -> granted mid-session", async () => {
    const px = await sandbox({
      init: fixtureInit({ customerPrivacy: CONSENT_DENIED }),
    });
    await px.publish("page_viewed", pageViewed());
    expect(px.requests).toHaveLength(0);

    await px.setConsent(CONSENT_GRANTED);
    const consents = consentPosts(px);
    expect(consents).toHaveLength(1);
    expect(consents[0]).toMatchObject({
      kind: "consent",
      consent: CONSENT_GRANTED,
    });
    expect(px.cookieWrites.filter((w) => w.name === "_fbp")).toHaveLength(1);

    px.clearRequests();
    await px.publish("product_viewed", productViewed());
    expect(px.metaRequests()).toHaveLength(1);
    expect(eventPosts(px)).toHaveLength(1);
    expect(eventPosts(px)[0].event.consent).toEqual(CONSENT_GRANTED);
  });

  it("follows a change granted -> denied mid-session and posts the consent with the checkout token", async () => {
    const px = await sandbox();
    await px.publish("checkout_started", checkoutStarted());
    expect(px.metaRequests()).toHaveLength(1);
    px.clearRequests();

    await px.setConsent({ ...CONSENT_GRANTED, marketingAllowed: false });
    expect(px.requests).toHaveLength(1);
    expect(consentPosts(px)[0]).toEqual({
      v: 1,
      kind: "consent",
      shop: FIXTURE_SHOP,
      key: FIXTURE_SHOP_KEY,
      checkout_token: FIXTURE_CHECKOUT_TOKEN,
      client_id: FIXTURE_CLIENT_ID,
      consent: { ...CONSENT_GRANTED, marketingAllowed: false },
    });

    px.clearRequests();
    await px.publish("payment_info_submitted", paymentInfoSubmitted());
    await px.publish("checkout_completed", checkoutCompleted());
    expect(
      px.requests.filter((r) => r.url.includes("facebook.com")),
    ).toHaveLength(0);
    expect(eventPosts(px)).toHaveLength(0);
  });

  it("every event carries the current consent snapshot", async () => {
    const px = await sandbox();
    await px.publish("page_viewed", pageViewed());
    await px.setConsent({
      ...CONSENT_GRANTED,
      analyticsProcessingAllowed: false,
    });
    await px.publish("page_viewed", pageViewed());
    const events = eventPosts(px);
    expect(events[0].event.consent).toEqual(CONSENT_GRANTED);
    expect(events[1].event.consent).toEqual({
      ...CONSENT_GRANTED,
      analyticsProcessingAllowed: false,
    });
  });

  it("adds Limited Data Use to the image pixel when saleOfDataAllowed is false", async () => {
    const px = await sandbox({
      init: fixtureInit({ customerPrivacy: { saleOfDataAllowed: false } }),
    });
    await px.publish("page_viewed", pageViewed());
    const [m] = px.metaRequests();
    expect(m.params.get("dpo")).toBe("LDU");
    expect(m.params.get("dpoco")).toBe("0");
    expect(m.params.get("dpost")).toBe("0");
    expect(eventPosts(px)[0].event.consent.saleOfDataAllowed).toBe(false);

    const open = await sandbox();
    await open.publish("page_viewed", pageViewed());
    expect(open.metaRequests()[0].params.has("dpo")).toBe(false);
  });
});

describe("web pixel: settings", () => {
  it('browserPixel "false": no facebook.com requests, app posts continue', async () => {
    const px = await sandbox({ settings: { browserPixel: "false" } });
    for (const step of purchaseJourney())
      await px.publish(step.name, step.event);
    expect(
      px.requests.filter((r) => r.url.includes("facebook.com")),
    ).toHaveLength(0);
    expect(eventPosts(px).map((b) => b.event.event_name)).toEqual([
      "PageView",
      "ViewContent",
      "AddToCart",
      "InitiateCheckout",
      "AddPaymentInfo",
      "Purchase",
    ]);
  });

  it("sends custom events only when enabled", async () => {
    const off = await sandbox();
    await off.publish("collection_viewed", collectionViewed());
    await off.publish("cart_viewed", cartViewed());
    expect(off.requests).toHaveLength(0);
    expect(off.subscriptions).not.toContain("collection_viewed");
    expect(off.subscriptions).not.toContain("cart_viewed");

    const on = await sandbox({
      settings: { customEvents: "collection_viewed, cart_viewed" },
    });
    await on.publish("collection_viewed", collectionViewed());
    await on.publish("cart_viewed", cartViewed());
    expect(on.metaRequests().map((m) => m.params.get("ev"))).toEqual([
      "ViewCollection",
      "ViewCart",
    ]);
    const [col, cart] = eventPosts(on).map((b) => b.event);
    expect(col.custom_data).toEqual({
      content_ids: ["44556677001", "44556677002", "44556677003"],
      content_type: "product",
    });
    expect(cart.custom_data).toMatchObject({
      value: 109.9,
      currency: "EUR",
      num_items: 3,
    });

    const one = await sandbox({ settings: { customEvents: "cart_viewed" } });
    await one.publish("collection_viewed", collectionViewed());
    await one.publish("cart_viewed", cartViewed());
    expect(one.metaRequests().map((m) => m.params.get("ev"))).toEqual([
      "ViewCart",
    ]);
  });

  it("subscribes only to official standard event names (from the package's types)", async () => {
    const official = await officialStandardEvents();
    expect(official).toEqual(
      expect.arrayContaining([
        "page_viewed",
        "checkout_completed",
        "cart_viewed",
      ]),
    );
    expect(official).not.toContain("clicked"); // a DOM event, not standard

    const px = await sandbox({
      settings: { customEvents: "collection_viewed,cart_viewed" },
    });
    expect(px.subscriptions.sort()).toEqual(
      [
        "page_viewed",
        "product_viewed",
        "search_submitted",
        "product_added_to_cart",
        "checkout_started",
        "payment_info_submitted",
        "checkout_completed",
        "collection_viewed",
        "cart_viewed",
      ].sort(),
    );
    for (const name of px.subscriptions) expect(official, name).toContain(name);
    expect(px.consentSubscriptions).toEqual(["visitorConsentCollected"]);
  });

  it("sends nothing to Meta without a valid pixel id, and posts nothing without an ingest URL", async () => {
    const noPixel = await sandbox({ settings: { pixelId: "" } });
    await noPixel.publish("page_viewed", pageViewed());
    expect(noPixel.metaRequests()).toHaveLength(0);
    expect(eventPosts(noPixel)).toHaveLength(1);

    const noIngest = await sandbox({ settings: { ingestUrl: "not a url" } });
    await noIngest.publish("page_viewed", pageViewed());
    expect(noIngest.metaRequests()).toHaveLength(1);
    expect(noIngest.requests).toHaveLength(1);
  });
});

describe("web pixel bundle", () => {
  it("builds under Shopify's 128 kB limit, without zod, calling shopify.extend('WebPixel::Render')", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "pixel-size-"));
    try {
      const out = path.join(dir, "main.js");
      const { bytes } = await buildPixel(out);
      expect(bytes).toBe((await stat(out)).size);
      expect(bytes).toBeLessThan(MAX_PIXEL_BYTES);
      const code = await readFile(out, "utf8");
      expect(code).toContain("WebPixel::Render");
      expect(code).not.toMatch(/ZodError|\$ZodType/);
      expect(code).not.toMatch(/\bwindow\.|\bdocument\.cookie/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("ingest wire contract", () => {
  const validEvent = () => ({
    v: 1,
    kind: "event",
    shop: FIXTURE_SHOP,
    key: FIXTURE_SHOP_KEY,
    event: {
      event_name: "Purchase",
      event_id: "purchase_5678901234",
      event_time: 1_765_000_000,
      event_source_url: FIXTURE_URLS.thankYou,
      referrer_url: FIXTURE_URLS.payment,
      fbp: "fb.1.1765000000000.1234567890",
      fbc: "fb.1.1765000000000.IwAR2xYz",
      client_id: FIXTURE_CLIENT_ID,
      consent: CONSENT_GRANTED,
      checkout_token: FIXTURE_CHECKOUT_TOKEN,
      order_id: FIXTURE_ORDER_NUMERIC_ID,
      custom_data: {
        value: 114.8,
        currency: "EUR",
        content_ids: ["44556677001"],
        contents: [{ id: "44556677001", quantity: 2, item_price: 25 }],
        content_type: "product",
        num_items: 2,
      },
      user_data: { em: [sha256("a@b.co").toUpperCase()] },
    },
  });
  /** A valid body with each field at a dotted path ("event.custom_data.currency") set to a value: broken on purpose. */
  const withFields = (fields: Record<string, unknown>) => {
    const body: Record<string, unknown> = validEvent();
    for (const [path, value] of Object.entries(fields)) {
      const keys = path.split(".");
      const parent = keys
        .slice(0, -1)
        .reduce((at, key) => at[key] as Record<string, unknown>, body);
      parent[keys.at(-1)!] = value;
    }
    return body;
  };
  const parse = (v: unknown) =>
    parseIngestBody(typeof v === "string" ? v : JSON.stringify(v));
  const errorOf = (v: unknown) => {
    const r = parse(v);
    expect(r.ok).toBe(false);
    return r.ok ? "" : r.error;
  };

  it("accepts a valid event and lower-cases hashes", () => {
    const r = parse(validEvent());
    expect(r.ok).toBe(true);
    if (r.ok && r.body.kind === "event")
      expect(r.body.event.user_data?.em).toEqual([sha256("a@b.co")]);
  });

  it("reduces private links and secret parameters in event_source_url and referrer_url (a pixel may be old or forged)", () => {
    const body = validEvent();
    body.event.event_source_url = FIXTURE_URLS.thankYou;
    body.event.referrer_url = `${FIXTURE_URLS.product}&token=0123secret`;
    const r = parse(body);
    if (!r.ok || r.body.kind !== "event") throw new Error("expected an event");
    expect(r.body.event.event_source_url).toBe(FIXTURE_URLS.home);
    expect(r.body.event.referrer_url).toBe(FIXTURE_URLS.product);
    for (const { url } of privateUrls(FIXTURE_STOREFRONT)) {
      const parsed = parse({
        ...body,
        event: { ...body.event, event_source_url: url, referrer_url: url },
      });
      if (!parsed.ok || parsed.body.kind !== "event")
        throw new Error(`expected an event for ${url}`);
      expect(parsed.body.event.event_source_url).toBe(
        `${new URL(url).origin}/`,
      );
      expect(parsed.body.event.referrer_url).toBe(`${new URL(url).origin}/`);
    }
  });

  it("accepts a consent update", () => {
    expect(
      parse({
        v: 1,
        kind: "consent",
        shop: FIXTURE_SHOP,
        key: FIXTURE_SHOP_KEY,
        consent: { marketingAllowed: false },
      }).ok,
    ).toBe(true);
  });

  it("rejects bad JSON and non-objects", () => {
    expect(errorOf("{not json")).toBe("body is not valid JSON");
    expect(errorOf("")).toBe("empty body");
    expect(errorOf("[1,2]")).toBe("body must be a JSON object");
    expect(errorOf("x".repeat(70_000))).toMatch(/too large/);
  });

  it("rejects wrong types with the field path", () => {
    expect(errorOf(withFields({ "event.event_time": "1765000000" }))).toMatch(
      /^event\.event_time: .*expected number/,
    );
    expect(
      errorOf(withFields({ "event.event_time": 1_765_000_000_000 })),
    ).toMatch(/event_time: must be Unix seconds, not milliseconds/);
    expect(errorOf(withFields({ "event.event_name": "purchase" }))).toMatch(
      /^event\.event_name:/,
    );
    expect(
      errorOf(withFields({ "event.custom_data.currency": "eur" })),
    ).toMatch(/currency: must be a 3-letter ISO 4217 code/);
    expect(errorOf(withFields({ "event.fbp": "fb.1.abc.1" }))).toMatch(
      /^event\.fbp:/,
    );
    expect(
      errorOf(withFields({ "event.event_source_url": "javascript:alert(1)" })),
    ).toMatch(/event_source_url: must be an http\(s\) URL/);
  });

  it("rejects oversize arrays and strings", () => {
    const ids = Array.from({ length: 201 }, (_, i) => String(i));
    expect(
      errorOf(withFields({ "event.custom_data.content_ids": ids })),
    ).toMatch(/content_ids: at most 200 ids/);
    const contents = Array.from({ length: 201 }, (_, i) => ({
      id: String(i),
      quantity: 1,
    }));
    expect(
      errorOf(withFields({ "event.custom_data.contents": contents })),
    ).toMatch(/contents: at most 200 contents/);
    const em = Array.from({ length: 6 }, () => sha256("x"));
    expect(errorOf(withFields({ "event.user_data.em": em }))).toMatch(
      /user_data\.em: at most 5 values/,
    );
    expect(
      errorOf(
        withFields({ "event.fbc": `fb.1.1765000000000.${"a".repeat(501)}` }),
      ),
    ).toMatch(/^event\.fbc:/);
  });

  it("rejects non-hex user_data (raw PII) without echoing it", () => {
    const err = errorOf(
      withFields({ "event.user_data": { em: ["jane.doe@example.com"] } }),
    );
    expect(err).toMatch(/user_data\.em\[0\]: must be SHA-256 hex/);
    expect(err).not.toContain("jane");
    const notHex = withFields({
      "event.user_data": { ph: [sha256("1").slice(0, 63) + "g"] },
    });
    expect(errorOf(notHex)).toMatch(/user_data\.ph\[0\]: must be SHA-256 hex/);
  });

  it("is strict on the envelope and lenient (stripping) inside the event", () => {
    expect(errorOf({ ...validEvent(), extra: 1 })).toMatch(/Unrecognized key/);
    expect(errorOf({ ...validEvent(), v: 2 })).toMatch(
      /unsupported wire version/,
    );
    expect(errorOf({ ...validEvent(), kind: "other" })).toMatch(
      /kind: must be "event" or "consent"/,
    );
    expect(errorOf({ ...validEvent(), shop: "evil.example.com" })).toMatch(
      /shop: must be a <shop>\.myshopify\.com domain/,
    );
    const r = parse(
      withFields({
        "event.future_field": "x",
        "event.user_data.raw_email": "jane@example.com",
      }),
    );
    expect(r.ok).toBe(true);
    if (r.ok && r.body.kind === "event") {
      expect(r.body.event).not.toHaveProperty("future_field");
      expect(r.body.event.user_data).not.toHaveProperty("raw_email");
    }
  });

  it("keeps errors short even for huge input", () => {
    const err = errorOf(
      withFields({
        "event.event_id": "x".repeat(20_000),
        [`k${"y".repeat(10_000)}`]: 1,
      }),
    );
    expect(err.length).toBeLessThanOrEqual(300);
    expect(err).not.toContain("x".repeat(200));
  });

  it("maps a browser event to a CAPI website event", () => {
    const r = parse(validEvent());
    if (!r.ok || r.body.kind !== "event") throw new Error("expected an event");
    const capi = browserEventToCapi(r.body.event, {
      clientIp: "203.0.113.7",
      userAgent: "UA/1.0",
    });
    expect(capi).toEqual({
      event_name: "Purchase",
      event_time: 1_765_000_000,
      event_id: "purchase_5678901234",
      action_source: "website",
      event_source_url: FIXTURE_URLS.home,
      referrer_url: FIXTURE_URLS.home,
      user_data: {
        em: [sha256("a@b.co")],
        fbp: "fb.1.1765000000000.1234567890",
        fbc: "fb.1.1765000000000.IwAR2xYz",
        client_ip_address: "203.0.113.7",
        client_user_agent: "UA/1.0",
      },
      custom_data: {
        value: 114.8,
        currency: "EUR",
        content_type: "product",
        content_ids: ["44556677001"],
        contents: [{ id: "44556677001", quantity: 2, item_price: 25 }],
        num_items: 2,
        order_id: "5678901234",
      },
    });
    const bare = browserEventToCapi(
      {
        event_name: "PageView",
        event_id: "sh-1",
        event_time: 1_765_000_000,
        event_source_url: FIXTURE_URLS.home,
        consent: { marketingAllowed: true },
      },
      { clientIp: null, userAgent: null },
    );
    expect(bare).toEqual({
      event_name: "PageView",
      event_time: 1_765_000_000,
      event_id: "sh-1",
      action_source: "website",
      event_source_url: FIXTURE_URLS.home,
      user_data: {},
    });
  });
});

describe("web pixel: several datasets (decisions 136)", () => {
  const FRANCE = FIXTURE_PIXEL_ID;
  const GERMANY = "222000111222333";
  const EURO = "333000111222333";
  const datasets = JSON.stringify([
    { id: FRANCE, rule: { kind: "market", values: ["fr"], countries: ["FR"] } },
    { id: GERMANY, rule: { kind: "country", values: ["DE"] } },
    { id: EURO, rule: { kind: "currency", values: ["EUR"] } },
  ]);

  it("fires the browser copy to each dataset whose rule takes the shopper's market, country or currency, with the server's event id", async () => {
    const px = await sandbox({ settings: { datasets } });
    await px.publish("checkout_completed", checkoutCompleted());
    const meta = px.metaRequests();
    expect(meta.map((m) => m.params.get("id")).sort()).toEqual(
      [FRANCE, EURO].sort(),
    );
    const [post] = eventPosts(px);
    for (const m of meta) {
      expect(m.params.get("ev")).toBe("Purchase");
      expect(m.params.get("eid")).toBe(post.event.event_id);
    }
    // Once to the app, whatever the number of datasets: the server routes its own copy.
    expect(eventPosts(px)).toHaveLength(1);
  });

  it("sends nothing to a dataset whose rule it cannot read, and falls back to pixelId without the setting", async () => {
    const unreadable = JSON.stringify([
      { id: GERMANY, rule: { kind: "planet", values: ["mars"] } },
      { id: EURO, rule: { kind: "currency", values: ["EUR"] } },
    ]);
    const px = await sandbox({ settings: { datasets: unreadable } });
    await px.publish("checkout_completed", checkoutCompleted());
    expect(px.metaRequests().map((m) => m.params.get("id"))).toEqual([EURO]);

    const plain = await sandbox({ settings: { datasets: "" } });
    await plain.publish("checkout_completed", checkoutCompleted());
    expect(plain.metaRequests().map((m) => m.params.get("id"))).toEqual([
      FIXTURE_PIXEL_ID,
    ]);
  });
});
