import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { ensureShop } from "../../app/core/shops/shopConfig";
import { saveDestination, saveOwnRule } from "../../app/core/shops";
import { loadKeyRing } from "../../app/core/shops/tokenCrypto";
import type { Shop } from "../../app/core/db";
import { ROOT } from "../support/app";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// syncWebPixel (app/webPixel.server.ts) against a fake Admin GraphQL function: a real function that answers with
// Response objects as `admin.graphql` does and records every call, and a real database for the shop row.

const APP_URL = "https://capi-app.example.com";
process.env.SHOPIFY_APP_URL = APP_URL; // read once when runtime.server loads (imported below, after this line)
const { syncWebPixel } = await import("../../app/webPixel.server");

interface Validation {
  name: string;
  value: string;
}
interface SettingField {
  type: string;
  validations?: Validation[];
}

/** The [settings] fields the extension declares, read from its shopify.extension.toml. */
function declaredSettings(): Record<string, SettingField> {
  const text = readFileSync(
    path.join(ROOT, "extensions/meta-capi-pixel/shopify.extension.toml"),
    "utf8",
  );
  return (
    parseToml(text) as unknown as {
      settings: { fields: Record<string, SettingField> };
    }
  ).settings.fields;
}

type Answer = { data?: unknown; errors?: unknown } | Error;
interface Call {
  query: string;
  operation: string;
  variables?: Record<string, unknown>;
}

