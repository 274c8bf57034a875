import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, loadKeyRing } from "../../app/core/shops/tokenCrypto";
import type { Db } from "../../app/db.server";
import {
  databaseKinds,
  eventually,
  startApp,
  TOKEN_KEY,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { startFakeShopify, type FakeShopify } from "../support/fakeShopify";
import { adminData, adminPage, SCOPES } from "../support/shopifyAdmin";
import { jsonOf, runOps, type OpsResult } from "../support/opsCli";

// Shopify's offline Admin API tokens at rest (decisions 46, 47): installed through token exchange with a fake Shopify
// on real HTTPS, the session row holds only a ciphertext; admin requests and Admin API calls (web server and ops CLI)
// use the decrypted token; a row from before encryption keeps working and is sealed; rotate-key re-seals sessions.

const PIXEL = "556677889900112";
const TOKEN = "EAAGsessionsTOKEN0123456789abcdefXYZ";

/** Every row of every table of the app's database, as text. */
async function databaseText(db: Db, kind: string): Promise<string> {
  const tables = await db.$queryRawUnsafe<{ name: string }[]>(
    kind === "sqlite"
      ? "SELECT name FROM sqlite_master WHERE type = 'table'"
      : "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema()",
  );
  const rows = await Promise.all(
    tables.map((t) => db.$queryRawUnsafe(`SELECT * FROM "${t.name}"`)),
  );
  return JSON.stringify(rows, (_key, value) =>
    typeof value === "bigint" ? String(value) : value,
  );
}

describe.each(databaseKinds())(
  "Shopify sessions encrypted at rest on %s",
  (kind) => {
    let graph: FakeGraph;
    let shopify: FakeShopify;
    let app: TestApp;
    const stamp = `${kind.slice(0, 2)}-${Date.now().toString(36)}`;
    const SHOP = `sessions-${stamp}.myshopify.com`;
    const LEGACY_SHOP = `legacy-${stamp}.myshopify.com`;
    const LEGACY_TOKEN = `shpat_legacy${Date.now().toString(16)}0123456789abcdef`;
    const NEW_KEY = generateKey();
    const THIRD_KEY = generateKey();
    const outputs: string[] = [];

    beforeAll(async () => {
      [graph, shopify] = await Promise.all([
        startFakeGraph(),
        startFakeShopify(),
      ]);
      graph.addPixel(PIXEL, { name: "Sessions Pixel", token: TOKEN });
      app = await startApp({ db: kind, graphUrl: graph.url, env: shopify.env });
    });
    afterAll(async () => {
      await app?.close();
      await graph?.close();
      await shopify?.close();
    });

    const sessionRow = (shop: string) =>
      app.db.session.findUniqueOrThrow({ where: { id: `offline_${shop}` } });
    const allCallsFor = (shop: string) =>
      shopify.adminCalls.filter((c) => c.shop === shop);
    // The home page's order count and the reconciler's reads (decisions 76, 80) come on their own timers: the
    // sequences below leave them out (reconcile.test.ts tests them); every call's token is checked all the same.
    const callsFor = (shop: string) =>
      allCallsFor(shop).filter(
        (c) => !["orders", "ordersCount", "order"].includes(c.operation),
      );
    const keyIdOf = (key: string) =>
      loadKeyRing(
        { TOKEN_ENCRYPTION_KEY: key } as unknown as NodeJS.ProcessEnv,
        { production: true, devKeyFile: "" },
      ).current.id;
    async function ops(
      args: string[],
      env: Record<string, string> = {},
    ): Promise<OpsResult> {
      const { SHOPIFY_API_KEY, SHOPIFY_API_SECRET, SHOPIFY_APP_URL, SCOPES } =
        app.env;
      const res = await runOps(app, args, {
        env: {
          ...shopify.env,
          SHOPIFY_API_KEY,
          SHOPIFY_API_SECRET,
          SHOPIFY_APP_URL,
          SCOPES,
          ...env,
        },
      });
      outputs.push(res.stdout, res.stderr);
      return res;
    }
    /** Every Admin API call for the shop carried a token Shopify issued to it (never a ciphertext), and was answered. */
    function expectIssuedTokens(shop: string, since = 0) {
      const issued = shopify.tokens.get(shop) ?? [];
      for (const call of allCallsFor(shop).slice(since)) {
        expect(issued).toContain(call.accessToken);
        expect(call.status).toBe(200);
      }
    }
    /** The connect action, which ends with webPixelCreate / webPixelUpdate through the loaded session. */
    async function connectShop(shop: string) {
      const res = await adminData(
        app.url,
        "/app/connect",
        "routes/app.connect",
        shop,
        { pixelId: PIXEL, accessToken: TOKEN },
      );
      const body = await res.json();
      expect(body.result, JSON.stringify(body)).toMatchObject({ ok: true });
      expect(body.pixelError).toBeNull();
    }

    it("install: token exchange stores the offline token encrypted, and the install's Admin API calls use it", async () => {
      const page = await adminPage(app.url, "/app", SHOP);
      expect(page.status, await page.clone().text()).toBe(200);
      // The page's loaders authenticate in parallel: each may exchange the session token for an offline token.
      expect(shopify.exchanges.length).toBeGreaterThan(0);
      const offline = {
        shop: SHOP,
        requestedTokenType:
          "urn:shopify:params:oauth:token-type:offline-access-token",
      };
      for (const e of shopify.exchanges) expect(e).toEqual(offline);
      await eventually(
        () => callsFor(SHOP).length >= 2,
        5_000,
        "the install's Admin API calls",
      );
      expect(callsFor(SHOP).map((c) => c.operation)).toEqual([
        "webPixelCreate",
        "shop",
      ]);
      expectIssuedTokens(SHOP);

      const row = await sessionRow(SHOP);
      expect(row).toMatchObject({ shop: SHOP, isOnline: false, scope: SCOPES });
      expect(row.accessToken).toMatch(
        new RegExp(`^enc1:${keyIdOf(TOKEN_KEY)}:`),
      );
      const stored = await databaseText(app.db, kind);
      expect(stored).toContain(`offline_${SHOP}`);
      expect(stored).not.toContain("shpat_");
    });

    it("admin requests load the session and call the Admin API with the decrypted token, without a new token exchange", async () => {
      const exchanges = shopify.exchanges.length;
      const calls = callsFor(SHOP).length;
      await connectShop(SHOP);
      expect(
        callsFor(SHOP)
          .slice(calls)
          .map((c) => c.operation),
      ).toEqual(["webPixelUpdate"]);
      expectIssuedTokens(SHOP);
      expect(shopify.exchanges.length).toBe(exchanges);
    });

    it("a session stored in clear before encryption keeps working and is encrypted when first loaded", async () => {
      shopify.tokens.set(LEGACY_SHOP, [LEGACY_TOKEN]);
      await app.db.session.create({
        data: {
          id: `offline_${LEGACY_SHOP}`,
          shop: LEGACY_SHOP,
          state: "",
          isOnline: false,
          scope: SCOPES,
          accessToken: LEGACY_TOKEN,
        },
      });
      await connectShop(LEGACY_SHOP);
      expect(
        callsFor(LEGACY_SHOP).map((c) => [
          c.operation,
          c.accessToken,
          c.status,
        ]),
      ).toEqual([["webPixelCreate", LEGACY_TOKEN, 200]]);
      expect(shopify.exchanges.some((e) => e.shop === LEGACY_SHOP)).toBe(false);
      expect((await sessionRow(LEGACY_SHOP)).accessToken).toMatch(
        new RegExp(`^enc1:${keyIdOf(TOKEN_KEY)}:`),
      );
      expect(await databaseText(app.db, kind)).not.toContain("shpat_");
    });

    it("rotate-key re-seals every session under the new key; the app and the ops CLI then use them with that key alone", async () => {
      const res = await ops(["rotate-key"], {
        TOKEN_ENCRYPTION_KEY: NEW_KEY,
        TOKEN_ENCRYPTION_KEYS_OLD: TOKEN_KEY,
      });
      expect(res.code, res.stderr).toBe(0);
      expect(jsonOf(res)).toMatchObject({
        ok: true,
        rotated: 2,
        sessions: { rotated: 2, unchanged: 0 },
        unreadable: [],
      });
      for (const shop of [SHOP, LEGACY_SHOP])
        expect((await sessionRow(shop)).accessToken).toMatch(
          new RegExp(`^enc1:${keyIdOf(NEW_KEY)}:`),
        );

      await app.restart({ TOKEN_ENCRYPTION_KEY: NEW_KEY });
      const exchanges = shopify.exchanges.length;
      await connectShop(LEGACY_SHOP);
      expect(callsFor(LEGACY_SHOP).at(-1)).toMatchObject({
        operation: "webPixelUpdate",
        accessToken: LEGACY_TOKEN,
        status: 200,
      });

      const calls = callsFor(SHOP).length;
      const allCalls = allCallsFor(SHOP).length;
      const sync = await ops(["sync-pixels", "--shop", SHOP], {
        TOKEN_ENCRYPTION_KEY: NEW_KEY,
      });
      expect(sync.code, sync.stderr).toBe(0);
      expect(jsonOf(sync)).toEqual([{ shop: SHOP, ok: true }]);
      expect(
        callsFor(SHOP)
          .slice(calls)
          .map((c) => c.operation),
      ).toEqual(["webPixelUpdate"]);
      expectIssuedTokens(SHOP, allCalls);
      expect(shopify.exchanges.length).toBe(exchanges);
    });

    it("a session no configured key opens counts as missing: the admin gets a new token from Shopify and seals it", async () => {
      await app.restart({ TOKEN_ENCRYPTION_KEY: THIRD_KEY });
      const before = shopify.tokens.get(SHOP)!.length;
      const page = await adminPage(app.url, "/app", SHOP);
      expect(page.status, await page.clone().text()).toBe(200);
      const fresh = shopify.tokens.get(SHOP)!.slice(before);
      expect(fresh.length).toBeGreaterThan(0);
      expect((await sessionRow(SHOP)).accessToken).toMatch(
        new RegExp(`^enc1:${keyIdOf(THIRD_KEY)}:`),
      );
      expect(
        app.logs.some(
          (line) =>
            line.includes(`offline_${SHOP}`) && /not configured/.test(line),
        ),
      ).toBe(true);

      const calls = callsFor(SHOP).length;
      await connectShop(SHOP);
      expect(callsFor(SHOP).slice(calls)).toMatchObject([
        {
          shop: SHOP,
          operation: "webPixelUpdate",
          accessToken: expect.toBeOneOf(fresh),
          status: 200,
        },
      ]);
    });

    it("never logged or printed a Shopify or Meta token", () => {
      const text = [...outputs, ...app.logs].join("\n");
      expect(text).not.toContain("shpat_");
      expect(text).not.toContain(TOKEN);
    });
  },
);
