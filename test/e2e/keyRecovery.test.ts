import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../app/core/shops/tokenCrypto";
import { databaseKinds, eventually, TOKEN_KEY } from "../support/app";
import {
  connect,
  connectedShop,
  orderWebhook,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { adminData, SEEDED_TOKEN, seedSession } from "../support/shopifyAdmin";
import { jsonOf, runOps } from "../support/opsCli";
import { newCheckout, type Checkout } from "../support/checkout";
import { startFakeShopify, type FakeShopify } from "../support/fakeShopify";

// The operator's story after TOKEN_ENCRYPTION_KEY changed without the old key (decisions 45): the shop pauses with
// its events kept; Connect explains what to do; adding the old key (ops rotate-key, or a restart with the key in
// TOKEN_ENCRYPTION_KEYS_OLD) resumes sending and delivers everything that waited, with the shop's own token. The
// Shopify sessions sealed under the lost key count as missing: the admin gets new ones from the fake Shopify.

describe.each(databaseKinds())("token key recovery on %s", (kind) => {
  let s: Scenario;
  let shopify: FakeShopify;
  const NEW_KEY = generateKey();
  const THIRD_KEY = generateKey();
  const FOURTH_KEY = generateKey();
  const waiting: Checkout[] = [];

  beforeAll(async () => {
    shopify = await startFakeShopify();
    const shop = `recovery-${kind}-${Date.now().toString(36)}.myshopify.com`;
    shopify.tokens.set(shop, [SEEDED_TOKEN]);
    s = await connectedShop(kind, { shop, env: shopify.env });
  });
  afterAll(async () => {
    await s?.close();
    await shopify?.close();
  });

  const shopRow = () =>
    s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } });
  const statusOf = async (c: Checkout) =>
    (
      await s.app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: c.eventId },
      })
    ).status;

  /** An order while the server cannot read the token: the shop pauses, the event waits. */
  async function orderWhilePaused(): Promise<Checkout> {
    const c = newCheckout();
    const res = await orderWebhook(s, c.order);
    expect(res.body.outcome).toBe("accepted");
    await eventually(
      async () => (await shopRow()).pausedReason === "token_key",
      10_000,
      "paused for the token's key",
    );
    await eventually(
      async () => (await statusOf(c)) === "pending",
      5_000,
      "the event back in the queue",
    );
    waiting.push(c);
    return c;
  }

  it("a server started with a new key and without the old one pauses the shop and keeps its events", async () => {
    await s.app.restart({ TOKEN_ENCRYPTION_KEY: NEW_KEY });
    await orderWhilePaused();
    await orderWhilePaused();
    expect(s.graph.eventCount()).toBe(0);
  });

  it("Connect with the token field blank explains that the saved token cannot be read, and changes nothing", async () => {
    const before = await shopRow();
    const res = await adminData(
      s.app.url,
      "/app/connect",
      "routes/app.connect",
      s.shop,
      { pixelId: PIXEL, accessToken: "" },
    );
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json();
    expect(body.result.ok).toBe(false);
    expect(body.result.fieldErrors.accessToken).toMatch(
      /cannot be read.*paste/i,
    );
    expect(s.graph.requests).toHaveLength(0);
    const connection = (row: Awaited<ReturnType<typeof shopRow>>) => {
      const {
        tokenCiphertext,
        tokenKeyId,
        tokenLast4,
        pixelId,
        connectedAt,
        pausedReason,
        pausedDetail,
        pausedAt,
      } = row;
      return {
        tokenCiphertext,
        tokenKeyId,
        tokenLast4,
        pixelId,
        connectedAt,
        pausedReason,
        pausedDetail,
        pausedAt,
      };
    };
    expect(connection(await shopRow())).toEqual(connection(before));
  });

  it("adding the old key and running rotate-key resumes sending: every waiting event is delivered with the shop's token", async () => {
    // The server keeps running with the new key only: after the rotation it can read the token.
    const res = await runOps(s.app, ["rotate-key"], {
      env: {
        TOKEN_ENCRYPTION_KEY: NEW_KEY,
        TOKEN_ENCRYPTION_KEYS_OLD: TOKEN_KEY,
      },
    });
    expect(res.code, res.stderr).toBe(0);
    const events = await s.graph.waitForEvents(waiting.length, 10_000);
    expect(events.map((e) => e.event_id).sort()).toEqual(
      waiting.map((c) => c.eventId).sort(),
    );
    expect(s.graph.eventRequests().every((r) => r.accessToken === TOKEN)).toBe(
      true,
    );
    await eventually(
      async () =>
        (await Promise.all(waiting.map(statusOf))).every(
          (status) => status === "sent",
        ),
      10_000,
      "waiting events sent",
    );
    expect(await shopRow()).toMatchObject({
      pausedReason: null,
      pausedDetail: null,
      pausedAt: null,
    });
    expect(jsonOf(res)).toMatchObject({
      ok: true,
      rotated: 1,
      resumed: [s.shop],
    });
  });

  it("a server restarted with the old key in TOKEN_ENCRYPTION_KEYS_OLD resumes by itself", async () => {
    s.graph.reset();
    waiting.length = 0;
    await s.app.restart({ TOKEN_ENCRYPTION_KEY: THIRD_KEY });
    await orderWhilePaused();

    await s.app.restart({
      TOKEN_ENCRYPTION_KEY: THIRD_KEY,
      TOKEN_ENCRYPTION_KEYS_OLD: NEW_KEY,
    });
    const [event] = await s.graph.waitForEvents(1, 10_000);
    expect(event.event_id).toBe(waiting[0].eventId);
    expect(s.graph.eventRequests()[0].accessToken).toBe(TOKEN);
    expect((await shopRow()).pausedReason).toBeNull();
  });

  it("rotate-key re-seals what it can read, names each token it cannot, and exits 1", async () => {
    // Shop A's token and session are still sealed under NEW_KEY; shop B's under the server's current key.
    const shopB = `recovery-b-${Date.now().toString(36)}.myshopify.com`;
    shopify.tokens.set(shopB, [SEEDED_TOKEN]);
    await seedSession(s.app.db, shopB);
    await connect(s.app, shopB, TOKEN);
    const before = await shopRow();

    const res = await runOps(s.app, ["rotate-key"], {
      env: {
        TOKEN_ENCRYPTION_KEY: FOURTH_KEY,
        TOKEN_ENCRYPTION_KEYS_OLD: THIRD_KEY,
      },
    });
    expect(res.code).toBe(1);
    const out = jsonOf<{
      ok: boolean;
      currentKeyId: string;
      rotated: number;
      unreadable: { shop: string; problem: string }[];
    }>(res);
    expect(out).toMatchObject({
      ok: false,
      rotated: 1,
      unchanged: 0,
      sessions: { rotated: 1, unchanged: 0 },
    });
    const missingKey = expect.stringMatching(
      new RegExp(`key ${before.tokenKeyId}.*TOKEN_ENCRYPTION_KEYS_OLD`),
    );
    expect(out.unreadable).toEqual([
      { shop: s.shop, token: "meta", problem: missingKey },
      { shop: s.shop, token: "shopify_session", problem: missingKey },
    ]);
    expect(res.stderr).toContain(s.shop);
    expect(
      (await s.app.db.shop.findUniqueOrThrow({ where: { domain: shopB } }))
        .tokenKeyId,
    ).toBe(out.currentKeyId);
    const after = await shopRow();
    expect([after.tokenCiphertext, after.tokenKeyId]).toEqual([
      before.tokenCiphertext,
      before.tokenKeyId,
    ]);
  });

  it("never logged a token or a key", () => {
    const text = s.app.logs.join("\n");
    for (const secret of [TOKEN, TOKEN_KEY, NEW_KEY, THIRD_KEY, FOURTH_KEY])
      expect(text).not.toContain(secret);
  });
});
