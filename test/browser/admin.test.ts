import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import {
  DEFAULT_LDU_STATES,
  LDU_SOURCE_DATE,
  LDU_SOURCE_URL,
  DEFAULT_OPT_IN_REGIONS,
} from "../../app/core/reference";
import {
  databaseKinds,
  eventually,
  startApp,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { startFakeShopify, type FakeShopify } from "../support/fakeShopify";
import {
  connectedShop,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import {
  insertHistory,
  seedActivity,
  type Seeded,
  type SeedSpec,
} from "../support/adminSeed";
import {
  adminBrowserPage,
  CHROMIUM,
  launchBrowser,
  type AdminPage,
} from "../support/browser";

// Issue 6 in a real browser: the production build's admin pages in Chromium with a session token minted like
// Shopify's, Remix's client-side requests authenticated through the App Bridge stand-in. Screenshots of each page
// go to test-artifacts/ (git-ignored).

const SPEC: SeedSpec = {
  sent: 6,
  serverOnly: 2,
  failed: 2,
  optInRegion: 2,
  testOrders: 1,
  pageViews: 8,
  pageViewsDenied: 3,
};

// A developer machine without Chromium skips these (and says so); CI installs it and never skips them.
const noBrowser = !existsSync(CHROMIUM) && !process.env.CI;
if (noBrowser)
  console.warn(
    `Browser tests skipped: ${CHROMIUM} not found (apt-get install chromium).`,
  );

describe.skipIf(noBrowser).each(databaseKinds())(
  "admin pages in Chromium on %s",
  (kind) => {
    let s: Scenario;
    let seeded: Seeded;
    let browser: Browser;
    let admin: AdminPage;
    let shopId: string;

    beforeAll(async () => {
      [s, browser] = await Promise.all([connectedShop(kind), launchBrowser()]);
      seeded = await seedActivity(s, SPEC);
      shopId = (
        await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } })
      ).id;
      await insertHistory(s, shopId);
      admin = await adminBrowserPage(browser, s.app.url, s.shop);
    });
    afterAll(async () => {
      await admin?.close();
      await browser?.close();
      await s?.close();
    });

    it("home shows the connection, the seeded figures and the charts", async () => {
      await admin.open("/app");
      const page = admin.page;
      await page.locator('[data-chart="events-per-day"] svg').first().waitFor();
      await page.locator('[data-chart="key-coverage"] svg').first().waitFor();

      const week = {
        shopId,
        receivedAt: { gte: new Date(Date.now() - 7 * 86_400_000) },
      };
      const count = async (where: object) =>
        (
          await s.app.db.outboxEvent.count({ where: { ...week, ...where } })
        ).toLocaleString("en-US");
      const figure = async (label: string) =>
        (
          await page
            .getByRole("heading", { name: label, exact: true })
            .locator("xpath=following-sibling::p[1]")
            .innerText()
        ).trim();
      expect(await figure("Events received")).toBe(await count({}));
      expect(await figure("Sent to Meta")).toBe(
        await count({ status: "sent" }),
      );
      expect(await figure("Failed or expired")).toBe(
        await count({ status: { in: ["failed", "expired"] } }),
      );
      const cells = async (name: RegExp) =>
        (
          await page.getByRole("row", { name }).locator("td").allInnerTexts()
        ).map((t) => t.trim());
      expect(await cells(/Orders received/)).toContain(
        await count({ eventName: "Purchase" }),
      );
      expect(await cells(/Accepted by Meta/)).toContain(
        await count({ eventName: "Purchase", status: "sent" }),
      );
      await expect(
        page.getByText("Pipeline Pixel").first().isVisible(),
      ).resolves.toBe(true);
      // The storefront pixel cannot be created without Shopify's Admin API here: the page offers the fix.
      await page.getByRole("button", { name: "Reconnect pixel" }).waitFor();
      // decisions 150: why the chosen event's sent events lacked each key, as intake recorded it.
      // decisions 150: the seeded Purchases carry every key; the page views lack the shopper's, and say why.
      await page
        .getByText("Every one of these events carried every key.")
        .waitFor();
      await page.getByLabel("Event", { exact: true }).selectOption("PageView");
      const why = page.getByRole("table").filter({ hasText: "Missing from" });
      const email = (
        await why
          .getByRole("row", { name: /^Email/ })
          .locator("td")
          .allInnerTexts()
      ).map((t) => t.trim());
      // Live page views were recorded with their reasons; the seeded history was written before the column.
      expect(email).toEqual([
        "0%",
        expect.stringMatching(/^\d+$/),
        expect.stringMatching(
          /^Not in the order or visit: \d+ · Recorded before the app kept reasons: \d+$/,
        ),
      ]);
      await why
        .getByRole("row", { name: /^Browser id \(fbp\)/ })
        .waitFor({ state: "detached" });
      await admin.screenshot(`${kind}/home`);

      await page.getByRole("link", { name: "Last 24 hours" }).click();
      await page.getByRole("heading", { name: "Events per 3 hours" }).waitFor();
      await page.locator('[data-chart="events-per-day"] svg').first().waitFor();
      expect(await figure("Events received")).toBe(
        (
          await s.app.db.outboxEvent.count({
            where: {
              shopId,
              receivedAt: { gte: new Date(Date.now() - 86_400_000) },
            },
          })
        ).toLocaleString("en-US"),
      );
      await admin.screenshot(`${kind}/home-24h`);
    });

    it("home shows Meta's verdict beside the estimate, the token's expiry and another sender, and says which permission is missing", async () => {
      const expiresAt = new Date(Date.now() + 3 * 86_400_000);
      const yesterday = new Date(
        Math.floor(Date.now() / 86_400_000) * 86_400_000 - 43_200_000,
      );
      s.graph.setTokenInfo(TOKEN, { expiresAt });
      s.graph.addStats(PIXEL, "WEB_ONLY", [
        { hour: yesterday, eventName: "Lead", count: 120 },
      ]);
      s.graph.setQuality(PIXEL, [
        {
          event_name: "Purchase",
          event_match_quality: {
            composite_score: 6.4,
            match_key_feedback: [
              { identifier: "email", coverage: { percentage: 88 } },
            ],
          },
          event_coverage: { percentage: 75 },
          data_freshness: { upload_frequency: "real_time" },
          acr: { percentage: 3.5 },
        },
      ]);
      await admin.open("/app");
      const page = admin.page;
      await page.getByRole("heading", { name: "Meta's verdict" }).waitFor();
      await page.getByText("Not checked yet.").waitFor();
      await page.getByRole("button", { name: "Check now" }).click();

      await page.getByText("Your Meta access token expires soon").waitFor();
      await page
        .getByText(
          "Another integration seems to send the same events to your dataset",
        )
        .waitFor();
      await page
        .getByText(/Meta counted 120, this app 0/)
        .first()
        .waitFor();
      const verdict = page.getByRole("row", { name: /Purchase/ }).filter({
        hasText: "email 88%",
      });
      const cells = (await verdict.locator("td, th").allInnerTexts()).map((t) =>
        t.trim(),
      );
      expect(cells).toContain("6.4");
      expect(cells).toContain("75%");
      expect(cells).toContain("real time");
      // The app's own estimate stands beside Meta's score.
      const estimate =
        (await s.app.db.outboxEvent.count({
          where: { shopId, eventName: "Purchase", status: "sent" },
        })) > 0;
      expect(cells.filter((c) => /^\d+\.\d$/.test(c)).length).toBe(
        estimate ? 2 : 1,
      );
      await page
        .getByText(/Expires /)
        .first()
        .waitFor();
      await admin.screenshot(`${kind}/home-verdict`);

      s.graph.setTokenInfo(TOKEN, {
        expiresAt,
        scopes: ["business_management"],
      });
      await page.getByRole("button", { name: "Check now" }).click();
      await page
        .getByText(/lacks the ads_read permission/)
        .first()
        .waitFor();
      // The last verdict read stays.
      await expect(verdict.isVisible()).resolves.toBe(true);
      await admin.screenshot(`${kind}/home-verdict-refused`);
    });

    it("Orders vs Meta says when Shopify's count cannot be read; Send the last 7 days shows how its run went", async () => {
      await admin.open("/app");
      const page = admin.page;
      // No Shopify Admin API here: the card counts the orders the app received, and says why (decisions 80).
      await page
        .getByText(/Shopify's own order count could not be read just now/)
        .waitFor();
      await page.getByRole("button", { name: "Send the last 7 days" }).click();
      // The page polls the run's progress; the reconciler in the server's process cannot reach Shopify either.
      await page.getByText("The last run stopped").waitFor({ timeout: 20_000 });
      await page.getByText(/^Shopify Admin API unreachable/).waitFor();
      await page
        .getByRole("button", { name: "Send the last 7 days" })
        .waitFor();
      await admin.screenshot(`${kind}/home-backfill`);
    });

    it("a replay click in the event log re-queues a failed event, and the fake Graph API receives it", async () => {
      await admin.open("/app/events?status=failed");
      const page = admin.page;
      const rows = page.locator(".Polaris-IndexTable__TableRow");
      const failedCount = () =>
        s.app.db.outboxEvent.count({ where: { shopId, status: "failed" } });
      const before = await failedCount();
      await expect(rows.count()).resolves.toBe(before);
      expect(await rows.first().innerText()).toContain(
        "Meta rejected the event",
      );
      await admin.screenshot(`${kind}/events-failed`);

      const target = seeded.failed[0];
      const row = rows.filter({ hasText: target.order.name as string });
      s.graph.reset(); // Meta takes it now
      await row.locator('input[type="checkbox"]').check({ force: true });
      await page.getByRole("button", { name: "Replay selected" }).click();
      await page
        .locator('[data-replay-progress="done"]')
        .waitFor({ timeout: 20_000 });
      await page.getByText("Replay finished: 1 sent to Meta").waitFor();
      const events = await s.graph.waitForEvents(1);
      expect(events.map((e) => e.event_id)).toEqual([target.eventId]);
      expect(
        (
          await s.app.db.outboxEvent.findFirstOrThrow({
            where: { shopId, eventId: target.eventId },
          })
        ).status,
      ).toBe("sent");
      // The list reloaded: one failed event is left.
      await eventually(
        async () => (await rows.count()) === before - 1,
        10_000,
        "list refreshed",
      );
      await admin.screenshot(`${kind}/events-replayed`);

      await admin.open("/app/events");
      await admin.screenshot(`${kind}/events`);
    });

    it("an event page shows its timeline, payload and Meta's answer, and replays from there", async () => {
      await admin.open("/app/events?status=failed");
      const page = admin.page;
      const target = seeded.failed[1];
      // Client-side navigation: the loader's request is authenticated by the stand-in's fetch interception.
      await page
        .locator(".Polaris-IndexTable__TableRow")
        .filter({ hasText: target.order.name as string })
        .getByRole("link")
        .click();
      await page.waitForURL(/\/app\/events\/[^/?]+/);
      await page.getByText("Meta rejected the event").first().waitFor();
      const payload = await page.locator("pre[data-payload]").innerText();
      expect(JSON.parse(payload)).toMatchObject({
        event_id: target.eventId,
        user_data: { client_ip_address: "removed after delivery" },
      });
      expect(payload).not.toContain(target.buyer!.email);
      await expect(
        page.getByText(/Meta reference \(fbtrace_id\)/).isVisible(),
      ).resolves.toBe(true);
      await admin.screenshot(`${kind}/event-failed`);

      s.graph.reset();
      await page.getByRole("button", { name: "Replay" }).click();
      await page
        .getByText("Accepted by Meta")
        .first()
        .waitFor({ timeout: 20_000 });
      expect((await s.graph.waitForEvents(1)).map((e) => e.event_id)).toEqual([
        target.eventId,
      ]);
      await admin.screenshot(`${kind}/event-sent`);
    });

    it("settings show validation errors next to their fields and save valid changes", async () => {
      await admin.open("/app/settings");
      const page = admin.page;
      await admin.screenshot(`${kind}/settings`);
      // The help texts' defaults come from the loader (the page imports no values from the core).
      await page
        .getByText(
          `(default: EEA, UK and Switzerland, ${DEFAULT_OPT_IN_REGIONS.length} countries)`,
        )
        .waitFor();
      await page
        .getByText(
          `(default: ${DEFAULT_LDU_STATES.join(", ")}, from Meta's list of ${LDU_SOURCE_DATE}, ${LDU_SOURCE_URL})`,
        )
        .waitFor();
      const retention = page.getByLabel("Keep delivered events for");
      const regions = page.getByLabel("Opt-in regions");
      await retention.fill("0");
      await regions.fill("DE, FR, X1");
      await page.getByRole("button", { name: "Save" }).first().click();

      const errorOf = async (field: typeof retention) => {
        const ids =
          (await field.getAttribute("aria-describedby"))?.split(" ") ?? [];
        const texts = await Promise.all(
          ids.map((id) =>
            page
              .locator(`[id="${id}"]`)
              .innerText()
              .catch(() => ""),
          ),
        );
        return texts.join(" ");
      };
      await page.getByText("Keep events at least 1 day.").waitFor();
      expect(await errorOf(retention)).toContain("Keep events at least 1 day.");
      expect(await errorOf(regions)).toContain(
        "“X1” is not valid. Use two-letter country codes",
      );
      expect(
        (await s.app.db.shop.findUniqueOrThrow({ where: { id: shopId } }))
          .settings,
      ).toMatchObject({ retentionDays: 30 });
      await admin.screenshot(`${kind}/settings-errors`);

      await retention.fill("45");
      await regions.fill("DE, FR");
      await page
        .getByLabel("Strict: only send with an explicit marketing consent")
        .check({ force: true });
      await page.getByRole("button", { name: "Save" }).first().click();
      await page
        .locator("[data-toast]", { hasText: "Settings saved" })
        .waitFor();
      expect(
        (await s.app.db.shop.findUniqueOrThrow({ where: { id: shopId } }))
          .settings,
      ).toMatchObject({
        retentionDays: 45,
        optInRegions: ["DE", "FR"],
        consentPolicy: "strict",
      });
      expect(await errorOf(retention)).not.toContain(
        "Keep events at least 1 day.",
      );
    });

    it("unsaved settings raise the contextual save bar, which saves and discards them", async () => {
      await admin.open("/app/settings");
      const page = admin.page;
      const bar = page.locator("[data-save-bar]");
      const retention = page.getByLabel("Keep delivered events for");
      const before = await retention.inputValue();
      await expect(bar.count()).resolves.toBe(0);

      await retention.fill("61");
      await bar.waitFor();
      await bar.getByRole("button", { name: "Discard" }).click();
      await bar.waitFor({ state: "detached" });
      expect(await retention.inputValue()).toBe(before);

      await retention.fill("61");
      await bar.getByRole("button", { name: "Save" }).click();
      await page
        .locator("[data-toast]", { hasText: "Settings saved" })
        .last()
        .waitFor();
      await bar.waitFor({ state: "detached" });
      expect(
        (await s.app.db.shop.findUniqueOrThrow({ where: { id: shopId } }))
          .settings,
      ).toMatchObject({ retentionDays: 61 });

      // A value the server refuses keeps the bar up, with the error next to its field.
      await retention.fill("0");
      await bar.getByRole("button", { name: "Save" }).click();
      await page.getByText("Keep events at least 1 day.").waitFor();
      await expect(bar.isVisible()).resolves.toBe(true);
      await bar.getByRole("button", { name: "Discard" }).click();
      await bar.waitFor({ state: "detached" });

      // The connection form too.
      await admin.open("/app/connect");
      await page.getByLabel("Test event code (optional)").fill("TEST1");
      await bar.waitFor();
      await bar.getByRole("button", { name: "Discard" }).click();
      await bar.waitFor({ state: "detached" });
      expect(
        await page.getByLabel("Test event code (optional)").inputValue(),
      ).toBe("");
    });

    it("App Bridge's navigation menu lists every page", async () => {
      await admin.open("/app");
      expect(
        await admin.page.evaluate(() =>
          (
            window as unknown as { __navMenu(): { text: string }[] }
          ).__navMenu(),
        ),
      ).toEqual([
        { text: "Home", href: "/app", rel: "home" },
        { text: "Connect Meta", href: "/app/connect", rel: null },
        { text: "Destinations", href: "/app/destinations", rel: null },
        { text: "Settings", href: "/app/settings", rel: null },
        { text: "Event log", href: "/app/events", rel: null },
        { text: "Plans", href: "/app/plans", rel: null },
      ]);
    });

    it("every page is usable at a phone's width and has no serious or critical axe-core violation", async () => {
      const event = await s.app.db.outboxEvent.findFirstOrThrow({
        where: { shopId, status: "failed" },
      });
      // The Plans page needs Shopify's Billing API: it is checked below, beside the fake Shopify.
      const pages = [
        "/app",
        "/app/events",
        `/app/events/${event.id}`,
        "/app/settings",
        "/app/connect",
        "/app/destinations",
      ];
      expect(await unusablePages(admin, kind, pages)).toEqual({});
    });

    it("home explains a paused connection and test mode", async () => {
      await s.app.db.shop.update({
        where: { id: shopId },
        data: {
          pausedReason: "token",
          pausedDetail: "Error validating access token",
          pausedAt: new Date(),
          testEventCode: "TEST4242",
          testEventCodeSetAt: new Date(),
        },
      });
      await admin.open("/app");
      await admin.page
        .getByText(
          "Sending to Meta is paused: Meta access token invalid or expired",
        )
        .waitFor();
      await admin.page.getByText("Test mode is on").waitFor();
      await admin.screenshot(`${kind}/home-paused`);
      await admin.open("/app/connect");
      await admin.screenshot(`${kind}/connect`);
    });

    it("home's setup guide shows each step done or to do, and hides itself once all are done", async () => {
      // As for a shop that connected but did nothing else yet.
      await s.app.db.shop.update({
        where: { id: shopId },
        data: {
          pausedReason: null,
          pausedDetail: null,
          pausedAt: null,
          testEventCode: null,
          testEventCodeSetAt: null,
          testEventSentAt: null,
          settingsSavedAt: null,
        },
      });
      const page = admin.page;
      const guide = page.locator("[data-setup-guide]");
      const states = async () =>
        Object.fromEntries(
          await guide
            .locator("[data-step]")
            .evaluateAll((els) =>
              els.map((el) => [
                el.getAttribute("data-step"),
                el.getAttribute("data-done"),
              ]),
            ),
        );
      const expectDone = async (done: string[]) => {
        await admin.open("/app");
        expect(await states()).toEqual(
          Object.fromEntries(
            ["connect", "pixel", "test-event", "consent"].map((step) => [
              step,
              String(done.includes(step)),
            ]),
          ),
        );
        await guide.getByText(`${done.length} of 4 done`).waitFor();
      };
      await expectDone(["connect"]);
      await guide
        .getByRole("link", { name: "Add a test event code" })
        .waitFor();
      await admin.screenshot(`${kind}/setup-guide`);

      // A test event code, then an order: Meta accepts it under the code.
      await s.app.db.shop.update({
        where: { id: shopId },
        data: { testEventCode: "TEST5150", testEventCodeSetAt: new Date() },
      });
      s.graph.reset();
      await seedActivity(s, {
        sent: 1,
        failed: 0,
        optInRegion: 0,
        testOrders: 0,
        pageViews: 0,
        pageViewsDenied: 0,
      });
      expect(s.graph.requests.some((r) => r.testEventCode === "TEST5150")).toBe(
        true,
      );
      // The settings saved once (consent policy included).
      await admin.open("/app/settings");
      await page.getByLabel("Keep delivered events for").fill("44");
      await page.getByRole("button", { name: "Save" }).first().click();
      await page
        .locator("[data-toast]", { hasText: "Settings saved" })
        .last()
        .waitFor();

      await expectDone(["connect", "test-event", "consent"]);

      // The storefront pixel on: everything is done, the guide is gone.
      await s.app.db.shop.update({
        where: { id: shopId },
        data: {
          webPixelId: "gid://shopify/WebPixel/1",
          webPixelSyncedAt: new Date(),
          webPixelError: null,
        },
      });
      await admin.open("/app");
      await expect(guide.count()).resolves.toBe(0);
      await page.getByRole("heading", { name: "Connection" }).waitFor();
    });

    it("loaded no script or style from elsewhere and logged no errors", () => {
      expect(
        admin.external.every((url) =>
          url.startsWith("https://cdn.shopify.com/static/fonts/"),
        ),
      ).toBe(true);
      expect(admin.errors).toEqual([]);
    });
  },
);

