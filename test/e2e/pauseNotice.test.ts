import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { ensureShop } from "../../app/core/shops/shopConfig";
import { recordShopDetails } from "../../app/shops.server";
import { mailerFromEnv } from "../../app/mailer.server";
import { notifyPause } from "../../app/core/delivery/pauseNotice";
import { classifyGraphError } from "../../app/core/meta/graphErrors";
import { makeOrder } from "../fixtures/order";
import { eventually } from "../support/app";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { bodyOf, headerOf, startSmtp } from "../support/smtp";
import { adminData } from "../support/shopifyAdmin";
import {
  connect,
  connectedShop,
  orderWebhook,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";

// The pause notice (decisions 20, 162): with SMTP_URL set, a shop whose sending to one of its datasets pauses for
// something only the merchant can fix gets one e-mail per pause episode of that dataset, with the fix. A real SMTP
// server on 127.0.0.1 receives it.

const SMTP_PASSWORD = "smtp-S3cret/pass";
const SHOP_EMAIL = "owner@paused-shop.example";

describe("the pause notice e-mail", () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let s: Scenario;

  beforeAll(async () => {
    smtp = await startSmtp(SMTP_PASSWORD);
    s = await connectedShop("sqlite", {
      env: {
        SMTP_URL: `smtp://mailer:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${smtp.port}`,
        SMTP_FROM: "CAPI app <alerts@capi-app.example>",
      },
    });
    await s.app.db.shop.update({
      where: { domain: s.shop },
      data: { contactEmail: SHOP_EMAIL },
    });
  });
  afterAll(async () => {
    await s?.close();
    await smtp?.close();
  });

  const paused = () =>
    s.app.db.shop
      .findUniqueOrThrow({ where: { domain: s.shop } })
      .then((shop) => shop.pausedReason);
  let orderId = 7_700_000_000_000;
  const order = () => {
    const id = ++orderId;
    const now = new Date().toISOString();
    return makeOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      created_at: now,
      processed_at: now,
    });
  };

  it("e-mails the shop once when its token expires, however many batches fail, with the fix", async () => {
    const stopFailing = s.graph.failOn((req) => req.pixelId === PIXEL, {
      status: 400,
      code: 190,
      subcode: 463,
      message: "Session has expired",
    });
    for (let i = 0; i < 3; i++)
      expect((await orderWebhook(s, order())).body.outcome).toBe("accepted");
    await eventually(
      async () => (await paused()) === "token",
      15_000,
      "the shop paused",
    );
    await eventually(
      () => smtp.received.length >= 1,
      10_000,
      "the notice at the SMTP server",
    );
    // More orders while paused: no second message in the same episode.
    for (let i = 0; i < 3; i++) await orderWebhook(s, order());
    await new Promise((r) => setTimeout(r, 1_500));
    expect(smtp.received).toHaveLength(1);

    const [mail] = smtp.received;
    expect(mail).toMatchObject({
      from: "alerts@capi-app.example",
      to: [SHOP_EMAIL],
      user: "mailer",
    });
    expect(mail.text).toMatch(
      new RegExp(
        `Subject: Sending to Meta is paused for ${s.shop.replace(/\./g, "\\.")}`,
      ),
    );
    const body = bodyOf(mail.text);
    expect(body).toMatch(/How to fix it: .*token/i);
    expect(body).toContain("Nothing is lost");
    expect(body).not.toContain(TOKEN);
    expect(
      (await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } }))
        .pauseNotifiedAt,
    ).toBeInstanceOf(Date);
    expect(s.app.logs.join("\n")).toMatch(/pause notice e-mailed/);
    expect(s.app.logs.join("\n")).not.toContain(SMTP_PASSWORD);
    stopFailing();
  });

  it("starts a new episode after the connection is fixed: the next pause is e-mailed again", async () => {
    await connect(s.app, s.shop, TOKEN);
    expect(await paused()).toBeNull();
    await s.graph.waitForEvents(6, 15_000);
    const stopFailing = s.graph.failOn((req) => req.pixelId === PIXEL, {
      status: 400,
      code: 190,
      subcode: 460,
      message: "Password changed",
    });
    await orderWebhook(s, order());
    await eventually(
      () => smtp.received.length >= 2,
      15_000,
      "a second notice",
    );
    expect(smtp.received[1].to).toEqual([SHOP_EMAIL]);
    stopFailing();
  });

  it("e-mails once per pause episode of a further destination, naming it, while the own dataset keeps sending", async () => {
    const PIXEL_B = "444000999888777";
    const TOKEN_B = "EAAGpausedDESTINATIONtoken0123456789";
    await connect(s.app, s.shop, TOKEN);
    s.graph.addPixel(PIXEL_B, { name: "Europe dataset", token: TOKEN_B });
    const save = async (id: string) => {
      const res = await adminData(
        s.app.url,
        "/app/destinations",
        "routes/app.destinations",
        s.shop,
        {
          intent: "save",
          id,
          pixelId: PIXEL_B,
          accessToken: TOKEN_B,
          ruleKind: "all",
        },
      );
      expect(res.status).toBe(200);
      const { result } = await res.json();
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      return result.id as string;
    };
    const id = await save("");
    const destination = () =>
      s.app.db.destination.findUniqueOrThrow({ where: { id } });
    const before = smtp.received.length;
    const sentOwn = s.graph.eventCount(PIXEL);
    const failB = () =>
      s.graph.failOn((req) => req.pixelId === PIXEL_B, {
        status: 400,
        code: 190,
        subcode: 463,
        message: "Session has expired",
      });
    let stopFailing = failB();
    for (let i = 0; i < 3; i++)
      expect((await orderWebhook(s, order())).body.outcome).toBe("accepted");
    await eventually(
      async () => (await destination()).pausedReason === "token",
      15_000,
      "the destination paused",
    );
    await eventually(
      () => smtp.received.length > before,
      10_000,
      "the destination's notice",
    );
    for (let i = 0; i < 3; i++) await orderWebhook(s, order());
    await eventually(
      () => s.graph.eventCount(PIXEL) >= sentOwn + 6,
      15_000,
      "the own dataset still sending",
    );
    await new Promise((r) => setTimeout(r, 1_000));
    expect(smtp.received).toHaveLength(before + 1);
    const mail = smtp.received[before];
    expect(mail.to).toEqual([SHOP_EMAIL]);
    expect(headerOf(mail.text, "Subject")).toBe(
      `Sending to Meta dataset Europe dataset (${PIXEL_B}) is paused for ${s.shop}: Meta access token invalid or expired`,
    );
    const body = bodyOf(mail.text);
    expect(body).toContain("Destinations page");
    expect(body).not.toContain("Connect page");
    expect(body).not.toContain(TOKEN_B);
    expect((await destination()).pauseNotifiedAt).toBeInstanceOf(Date);
    // The own dataset's episode is its own: not paused, no claim taken.
    expect(
      await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } }),
    ).toMatchObject({ pausedReason: null, pauseNotifiedAt: null });

    // Saved again with a token Meta takes, the destination resumes; its next pause is a new episode.
    stopFailing();
    await save(id);
    expect(await destination()).toMatchObject({
      pausedReason: null,
      pauseNotifiedAt: null,
    });
    stopFailing = failB();
    await orderWebhook(s, order());
    await eventually(
      () => smtp.received.length > before + 1,
      15_000,
      "the next episode's notice",
    );
    stopFailing();
  });
});

