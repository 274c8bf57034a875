import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Session } from "@shopify/shopify-app-remix/server";
import { createDb, type Db } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { EncryptedSessionStorage } from "../../app/sessionStorage.server";
import {
  decryptTokenText,
  generateKey,
  loadKeyRing,
  type KeyRing,
} from "../../app/core/shops/tokenCrypto";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// The session storage on a real database (decisions 46, 47): what reaches the Session table, and what the Shopify
// library gets back, for the cases the admin's install flow (test/e2e/shopifySessions.test.ts) does not reach:
// refresh tokens, an invalidated token, several sessions of one shop.

const ringOf = (current: string, old = "") =>
  loadKeyRing(
    {
      TOKEN_ENCRYPTION_KEY: current,
      TOKEN_ENCRYPTION_KEYS_OLD: old,
    } as unknown as NodeJS.ProcessEnv,
    {
      production: true,
      devKeyFile: "",
    },
  );

describe.each(databaseKinds())("encrypted session storage on %s", (kind) => {
  let database: TestDatabase;
  let db: Db;
  const KEY_A = generateKey();
  const ringA = ringOf(KEY_A);
  const storage = (ring: KeyRing) =>
    new EncryptedSessionStorage(db, () => ring);
  let n = 0;
  const shop = () => `storage-${kind}-${++n}.myshopify.com`;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createDb(classifyDatabaseUrl(database.url)).db;
  });
  afterAll(async () => {
    await db?.$disconnect();
    await database?.drop();
  });

  const offline = (
    domain: string,
    tokens: { accessToken?: string; refreshToken?: string },
  ) =>
    new Session({
      id: `offline_${domain}`,
      shop: domain,
      state: "",
      isOnline: false,
      scope: "read_orders",
      ...tokens,
      ...(tokens.refreshToken
        ? { refreshTokenExpires: new Date(Date.now() + 86_400_000) }
        : {}),
    });

  it("seals the access and refresh tokens before they are written and opens them on load", async () => {
    const domain = shop();
    const session = offline(domain, {
      accessToken: "shpat_stored0123456789",
      refreshToken: "shprt_refresh0123456789",
    });
    await storage(ringA).storeSession(session);

    const row = await db.session.findUniqueOrThrow({
      where: { id: session.id },
    });
    for (const value of [row.accessToken, row.refreshToken!])
      expect(value).toMatch(new RegExp(`^enc1:${ringA.current.id}:`));
    expect(
      JSON.stringify(row, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
    ).not.toMatch(/shpat_|shprt_/);
    expect(decryptTokenText(ringA, row.refreshToken!)).toBe(
      "shprt_refresh0123456789",
    );
    // The caller's session is not changed by the storing.
    expect(session.accessToken).toBe("shpat_stored0123456789");

    const loaded = await storage(ringA).loadSession(session.id);
    expect(loaded?.accessToken).toBe("shpat_stored0123456789");
    expect(loaded?.refreshToken).toBe("shprt_refresh0123456789");
    expect(loaded?.isActive("read_orders")).toBe(true);
    const found = await storage(
      ringOf(generateKey(), KEY_A),
    ).findSessionsByShop(domain);
    expect(found.map((s) => [s.accessToken, s.refreshToken])).toEqual([
      ["shpat_stored0123456789", "shprt_refresh0123456789"],
    ]);
  });

  it("an invalidated session keeps its empty token, so the library sees it as inactive", async () => {
    const domain = shop();
    await storage(ringA).storeSession(offline(domain, { accessToken: "" }));
    expect(
      (
        await db.session.findUniqueOrThrow({
          where: { id: `offline_${domain}` },
        })
      ).accessToken,
    ).toBe("");
    const loaded = await storage(ringA).loadSession(`offline_${domain}`);
    expect(loaded).toBeDefined();
    expect(loaded!.isActive("read_orders")).toBe(false);
  });

  it("a row stored in clear before encryption is loaded as it was, then sealed", async () => {
    const domain = shop();
    await db.session.create({
      data: {
        id: `offline_${domain}`,
        shop: domain,
        state: "",
        isOnline: false,
        scope: "read_orders",
        accessToken: "shpat_legacy0123456789",
        refreshToken: "shprt_legacy0123456789",
      },
    });
    const loaded = await storage(ringA).loadSession(`offline_${domain}`);
    expect([loaded?.accessToken, loaded?.refreshToken]).toEqual([
      "shpat_legacy0123456789",
      "shprt_legacy0123456789",
    ]);
    const row = await db.session.findUniqueOrThrow({
      where: { id: `offline_${domain}` },
    });
    expect(decryptTokenText(ringA, row.accessToken)).toBe(
      "shpat_legacy0123456789",
    );
    expect(row.accessToken).toMatch(/^enc1:/);
    expect(decryptTokenText(ringA, row.refreshToken!)).toBe(
      "shprt_legacy0123456789",
    );
    expect(row.refreshToken).toMatch(/^enc1:/);
  });

  it("a session no configured key opens counts as missing; the shop's readable sessions are still found", async () => {
    const domain = shop();
    await storage(ringA).storeSession(
      offline(domain, { accessToken: "shpat_lostkey0123456789" }),
    );
    const readable = new Session({
      id: `${domain}_42`,
      shop: domain,
      state: "",
      isOnline: true,
      scope: "read_orders",
      accessToken: "shpua_online0123456789",
    });
    const ringB = ringOf(generateKey());
    await storage(ringB).storeSession(readable);

    expect(
      await storage(ringB).loadSession(`offline_${domain}`),
    ).toBeUndefined();
    expect(
      (await storage(ringB).findSessionsByShop(domain)).map((s) => s.id),
    ).toEqual([readable.id]);
    // Nothing was overwritten: the row opens again once its key is back.
    expect(
      (
        await storage(ringOf(generateKey(), KEY_A)).loadSession(
          `offline_${domain}`,
        )
      )?.accessToken,
    ).toBe("shpat_lostkey0123456789");
  });
});