describe.skipIf(noBrowser).each(databaseKinds())(
  "the Plans page in Chromium on %s",
  (kind) => {
    let shopify: FakeShopify;
    let graph: FakeGraph;
    let app: TestApp;
    let browser: Browser;
    let admin: AdminPage;
    const SHOP = `plans-${kind.slice(0, 2)}-${randomUUID().slice(0, 8)}.myshopify.com`;

    beforeAll(async () => {
      [shopify, graph, browser] = await Promise.all([
        startFakeShopify(),
        startFakeGraph(),
        launchBrowser(),
      ]);
      app = await startApp({
        db: kind,
        graphUrl: graph.url,
        env: { ...shopify.env, SHOPIFY_BILLING_TEST: "true" },
      });
      // Installed by its first embedded load (token exchange with the fake Shopify), as in the admin.
      admin = await adminBrowserPage(browser, app.url, SHOP);
    });
    afterAll(async () => {
      await admin?.close();
      await browser?.close();
      await app?.close();
      await graph?.close();
      await shopify?.close();
    });

    const planCard = (name: string) =>
      admin.page.locator(".Polaris-ShadowBevel").filter({
        has: admin.page.getByRole("heading", { name, exact: true }),
      });

    it("is usable at a phone's width and has no serious or critical axe-core violation", async () => {
      expect(await unusablePages(admin, kind, ["/app/plans"])).toEqual({});
    });

    it("choosing a plan takes the merchant to Shopify's approval page for a test charge; once approved it is the current plan", async () => {
      await admin.open("/app/plans");
      const page = admin.page;
      await expect(
        planCard("Free").getByText("Current plan").count(),
      ).resolves.toBe(1);
      await page.getByRole("button", { name: "Choose Growth" }).click();
      const away = await page
        .waitForFunction(
          () =>
            (window as unknown as { __topNavigation?: string }).__topNavigation,
        )
        .then((handle) => handle.jsonValue());
      expect(shopify.subscriptions).toMatchObject([
        { shop: SHOP, name: "Growth", status: "PENDING", test: true },
      ]);
      // The fake Billing API's confirmation URL of that subscription.
      const n = shopify.subscriptions[0].id.split("/").pop();
      expect(away).toMatch(
        new RegExp(
          `^https://${SHOP.replace(/\./g, "\\.")}/admin/charges/[^/]+/${n}/RecurringApplicationCharge/confirm_recurring_application_charge\\?`,
        ),
      );

      // Shopify brings the merchant back to the Plans page once the charge is approved.
      shopify.confirm(shopify.subscriptions[0].id);
      await admin.open("/app/plans");
      await expect(
        planCard("Growth").getByText("Current plan").count(),
      ).resolves.toBe(1);
      await expect(
        page.getByRole("button", { name: "Switch to Free" }).count(),
      ).resolves.toBe(1);
      // Chromium logs the 401 that carries Shopify's approval page as a failed load: the only error expected.
      expect(admin.errors).toEqual([
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)",
      ]);
    });
  },
);

/**
 * The pages that overflow a phone's width (375 px) or a desktop's, or have a serious or critical axe-core violation,
 * with what was found; a screenshot of each at 375 px.
 */
async function unusablePages(
  admin: AdminPage,
  kind: string,
  pages: string[],
): Promise<Record<string, unknown>> {
  const found: Record<string, unknown> = {};
  for (const width of [1280, 375]) {
    await admin.page.setViewportSize({ width, height: 812 });
    for (const pathname of pages) {
      await admin.open(pathname);
      await admin.page.waitForLoadState("networkidle");
      const overflow = await admin.page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      const violations = await admin.accessibilityViolations();
      if (overflow > 0 || violations.length)
        found[`${pathname} at ${width}px`] = { overflow, violations };
      if (width === 375)
        await admin.screenshot(`${kind}/phone${pathname.replaceAll("/", "-")}`);
    }
  }
  await admin.page.setViewportSize({ width: 1280, height: 900 });
  return found;
}