describe("the shop's e-mail and the notice's episode", () => {
  let database: TestDatabase;
  let db: Db;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    db = createDb(classifyDatabaseUrl(database.url)).db;
    smtp = await startSmtp(SMTP_PASSWORD);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await database?.drop();
    await smtp?.close();
  });

  const failure = {
    info: classifyGraphError({ code: 190, subcode: 463 }),
    httpStatus: 400,
    code: 190,
    subcode: 463,
    message: "Session has expired",
    fbtraceId: null,
    ambiguous: false,
  };

  it("sends one notice per episode, even to several dispatchers at once, and none without an address", async () => {
    const mailer = mailerFromEnv({
      SMTP_URL: `smtp://mailer:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${smtp.port}`,
    })!;
    const shop = await ensureShop(db, "episode.myshopify.com", null);
    await db.shop.update({
      where: { id: shop.id },
      data: { pausedReason: "token", pausedAt: new Date() },
    });
    const own = { id: shop.id, own: true, pixelId: null, pixelName: null };
    expect(
      await notifyPause(db, mailer, shop, own, failure, {
        adminUrl: "https://a",
      }),
    ).toBe("no_address");
    await db.shop.update({
      where: { id: shop.id },
      data: { contactEmail: "episode@shop.example" },
    });
    const outcomes = await Promise.all(
      [1, 2, 3].map(() =>
        notifyPause(db, mailer, shop, own, failure, { adminUrl: "https://a" }),
      ),
    );
    expect(outcomes.sort()).toEqual(["already_sent", "already_sent", "sent"]);
    expect(smtp.received.map((m) => m.to)).toEqual([["episode@shop.example"]]);

    // A destination's episode is claimed on its own row, as the shop's.
    const d = await db.destination.create({
      data: {
        shopId: shop.id,
        pixelId: "111222333",
        tokenCiphertext: "sealed",
        tokenKeyId: "k",
        tokenLast4: "abcd",
        rule: { kind: "all" },
        pausedReason: "permission",
        pausedAt: new Date(),
      },
    });
    const target = {
      id: d.id,
      own: false,
      pixelId: d.pixelId,
      pixelName: null,
    };
    const again = await Promise.all(
      [1, 2, 3].map(() =>
        notifyPause(db, mailer, shop, target, failure, {
          adminUrl: "https://a",
        }),
      ),
    );
    expect(again.sort()).toEqual(["already_sent", "already_sent", "sent"]);
    expect(smtp.received).toHaveLength(2);
  });

  it("refuses an SMTP_URL it cannot use, without repeating its password", () => {
    expect(mailerFromEnv({})).toBeNull();
    expect(() =>
      mailerFromEnv({ SMTP_URL: "https://mailer:hunter2@mail.example" }),
    ).toThrow(/must start with smtp:\/\/ or smtps:\/\//);
    expect(() => mailerFromEnv({ SMTP_URL: "not a url hunter2" })).toThrow(
      /is not a URL/,
    );
    for (const url of [
      "https://mailer:hunter2@mail.example",
      "not a url hunter2",
    ]) {
      try {
        mailerFromEnv({ SMTP_URL: url });
      } catch (err) {
        expect((err as Error).message).not.toContain("hunter2");
      }
    }
  });

  const answering = (body: unknown) => async () =>
    new Response(JSON.stringify(body), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });

  it("stores the Admin API's shop.email, and keeps going without it when the API fails", async () => {
    const shop = await ensureShop(db, "install-email.myshopify.com", null);
    await recordShopDetails(
      db,
      shop.id,
      shop.domain,
      answering({
        data: {
          shop: {
            email: " owner@install.example ",
            myshopifyDomain: shop.domain,
          },
        },
      }),
    );
    expect(
      (await db.shop.findUniqueOrThrow({ where: { id: shop.id } }))
        .contactEmail,
    ).toBe("owner@install.example");
    await recordShopDetails(
      db,
      shop.id,
      shop.domain,
      answering({ errors: [{ message: "Throttled" }] }),
    );
    expect(
      (await db.shop.findUniqueOrThrow({ where: { id: shop.id } }))
        .contactEmail,
    ).toBe("owner@install.example");
  });
});