/** A fake `admin.graphql`: answers per operation from a script, records every call. */
function fakeAdmin(
  script: Partial<
    Record<"webPixelCreate" | "webPixelUpdate" | "webPixel", Answer[]>
  >,
) {
  const calls: Call[] = [];
  const graphql = async (
    query: string,
    options?: { variables?: Record<string, unknown> },
  ) => {
    const operation =
      /\b(webPixelCreate|webPixelUpdate)\(/.exec(query)?.[1] ??
      (/\bwebPixel\s*\{/.test(query) ? "webPixel" : "unknown");
    calls.push({ query, operation, variables: options?.variables });
    const answer = script[operation as keyof typeof script]?.shift();
    if (!answer) throw new Error(`unexpected Admin API call: ${operation}`);
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { graphql, calls };
}

const pixelPayload = (
  op: string,
  id: string | null,
  userErrors: { code: string; field?: string[]; message: string }[] = [],
) => ({
  data: { [op]: { userErrors, webPixel: id ? { id, settings: "{}" } : null } },
});

describe.each(databaseKinds())("web pixel sync on %s", (kind) => {
  let database: TestDatabase;
  let db: Db;
  let n = 0;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createDb(classifyDatabaseUrl(database.url)).db;
  });
  afterAll(async () => {
    await db?.$disconnect();
    await database?.drop();
  });

  async function shop(
    data: { webPixelId?: string; webPixelSyncedAt?: Date } = {},
  ): Promise<Shop> {
    const row = await ensureShop(
      db,
      `pixel-${kind}-${++n}.myshopify.com`,
      "read_orders,write_pixels,read_customer_events",
    );
    return db.shop.update({
      where: { id: row.id },
      data: { pixelId: "987654321098765", ...data },
    });
  }
  const reload = (s: Shop) =>
    db.shop.findUniqueOrThrow({ where: { id: s.id } });

  it("creates the pixel with settings that have exactly the extension's [settings] keys, each valid for its declaration", async () => {
    const s = await shop();
    const admin = fakeAdmin({
      webPixelCreate: [
        pixelPayload("webPixelCreate", "gid://shopify/WebPixel/11"),
      ],
    });
    expect(await syncWebPixel(s, admin.graphql, db)).toEqual({ ok: true });

    expect(admin.calls.map((c) => c.operation)).toEqual(["webPixelCreate"]);
    const settingsJson = (
      admin.calls[0].variables!.webPixel as { settings: string }
    ).settings;
    const settings = JSON.parse(settingsJson) as Record<string, unknown>;
    const fields = declaredSettings();
    expect(Object.keys(settings).sort()).toEqual(Object.keys(fields).sort());
    for (const [name, field] of Object.entries(fields)) {
      const value = settings[name];
      // single_line_text_field: Shopify validates strings, with the declared min/max/regex.
      expect(field.type).toBe("single_line_text_field");
      expect(typeof value, name).toBe("string");
      for (const v of field.validations ?? []) {
        if (v.name === "min")
          expect(
            (value as string).length,
            `${name} min`,
          ).toBeGreaterThanOrEqual(Number(v.value));
        if (v.name === "max")
          expect((value as string).length, `${name} max`).toBeLessThanOrEqual(
            Number(v.value),
          );
        if (v.name === "regex")
          expect(value, `${name} regex`).toMatch(new RegExp(v.value));
      }
    }
    expect(settings).toMatchObject({
      pixelId: "987654321098765",
      ingestUrl: `${APP_URL}/ingest`,
      shopKey: s.ingestKey,
    });

    const row = await reload(s);
    expect(row).toMatchObject({
      webPixelId: "gid://shopify/WebPixel/11",
      webPixelError: null,
    });
    expect(row.webPixelSyncedAt).not.toBeNull();
  });

  it("an install's sync and a page's reconcile side by side create the pixel once (decisions 183)", async () => {
    const s = await shop();
    // Only one answer scripted: a second create would be an "unexpected Admin API call".
    const admin = fakeAdmin({
      webPixelCreate: [
        pixelPayload("webPixelCreate", "gid://shopify/WebPixel/33"),
      ],
    });
    const results = await Promise.all([
      syncWebPixel(s, admin.graphql, db),
      syncWebPixel(s, admin.graphql, db),
    ]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    expect(admin.calls.map((c) => c.operation)).toEqual(["webPixelCreate"]);
    // Once it is done, the next sync asks Shopify again (an update of the stored pixel).
    const later = fakeAdmin({
      webPixelUpdate: [
        pixelPayload("webPixelUpdate", "gid://shopify/WebPixel/33"),
      ],
    });
    expect(await syncWebPixel(await reload(s), later.graphql, db)).toEqual({
      ok: true,
    });
    expect(later.calls.map((c) => c.operation)).toEqual(["webPixelUpdate"]);
  });

  it("on TAKEN, finds the existing pixel and updates it", async () => {
    const s = await shop();
    const admin = fakeAdmin({
      webPixelCreate: [
        pixelPayload("webPixelCreate", null, [
          {
            code: "TAKEN",
            field: ["webPixel"],
            message: "Web pixel is taken.",
          },
        ]),
      ],
      webPixel: [
        {
          data: {
            webPixel: { id: "gid://shopify/WebPixel/22", settings: "{}" },
          },
        },
      ],
      webPixelUpdate: [
        pixelPayload("webPixelUpdate", "gid://shopify/WebPixel/22"),
      ],
    });
    expect(await syncWebPixel(s, admin.graphql, db)).toEqual({ ok: true });
    expect(admin.calls.map((c) => c.operation)).toEqual([
      "webPixelCreate",
      "webPixel",
      "webPixelUpdate",
    ]);
    expect(admin.calls[2].variables).toEqual({
      id: "gid://shopify/WebPixel/22",
      webPixel: admin.calls[0].variables!.webPixel,
    });
    expect(await reload(s)).toMatchObject({
      webPixelId: "gid://shopify/WebPixel/22",
      webPixelError: null,
    });
  });

  it("gives a shop that routes the public (dataset, rule) pairs of its datasets, never a token (decisions 136)", async () => {
    const s = await shop();
    const token = "EAAGpixelSETTINGSsecondDATASET0123456";
    const ring = loadKeyRing(
      {
        TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
      } as unknown as NodeJS.ProcessEnv,
      { production: true, devKeyFile: "" },
    );
    const deps = { keyRing: ring, graph: () => ({}) as never };
    expect(
      await saveDestination(
        db,
        deps,
        s,
        null,
        {
          pixelId: "555000111222333",
          accessToken: token,
          rule: { kind: "country", values: ["us"] },
        },
        { skipValidation: true },
      ),
    ).toMatchObject({ ok: true });
    await saveOwnRule(db, s.id, { kind: "country", values: ["CA"] });
    const admin = fakeAdmin({
      webPixelCreate: [
        pixelPayload("webPixelCreate", "gid://shopify/WebPixel/12"),
      ],
    });
    expect(await syncWebPixel(await reload(s), admin.graphql, db)).toEqual({
      ok: true,
    });
    const settingsJson = (
      admin.calls[0].variables!.webPixel as { settings: string }
    ).settings;
    expect(JSON.parse(JSON.parse(settingsJson).datasets)).toEqual([
      { id: "987654321098765", rule: { kind: "country", values: ["CA"] } },
      { id: "555000111222333", rule: { kind: "country", values: ["US"] } },
    ]);
    expect(settingsJson).not.toContain(token.slice(-8));
  });

  it("updates a known pixel with the current settings, and creates it again when Shopify no longer has it", async () => {
    const s = await shop({ webPixelId: "gid://shopify/WebPixel/33" });
    const update = fakeAdmin({
      webPixelUpdate: [
        pixelPayload("webPixelUpdate", "gid://shopify/WebPixel/33"),
      ],
    });
    expect(await syncWebPixel(s, update.graphql, db)).toEqual({ ok: true });
    expect(update.calls.map((c) => c.operation)).toEqual(["webPixelUpdate"]);
    expect(update.calls[0].variables!.id).toBe("gid://shopify/WebPixel/33");

    // The merchant deleted it (or the id is from another install): "reconnect pixel" must bring it back.
    const stale = fakeAdmin({
      webPixelUpdate: [
        pixelPayload("webPixelUpdate", null, [
          { code: "NOT_FOUND", field: ["id"], message: "Web pixel not found." },
        ]),
      ],
      webPixelCreate: [
        pixelPayload("webPixelCreate", "gid://shopify/WebPixel/34"),
      ],
    });
    expect(await syncWebPixel(await reload(s), stale.graphql, db)).toEqual({
      ok: true,
    });
    expect(stale.calls.map((c) => c.operation)).toEqual([
      "webPixelUpdate",
      "webPixelCreate",
    ]);
    expect(await reload(s)).toMatchObject({
      webPixelId: "gid://shopify/WebPixel/34",
      webPixelError: null,
    });
  });

  it("records userErrors on the shop row, keeping the last good sync time", async () => {
    const syncedAt = new Date(Date.now() - 3_600_000);
    const s = await shop({ webPixelSyncedAt: syncedAt });
    const admin = fakeAdmin({
      webPixelCreate: [
        pixelPayload("webPixelCreate", null, [
          {
            code: "INVALID_SETTINGS",
            field: ["settings"],
            message: "Settings are invalid: ingestUrl",
          },
        ]),
      ],
    });
    expect(await syncWebPixel(s, admin.graphql, db)).toEqual({
      ok: false,
      error: "Settings are invalid: ingestUrl",
    });
    const row = await reload(s);
    expect(row.webPixelError).toBe("Settings are invalid: ingestUrl");
    expect(row.webPixelSyncedAt?.getTime()).toBe(syncedAt.getTime());
    expect(row.webPixelId).toBeNull();
  });

  it("records a GraphQL error or a failed call instead of throwing", async () => {
    const s = await shop();
    const denied = fakeAdmin({
      webPixelCreate: [
        {
          errors: [
            {
              message:
                "Access denied for webPixelCreate field. Required access: `write_pixels`.",
            },
          ],
        },
      ],
    });
    const result = await syncWebPixel(s, denied.graphql, db);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/write_pixels/);
    expect((await reload(s)).webPixelError).toMatch(/write_pixels/);

    const down = fakeAdmin({ webPixelCreate: [new Error("fetch failed")] });
    expect(await syncWebPixel(s, down.graphql, db)).toEqual({
      ok: false,
      error: "fetch failed",
    });
    expect((await reload(s)).webPixelError).toBe("fetch failed");
  });
});
