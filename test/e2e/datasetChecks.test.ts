import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orderAt } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import {
  connect,
  connectedShop,
  orderWebhook,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { adminData, adminPage } from "../support/shopifyAdmin";
import { bodyOf, headerOf, startSmtp } from "../support/smtp";

// Issue 17, parts 2-4 (decisions 126-129): the daily check of a shop's dataset against the fake Graph API's
// debug_token, stats and dataset_quality endpoints, the token warnings at a real SMTP server, and what the admin's
// loader and "Check now" give.

const SMTP_PASSWORD = "smtp-Checks/pass";
const SHOP_EMAIL = "owner@checked-shop.example";
const DAY_MS = 86_400_000;

describe.each(databaseKinds())("dataset checks on %s", (kind) => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let s: Scenario;
  let shopId: string;

  beforeAll(async () => {
    smtp = await startSmtp(SMTP_PASSWORD);
    s = await connectedShop(kind, {
      env: {
        SMTP_URL: `smtp://mailer:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${smtp.port}`,
        DATASET_CHECK_POLL_MS: "200",
      },
    });
    const shop = await s.app.db.shop.update({
      where: { domain: s.shop },
      data: { contactEmail: SHOP_EMAIL },
    });
    shopId = shop.id;
  });
  afterAll(async () => {
    await s?.close();
    await smtp?.close();
  });

  const row = () =>
    s.app.db.datasetCheck.findUnique({
      where: { shopId_pixelId: { shopId, pixelId: PIXEL } },
    });
  const checkNow = async () => {
    const res = await adminData(
      s.app.url,
      "/app?index",
      "routes/app._index",
      s.shop,
      { intent: "check_dataset" },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true });
    return (await row())!;
  };
  const loaderCheck = async () => {
    const res = await adminData(s.app.url, "/app", "routes/app._index", s.shop);
    expect(res.status).toBe(200);
    return (await res.json()).check;
  };

  it("checks a newly connected dataset by itself, and not again the same day", async () => {
    await eventually(
      async () => (await row())?.tokenStatus === "ok",
      10_000,
      "the first daily check",
    );
    const first = (await row())!.checkedAt.getTime();
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await row())!.checkedAt.getTime()).toBe(first);
    expect(smtp.received).toHaveLength(0);
  });

  it("e-mails once, 7 days before the token expires, and shows the expiry in the admin", async () => {
    const expiresAt = new Date(Date.now() + 3 * DAY_MS);
    s.graph.setTokenInfo(TOKEN, { expiresAt });
    // A new connection is checked again at once, without waiting a day.
    await connect(s.app, s.shop, TOKEN);
    await eventually(
      () => smtp.received.length >= 1,
      10_000,
      "the expiry warning",
    );
    const [mail] = smtp.received;
    expect(mail.to).toEqual([SHOP_EMAIL]);
    expect(headerOf(mail.text, "Subject")).toBe(
      `The Meta access token for ${s.shop} expires on ${expiresAt.toISOString().slice(0, 10)}`,
    );
    const body = bodyOf(mail.text);
    expect(body).toMatch(/How to fix it: .*token/i);
    expect(body).not.toContain(TOKEN);
    const debug = s.graph.requests.find((r) => r.path.endsWith("/debug_token"));
    expect(debug?.query.input_token).toBe(TOKEN);

    expect((await checkNow()).tokenStatus).toBe("expiring");
    await checkNow();
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.received).toHaveLength(1);
    expect(await loaderCheck()).toMatchObject({
      tokenStatus: "expiring",
      tokenExpiresAt: new Date(
        Math.floor(expiresAt.getTime() / 1000) * 1000,
      ).toISOString(),
    });
  });

  it("does not warn about an expiry more than 7 days away", async () => {
    s.graph.setTokenInfo(TOKEN, {
      expiresAt: new Date(Date.now() + 30 * DAY_MS),
    });
    const check = await checkNow();
    expect(check.tokenStatus).toBe("ok");
    expect(check.noticeKey).toBeNull();
    expect(smtp.received).toHaveLength(1);
  });

  it("e-mails at once when the token no longer reaches the dataset, before a send fails", async () => {
    const stop = s.graph.failOn(
      (req) => req.method === "GET" && req.path.endsWith(`/${PIXEL}`),
      {
        status: 400,
        code: 100,
        subcode: 33,
        message: `Unsupported get request. Object with ID '${PIXEL}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      },
    );
    const check = await checkNow();
    stop();
    expect(check.tokenStatus).toBe("no_access");
    expect(check.tokenDetail).toMatch(/does not exist/);
    await eventually(() => smtp.received.length >= 2, 5_000, "the warning");
    expect(headerOf(smtp.received[1].text, "Subject")).toBe(
      `The app has lost access to Meta dataset ${PIXEL} for ${s.shop}`,
    );
    // Sending was not touched: the shop is not paused by a check.
    expect(
      (await s.app.db.shop.findUniqueOrThrow({ where: { id: shopId } }))
        .pausedReason,
    ).toBeNull();
    expect((await loaderCheck()).tokenStatus).toBe("no_access");
  });

  it("e-mails when Meta says the token is no longer valid, and says nothing when Meta cannot be asked", async () => {
    s.graph.setTokenInfo(TOKEN, { valid: false });
    const invalid = await checkNow();
    expect(invalid.tokenStatus).toBe("invalid");
    expect(invalid.tokenDetail).toMatch(/Session has expired/);
    await eventually(() => smtp.received.length >= 3, 5_000, "the warning");
    expect(headerOf(smtp.received[2].text, "Subject")).toBe(
      `The Meta access token for ${s.shop} no longer works`,
    );

    s.graph.setTokenInfo(TOKEN, { valid: true });
    const stop = s.graph.failOn((req) => req.path.endsWith("/debug_token"), {
      status: 500,
      code: 2,
    });
    const unknown = await checkNow();
    stop();
    expect(unknown.tokenStatus).toBe("unknown");
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.received).toHaveLength(3);
  });

  it("warns of another sender when Meta counts clearly more events than the app sent", async () => {
    s.graph.setTokenInfo(TOKEN, {});
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const yesterdayNoon = new Date(today - DAY_MS / 2);
    const day = yesterdayNoon.toISOString().slice(0, 10);
    for (let i = 0; i < 12; i++) {
      const id = 8_800_000_000_000 + i;
      const at = yesterdayNoon.toISOString();
      const res = await orderWebhook(s, orderAt(id, at));
      expect(res.body.outcome).toBe("accepted");
    }
    await s.graph.waitForEvents(12, 15_000);
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({
          where: { shopId, status: "sent" },
        })) === 12,
      10_000,
      "the orders marked sent",
    );
    // Meta counted exactly what the app sent: nothing to say.
    expect((await checkNow()).senders).toEqual([]);

    // Another integration sent the same 12 purchases, and a theme snippet 40 page views the app never saw.
    s.graph.addStats(PIXEL, "SERVER_ONLY", [
      { hour: yesterdayNoon, eventName: "Purchase", count: 12 },
    ]);
    s.graph.addStats(PIXEL, "WEB_ONLY", [
      { hour: yesterdayNoon, eventName: "PageView", count: 40 },
      // Below the floor of 10 more: noise.
      { hour: yesterdayNoon, eventName: "ViewContent", count: 9 },
    ]);
    const check = await checkNow();
    expect(check.senders).toEqual([
      { day, eventName: "PageView", source: "browser", meta: 40, ours: 0 },
      { day, eventName: "Purchase", source: "server", meta: 24, ours: 12 },
    ]);
    const stats = s.graph.requests.filter((r) => r.path.endsWith("/stats"));
    expect(stats.map((r) => r.query.event_source).sort()).toContain("WEB_ONLY");
    expect((await loaderCheck()).senders).toHaveLength(2);
  });

  it("reads Meta's verdict for the app's events and keeps only the aggregates", async () => {
    s.graph.setQuality(PIXEL, [
      {
        event_name: "Purchase",
        event_match_quality: {
          composite_score: 7.2,
          match_key_feedback: [
            { identifier: "email", coverage: { percentage: 91.5 } },
            { identifier: "phone", coverage: { percentage: 40 } },
          ],
        },
        event_coverage: { percentage: 80 },
        dedupe_key_feedback: [
          {
            dedupe_key: "event_id",
            server_events_with_dedupe_key: { percentage: 100 },
          },
        ],
        data_freshness: { upload_frequency: "real_time" },
        acr: { percentage: 4.1 },
      },
    ]);
    await checkNow();
    const read = s.graph.requests.findLast((r) =>
      r.path.endsWith("/dataset_quality"),
    );
    expect(read?.query).toMatchObject({
      dataset_id: PIXEL,
      agent_name: "meta-capi-shopify",
    });
    const check = await loaderCheck();
    expect(check.qualityError).toBeNull();
    expect(check.quality).toEqual([
      {
        eventName: "Purchase",
        matchScore: 7.2,
        keyCoverage: { email: 91.5, phone: 40 },
        eventCoverage: 80,
        dedupKeyCoverage: 100,
        freshness: "real_time",
        additionalConversions: 4.1,
      },
    ]);
  });

  it("names the missing permission when Meta refuses the reads, keeps the last verdict and keeps sending", async () => {
    s.graph.setTokenInfo(TOKEN, { scopes: ["business_management"] });
    const check = await loaderCheck().then(async () => {
      await checkNow();
      return loaderCheck();
    });
    expect(check.tokenStatus).toBe("ok");
    expect(check.qualityError).toMatch(/lacks the ads_read permission/);
    expect(check.sendersError).toMatch(/lacks the ads_read permission/);
    expect(check.quality).toHaveLength(1);
    expect(check.qualityError).not.toContain(TOKEN);

    s.graph.reset();
    await orderWebhook(s, orderAt(8_900_000_000_001));
    await s.graph.waitForEvents(1, 15_000);
  });
});

// Decisions 160-161: the same checks for each further destination, with its own dataset id, token and Graph version;
// its warnings name it, and the Destinations page shows each dataset's last check.
const PIXEL_B = "444000111222333";
const TOKEN_B = "EAAGbDATASETcheckTOKEN0123456789abcd";
const PIXEL_C = "666000111222333";
const TOKEN_C = "EAAGcDATASETcheckTOKEN0123456789wxyz";
const DESTINATIONS = "routes/app.destinations";

describe.each(databaseKinds())(
  "dataset checks of further destinations on %s",
  (kind) => {
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let s: Scenario;
    let shopId: string;
    let b: string;
    let c: string;

    interface Listed {
      id: string;
      pixelId: string;
      check: {
        tokenStatus: string;
        tokenExpiresAt: string | null;
        tokenDetail: string | null;
        tokenFix: string;
        quality: { eventName: string; matchScore: number | null }[];
        qualityError: string | null;
      } | null;
    }
    const page = async (form?: Record<string, string>) => {
      const res = await adminData(
        s.app.url,
        "/app/destinations",
        DESTINATIONS,
        s.shop,
        form,
      );
      expect(res.status).toBe(200);
      const text = await res.text();
      for (const token of [TOKEN, TOKEN_B, TOKEN_C])
        expect(text).not.toContain(token);
      return JSON.parse(text);
    };
    /** Each dataset's last check as the Destinations page gives it, by dataset id. */
    const checks = async () =>
      Object.fromEntries(
        ((await page()).destinations as Listed[]).map((d) => [
          d.pixelId,
          d.check,
        ]),
      );
    const add = async (pixelId: string, token: string, version = "") => {
      const saved = await page({
        intent: "save",
        id: "",
        pixelId,
        accessToken: token,
        testEventCode: "",
        graphApiVersion: version,
        ruleKind: "all",
      });
      expect(saved.result).toMatchObject({ ok: true });
      return saved.result.id as string;
    };
    const row = (pixelId: string) =>
      s.app.db.datasetCheck.findUnique({
        where: { shopId_pixelId: { shopId, pixelId } },
      });

    beforeAll(async () => {
      smtp = await startSmtp(SMTP_PASSWORD);
      s = await connectedShop(kind, {
        env: {
          SMTP_URL: `smtp://mailer:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${smtp.port}`,
          DATASET_CHECK_POLL_MS: "200",
        },
      });
      shopId = (
        await s.app.db.shop.update({
          where: { domain: s.shop },
          data: { contactEmail: SHOP_EMAIL },
        })
      ).id;
      s.graph.addPixel(PIXEL_B, { name: "Europe dataset", token: TOKEN_B });
      s.graph.addPixel(PIXEL_C, { name: "Wholesale dataset", token: TOKEN_C });
      b = await add(PIXEL_B, TOKEN_B);
      c = await add(PIXEL_C, TOKEN_C, "v23.0");
    });
    afterAll(async () => {
      await s?.close();
      await smtp?.close();
    });

    it("checks each destination by itself once a day, with its own dataset id, token and Graph version", async () => {
      await eventually(
        async () =>
          (await row(PIXEL_B))?.tokenStatus === "ok" &&
          (await row(PIXEL_C))?.tokenStatus === "ok",
        10_000,
        "the destinations' first daily checks",
      );
      const debug = s.graph.requests.filter((r) =>
        r.path.endsWith("/debug_token"),
      );
      for (const token of [TOKEN_B, TOKEN_C])
        expect(debug.some((r) => r.query.input_token === token)).toBe(true);
      const lookupC = s.graph.requests.filter(
        (r) => r.method === "GET" && r.path.endsWith(`/${PIXEL_C}`),
      );
      expect(lookupC.length).toBeGreaterThan(0);
      for (const r of lookupC) {
        expect(r.accessToken).toBe(TOKEN_C);
        expect(r.version).toBe("v23.0");
      }
      const qualityC = s.graph.requests.find(
        (r) =>
          r.path.endsWith("/dataset_quality") && r.query.dataset_id === PIXEL_C,
      );
      expect(qualityC?.accessToken).toBe(TOKEN_C);
      // One claim per dataset and day: several polls later, still the first check.
      const first = (await row(PIXEL_C))!.checkedAt.getTime();
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await row(PIXEL_C))!.checkedAt.getTime()).toBe(first);
      expect(smtp.received).toHaveLength(0);
    });

    it("warns once of the second destination's expiring token, naming it, and shows it on its card only", async () => {
      const expiresAt = new Date(Date.now() + 2 * DAY_MS);
      s.graph.setTokenInfo(TOKEN_C, { expiresAt });
      expect(await page({ intent: "check", id: c })).toMatchObject({
        ok: true,
      });
      await page({ intent: "check", id: c });
      await eventually(
        () => smtp.received.length >= 1,
        5_000,
        "the expiry warning",
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(smtp.received).toHaveLength(1);
      const [mail] = smtp.received;
      expect(mail.to).toEqual([SHOP_EMAIL]);
      expect(headerOf(mail.text, "Subject")).toBe(
        `The Meta access token for ${s.shop}'s dataset Wholesale dataset (${PIXEL_C}) expires on ${expiresAt.toISOString().slice(0, 10)}`,
      );
      const body = bodyOf(mail.text);
      expect(body).toContain("Destinations page");
      expect(body).not.toContain("Connect page");
      for (const token of [TOKEN, TOKEN_B, TOKEN_C])
        expect(body).not.toContain(token);

      const shown = await checks();
      expect(shown[PIXEL_C]).toMatchObject({ tokenStatus: "expiring" });
      expect(shown[PIXEL_C]!.tokenFix).toContain("Destinations page");
      expect(shown[PIXEL]).toMatchObject({ tokenStatus: "ok" });
      expect(shown[PIXEL]!.tokenFix).toContain("Connect page");
      expect(shown[PIXEL_B]).toMatchObject({ tokenStatus: "ok" });
    });

    it("warns when the second destination's token loses its dataset, and the other datasets stay fine and keep sending", async () => {
      const stop = s.graph.failOn(
        (req) => req.method === "GET" && req.path.endsWith(`/${PIXEL_C}`),
        {
          status: 400,
          code: 100,
          subcode: 33,
          message: `Unsupported get request. Object with ID '${PIXEL_C}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
        },
      );
      for (const id of ["own", b, c])
        expect(await page({ intent: "check", id })).toMatchObject({
          ok: true,
        });
      stop();
      await eventually(() => smtp.received.length >= 2, 5_000, "the warning");
      await new Promise((r) => setTimeout(r, 500));
      expect(smtp.received).toHaveLength(2);
      expect(headerOf(smtp.received[1].text, "Subject")).toBe(
        `The app has lost access to Meta dataset ${PIXEL_C} for ${s.shop}`,
      );
      expect(bodyOf(smtp.received[1].text)).toContain(
        "Wholesale dataset (" + PIXEL_C + ")",
      );
      const shown = await checks();
      expect(shown[PIXEL_C]).toMatchObject({ tokenStatus: "no_access" });
      expect(shown[PIXEL_C]!.tokenDetail).toMatch(/does not exist/);
      expect(shown[PIXEL]).toMatchObject({ tokenStatus: "ok" });
      expect(shown[PIXEL_B]).toMatchObject({ tokenStatus: "ok" });
      // The page as the merchant sees it: the warning on the second destination's card only.
      const html = await (
        await adminPage(s.app.url, "/app/destinations", s.shop)
      ).text();
      // Cards in order (own, Europe, Wholesale), the loader's data after them: the warning is below Wholesale's.
      const warning = html.indexOf(
        "Your access token can no longer reach the Meta dataset",
      );
      expect(html.indexOf("Europe dataset")).toBeGreaterThan(0);
      expect(html.indexOf("Wholesale dataset")).toBeGreaterThan(
        html.indexOf("Europe dataset"),
      );
      expect(warning).toBeGreaterThan(html.indexOf("Wholesale dataset"));
      for (const token of [TOKEN, TOKEN_B, TOKEN_C])
        expect(html).not.toContain(token);
      // A check pauses nothing.
      expect(
        (await s.app.db.destination.findUniqueOrThrow({ where: { id: c } }))
          .pausedReason,
      ).toBeNull();
    });

    it("reads Meta's verdict per dataset, and names the missing permission of the destination whose token lacks it", async () => {
      s.graph.setQuality(PIXEL_B, [
        {
          event_name: "Purchase",
          event_match_quality: { composite_score: 8.4 },
        },
      ]);
      s.graph.setTokenInfo(TOKEN_C, { scopes: ["business_management"] });
      await page({ intent: "check", id: b });
      await page({ intent: "check", id: c });
      const shown = await checks();
      expect(shown[PIXEL_B]).toMatchObject({
        tokenStatus: "ok",
        qualityError: null,
        quality: [{ eventName: "Purchase", matchScore: 8.4 }],
      });
      expect(shown[PIXEL_C]).toMatchObject({ tokenStatus: "ok", quality: [] });
      expect(shown[PIXEL_C]!.qualityError).toMatch(
        /lacks the ads_read permission/,
      );
      expect(shown[PIXEL_C]!.qualityError).toContain("Destinations page");
      expect(shown[PIXEL]!.qualityError).toBeNull();
      // Found fine again, the episode ended: no e-mail for a token that works.
      expect(smtp.received).toHaveLength(2);
      expect((await row(PIXEL_C))!.noticeKey).toBeNull();
    });

    it("compares Meta's counts of a destination with what the app sent to that dataset alone", async () => {
      s.graph.setTokenInfo(TOKEN_C, {});
      const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
      const yesterdayNoon = new Date(today - DAY_MS / 2);
      for (let i = 0; i < 10; i++) {
        const res = await orderWebhook(
          s,
          orderAt(8_700_000_000_000 + i, yesterdayNoon.toISOString()),
        );
        expect(res.body.outcome).toBe("accepted");
      }
      // Every dataset takes all orders: 10 rows each.
      await eventually(
        async () =>
          (await s.app.db.outboxEvent.count({
            where: { shopId, status: "sent" },
          })) === 30,
        15_000,
        "the orders sent to the three datasets",
      );
      // Another sender added 10 purchases on B: Meta counts twice what the app sent there. The 30 rows of all three
      // datasets would hide it (20 < 1.5 x 30).
      s.graph.addStats(PIXEL_B, "SERVER_ONLY", [
        { hour: yesterdayNoon, eventName: "Purchase", count: 10 },
      ]);
      await page({ intent: "check", id: b });
      await page({ intent: "check", id: c });
      expect((await row(PIXEL_B))!.senders).toEqual([
        {
          day: yesterdayNoon.toISOString().slice(0, 10),
          eventName: "Purchase",
          source: "server",
          meta: 20,
          ours: 10,
        },
      ]);
      expect((await row(PIXEL_C))!.senders).toEqual([]);
    });
  },
);
