import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSettings } from "../../app/core/reference/settings";
import {
  eventually,
  startApp,
  TOKEN_KEY,
  type DbKind,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { orderWebhook } from "../support/scenario";
import { errorOf, jsonOf, runOps, type OpsResult } from "../support/opsCli";
import { newCheckout } from "../support/checkout";

// The operations CLI (`npm run ops -- …`) as a child process against a running production build's database and
// the fake Graph API: what operators see, exit codes (0 done, 1 failed, 2 bad arguments), errors as JSON, and no
// secret in output.
// SQLite only: each command is a process of its own (~0.5 s), and the commands' queries run on PostgreSQL in the
// consent and privacy suites (settings, data-request).

const PIXEL = "246813579024680";
const TOKEN = "EAAGopsTOKENvalue0123456789abcdefXYZ";
const STDIN_PIXEL = "135792468013579";
const STDIN_TOKEN = "EAAGstdinTOKEN0123456789abcdefQRS";
const WRONG_TOKEN = "EAAGwrongTOKEN000000000000000000xyz";
const JAPAN_PIXEL = "864202468013579";
const JAPAN_TOKEN = "EAAGjapanDATASETtoken0123456789abcd";

describe("ops CLI on sqlite", () => {
  const kind: DbKind = "sqlite";
  let graph: FakeGraph;
  let app: TestApp;
  const stamp = `${kind.slice(0, 2)}-${Date.now().toString(36)}`;
  const SHOP = `ops-${stamp}.myshopify.com`;
  const STDIN_SHOP = `ops-stdin-${stamp}.myshopify.com`;
  const OFFLINE_SHOP = `ops-offline-${stamp}.myshopify.com`;
  const outputs: string[] = [];

  async function ops(
    args: string[],
    opts: Parameters<typeof runOps>[2] = {},
  ): Promise<OpsResult> {
    const res = await runOps(app, args, opts);
    outputs.push(res.stdout, res.stderr);
    return res;
  }
  const shopRow = (domain = SHOP) =>
    app.db.shop.findUnique({ where: { domain } });
  const lookups = () => graph.requests.filter((r) => r.method === "GET");

  beforeAll(async () => {
    graph = await startFakeGraph();
    graph.addPixel(PIXEL, { name: "Ops Pixel", token: TOKEN });
    graph.addPixel(STDIN_PIXEL, { name: "Stdin Pixel", token: STDIN_TOKEN });
    graph.addPixel(JAPAN_PIXEL, { name: "Japan Pixel", token: JAPAN_TOKEN });
    app = await startApp({ db: kind, graphUrl: graph.url });
  });
  afterAll(async () => {
    await app?.close();
    await graph?.close();
  });

  it("configure-shop validates with Meta, then stores the token encrypted", async () => {
    const res = await ops([
      "configure-shop",
      "--shop",
      SHOP,
      "--pixel-id",
      PIXEL,
      "--access-token",
      TOKEN,
      "--test-event-code",
      "TEST123",
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(jsonOf(res)).toEqual({
      ok: true,
      shop: SHOP,
      pixelName: "Ops Pixel",
      validatedWithMeta: true,
    });
    expect(lookups().at(-1)).toMatchObject({
      path: `/v24.0/${PIXEL}`,
      accessToken: TOKEN,
    });
    const shop = (await shopRow())!;
    expect(shop).toMatchObject({
      pixelId: PIXEL,
      pixelName: "Ops Pixel",
      tokenLast4: TOKEN.slice(-4),
      testEventCode: "TEST123",
    });
    expect(shop.tokenCiphertext).toBeTruthy();
    expect(shop.tokenCiphertext).not.toContain(TOKEN);
  });

  it("configure-shop explains a token Meta refuses (190) in plain words, exits 1 and keeps the stored connection", async () => {
    const before = (await shopRow())!;
    const res = await ops([
      "configure-shop",
      "--shop",
      SHOP,
      "--pixel-id",
      PIXEL,
      "--access-token",
      WRONG_TOKEN,
    ]);
    expect(res.code).toBe(1);
    const { error, code } = errorOf(res);
    expect(code).toBe(1);
    expect(error).toMatch(/^Meta access token invalid or expired\n/);
    expect(error).toMatch(/\nMeta reference: \S+$/);
    expect(res.stdout).toBe("");
    expect((await shopRow())!.tokenCiphertext).toBe(before.tokenCiphertext);
  });

  it("configure-shop refuses bad arguments with exit 2 before storing or asking anything", async () => {
    const asked = lookups().length;
    const refused: [string[], RegExp][] = [
      [
        ["--shop", SHOP, "--pixel-id", "12ab", "--access-token", TOKEN],
        /pixelId: Enter the dataset \(pixel\) ID/,
      ],
      [
        ["--shop", SHOP, "--pixel-id", PIXEL, "--access-token", "not a token"],
        /accessToken: /,
      ],
      [
        ["--shop", "Not A Shop", "--pixel-id", PIXEL, "--access-token", TOKEN],
        /--shop must be a \*\.myshopify\.com domain/,
      ],
      [["--shop", SHOP, "--access-token", TOKEN], /--pixel-id is required/],
      [["--shop", SHOP, "--pixel", PIXEL], /Unknown option '--pixel'/],
    ];
    const results = await Promise.all(
      refused.map(([args]) => ops(["configure-shop", ...args])),
    );
    results.forEach((res, i) => {
      expect(res.code, refused[i][0].join(" ")).toBe(2);
      expect(errorOf(res).error, refused[i][0].join(" ")).toMatch(
        refused[i][1],
      );
    });
    expect(lookups().length).toBe(asked);
    expect(
      await app.db.shop.count({ where: { domain: { contains: " " } } }),
    ).toBe(0);
    expect((await shopRow())!.pixelId).toBe(PIXEL);
  });

  it("configure-shop reads the token from stdin with --access-token -", async () => {
    const res = await ops(
      [
        "configure-shop",
        "--shop",
        STDIN_SHOP,
        "--pixel-id",
        STDIN_PIXEL,
        "--access-token",
        "-",
      ],
      { stdin: `${STDIN_TOKEN}\n` },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(jsonOf(res)).toMatchObject({ ok: true, pixelName: "Stdin Pixel" });
    expect(lookups().at(-1)!.accessToken).toBe(STDIN_TOKEN);
    expect((await shopRow(STDIN_SHOP))!.tokenLast4).toBe(STDIN_TOKEN.slice(-4));
  });

  it("configure-shop --skip-validation stores the connection without asking Meta", async () => {
    const asked = lookups().length;
    const res = await ops([
      "configure-shop",
      "--shop",
      OFFLINE_SHOP,
      "--pixel-id",
      PIXEL,
      "--access-token",
      WRONG_TOKEN,
      "--skip-validation",
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(jsonOf(res)).toEqual({
      ok: true,
      shop: OFFLINE_SHOP,
      pixelName: null,
      validatedWithMeta: false,
    });
    expect(lookups().length).toBe(asked);
    expect((await shopRow(OFFLINE_SHOP))!.pixelId).toBe(PIXEL);
  });

  it("configure-shop creates no shop when Meta refuses, and never reinstalls an uninstalled shop", async () => {
    const fresh = `ops-refused-${stamp}.myshopify.com`;
    expect(
      (
        await ops([
          "configure-shop",
          "--shop",
          fresh,
          "--pixel-id",
          PIXEL,
          "--access-token",
          WRONG_TOKEN,
        ])
      ).code,
    ).toBe(1);
    expect(await shopRow(fresh)).toBeNull();

    const gone = new Date();
    await app.db.shop.update({
      where: { domain: SHOP },
      data: { uninstalledAt: gone },
    });
    expect(
      (
        await ops([
          "configure-shop",
          "--shop",
          SHOP,
          "--pixel-id",
          PIXEL,
          "--access-token",
          TOKEN,
        ])
      ).code,
    ).toBe(0);
    expect((await shopRow())!.uninstalledAt).toEqual(gone);
    await app.db.shop.update({
      where: { domain: SHOP },
      data: { uninstalledAt: null },
    });
  });

  it("show-shop prints the connection with the token masked", async () => {
    const res = await ops(["show-shop", "--shop", SHOP]);
    expect(res.code, res.stderr).toBe(0);
    const shop = (await shopRow())!;
    const out = jsonOf<Record<string, unknown>>(res);
    expect(out).toMatchObject({
      domain: SHOP,
      installed: true,
      pixelId: PIXEL,
      pixelName: "Ops Pixel",
      accessToken: `••••••••${TOKEN.slice(-4)}`,
      tokenKeyId: shop.tokenKeyId,
      paused: null,
    });
    expect(out.settings).toEqual(parseSettings(shop.settings));
    expect(res.stdout).not.toContain(shop.tokenCiphertext!);
    const unknown = await ops([
      "show-shop",
      "--shop",
      "nobody-here.myshopify.com",
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No shop nobody-here\.myshopify\.com/);
  });

  it("settings shows and changes settings with the admin's validation, refusing unknown keys and invalid values", async () => {
    const shown = await ops(["settings", "--shop", SHOP]);
    expect(shown.code).toBe(0);
    expect(jsonOf(shown)).toMatchObject({
      consentPolicy: "shopify_rules",
      retentionDays: 30,
      browserPixel: true,
    });

    const set = await ops([
      "settings",
      "--shop",
      SHOP,
      "--set",
      'consentPolicy="strict"',
      "--set",
      "retentionDays=14",
      "--set",
      "browserPixel=false",
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(jsonOf(set)).toMatchObject({
      ok: true,
      settings: {
        consentPolicy: "strict",
        retentionDays: 14,
        browserPixel: false,
      },
      eventsRedecided: 0,
    });
    const stored = () =>
      app.db.shop
        .findUniqueOrThrow({ where: { domain: SHOP } })
        .then((s) => parseSettings(s.settings));
    expect(await stored()).toMatchObject({
      consentPolicy: "strict",
      retentionDays: 14,
      browserPixel: false,
    });

    const refused: [string[], RegExp][] = [
      [["--set", "nonsense=1"], /unknown setting "nonsense"/],
      [["--set", 'consentPolicy="sometimes"'], /consentPolicy: /],
      [["--set", "retentionDays=0"], /retentionDays: /],
      [
        ["--set", 'optInRegions=["Germany"]'],
        /optInRegions\.0: Use two-letter country codes/,
      ],
      [["--set", "consentPolicy"], /--set takes key=value/],
      [
        ["--set", 'consentPolicy="always"', "--set", "retentionDays=-1"],
        /retentionDays: /,
      ],
    ];
    const results = await Promise.all(
      refused.map(([args]) => ops(["settings", "--shop", SHOP, ...args])),
    );
    results.forEach((res, i) => {
      expect(res.code, refused[i][0].join(" ")).toBe(2);
      expect(errorOf(res).error, refused[i][0].join(" ")).toMatch(
        refused[i][1],
      );
    });
    // Nothing of a refused change is kept, not even its valid part.
    expect(await stored()).toMatchObject({
      consentPolicy: "strict",
      retentionDays: 14,
      browserPixel: false,
    });
    const back = await ops([
      "settings",
      "--shop",
      SHOP,
      "--set",
      "consentPolicy=shopify_rules",
      "--set",
      "browserPixel=true",
    ]);
    expect(back.code, back.stderr).toBe(0);
  });

  describe("events", () => {
    const failing = [newCheckout(), newCheckout()];
    const delivered = newCheckout();
    const expired = newCheckout({ ageDays: 8 });

    beforeAll(async () => {
      graph.rejectEvents((e) => failing.some((c) => c.eventId === e.event_id));
      for (const c of [...failing, delivered, expired])
        await orderWebhook({ app, shop: SHOP }, c.order);
      const ids = [...failing, delivered, expired].map((c) => c.eventId);
      await eventually(
        async () =>
          (await app.db.outboxEvent.count({
            where: {
              eventId: { in: ids },
              status: { in: ["sent", "failed", "expired"] },
            },
          })) === 4,
        15_000,
        "four final events",
      );
    });

    it("list-events filters by status and refuses a bad status or limit", async () => {
      const failed = await ops([
        "list-events",
        "--shop",
        SHOP,
        "--status",
        "failed",
      ]);
      expect(failed.code, failed.stderr).toBe(0);
      const rows =
        jsonOf<{ eventId: string; status: string; lastErrorCode: number }[]>(
          failed,
        );
      expect(rows.map((r) => r.eventId).sort()).toEqual(
        failing.map((c) => c.eventId).sort(),
      );
      expect(
        rows.every((r) => r.status === "failed" && r.lastErrorCode === 100),
      ).toBe(true);
      const all = jsonOf<{ eventId: string }[]>(
        await ops(["list-events", "--shop", SHOP, "--limit", "2"]),
      );
      expect(all).toHaveLength(2);
      const refused = await Promise.all(
        [
          ["--status", "lost"],
          ["--limit", "0"],
          ["--limit", "many"],
        ].map((args) => ops(["list-events", "--shop", SHOP, ...args])),
      );
      expect(refused.map((r) => r.code)).toEqual([2, 2, 2]);
      expect(errorOf(refused[0]).error).toMatch(
        /^--status must be one of held, pending/,
      );
    });

    it("replay re-queues failed events with the same event ids and reports expired ones as not replayable", async () => {
      graph.reset();
      const res = await ops(["replay", "--shop", SHOP]);
      expect(res.code, res.stderr).toBe(0);
      expect(jsonOf(res)).toEqual({ ok: true, requeued: 2, notReplayable: 0 });
      const events = await graph.waitForEvents(2, 10_000);
      expect(events.map((e) => e.event_id).sort()).toEqual(
        failing.map((c) => c.eventId).sort(),
      );
      await eventually(
        async () =>
          (await app.db.outboxEvent.count({
            where: {
              eventId: { in: failing.map((c) => c.eventId) },
              status: "sent",
            },
          })) === 2,
        10_000,
        "replayed events sent",
      );

      const old = await ops(["replay", "--shop", SHOP, "--status", "expired"]);
      expect(old.code, old.stderr).toBe(0);
      expect(jsonOf(old)).toMatchObject({
        ok: true,
        requeued: 0,
        notReplayable: 1,
        note: expect.stringMatching(/older than Meta's window/),
      });
      expect(
        (
          await app.db.outboxEvent.findFirstOrThrow({
            where: { eventId: expired.eventId },
          })
        ).status,
      ).toBe("expired");
      const refused = await Promise.all(
        [
          ["--status", "sent"],
          ["--since", "last tuesday"],
        ].map((args) => ops(["replay", "--shop", SHOP, ...args])),
      );
      expect(refused.map((r) => r.code)).toEqual([2, 2]);
    });

    it("doctor checks the connection with Meta: ok, or exit 1 with the fix", async () => {
      const ok = await ops(["doctor", "--shop", SHOP]);
      expect(ok.code, ok.stderr).toBe(0);
      const report = jsonOf<{
        lastErrors: { eventId: string; status: string; fix: string | null }[];
      }>(ok);
      expect(report).toMatchObject({
        shop: SHOP,
        connection: { ok: true, pixel: `Ops Pixel (${PIXEL})` },
        events: { sent: 3, expired: 1 },
      });
      // The replayed events were delivered: only the expired one is still a problem, and its message says why.
      expect(report.lastErrors).toEqual([
        expect.objectContaining({
          eventId: expired.eventId,
          status: "expired",
          lastErrorMessage: expect.stringMatching(/window/),
          fix: null,
        }),
      ]);

      const stop = graph.failOn((req) => req.method === "GET", {
        status: 400,
        code: 190,
        subcode: 463,
        message: "Error validating access token: Session has expired",
      });
      const bad = await ops(["doctor", "--shop", SHOP]);
      stop();
      expect(bad.code).toBe(1);
      const refused = jsonOf<{
        connection: { ok: boolean; problem: string; fix: string };
      }>(bad);
      expect(refused.connection).toMatchObject({
        ok: false,
        problem: "Meta access token invalid or expired",
      });
      expect(refused.connection.fix).toMatch(/token/i);
    });
  });

  it("data-request exits 1 when no report exists", async () => {
    const latest = await ops(["data-request", "--shop", SHOP]);
    expect(latest.code).toBe(1);
    expect(errorOf(latest)).toEqual({
      error: `No data request recorded for ${SHOP}.`,
      code: 1,
    });
    const byId = await ops(["data-request", "--shop", SHOP, "--id", "42"]);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toMatch(/No data request 42/);
  });

  it("refuses an unknown command, an unknown option or a missing --shop with exit 2 and a JSON error", async () => {
    const unknown = await ops(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    expect(errorOf(unknown)).toEqual({
      error: 'unknown command "frobnicate" (npm run ops -- help lists them)',
      code: 2,
    });
    const option = await ops(["show-shop", "--shopp", SHOP]);
    expect(option.code).toBe(2);
    expect(errorOf(option)).toEqual({
      error: expect.stringMatching(/^Unknown option '--shopp'/),
      code: 2,
    });
    // The shop-scoped commands share one check; these three cover its two call paths.
    const commands = ["show-shop", "replay", "configure-shop"];
    const results = await Promise.all(
      commands.map((command) => ops([command])),
    );
    results.forEach((res, i) => {
      expect(res.code, commands[i]).toBe(2);
      expect(errorOf(res), commands[i]).toEqual({
        error: expect.stringMatching(/^--shop is required/),
        code: 2,
      });
    });
  });

  it("prints the usage on stderr with exit 2 without a command, on stdout with exit 0 when asked", async () => {
    const none = await ops([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Usage: npm run ops -- <command>/);
    expect(none.stdout).toBe("");
    const help = await ops(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run ops -- <command>/);
  });

  it("opens the database only for a command that needs it; an unexpected failure is a JSON error with exit 1", async () => {
    const env = { DATABASE_URL: "mysql://db.example/shop" };
    const key = await ops(["generate-key"], { env });
    expect(key.code, key.stderr).toBe(0);
    expect(Buffer.from(key.stdout.trim(), "base64")).toHaveLength(32);
    const show = await ops(["show-shop", "--shop", SHOP], { env });
    expect(show.code).toBe(1);
    expect(errorOf(show)).toEqual({
      error: expect.stringMatching(
        /^DATABASE_URL must start with file: \(SQLite\)/,
      ),
      code: 1,
    });
  });

  it("destinations adds, lists (tokens masked), pauses, resumes a dataset, and refuses bad rules and ids with exit 2", async () => {
    const added = await ops(
      [
        "destinations",
        "add",
        "--shop",
        SHOP,
        "--pixel-id",
        JAPAN_PIXEL,
        "--access-token",
        "-",
        "--rule",
        '{"kind":"country","values":["jp"]}',
      ],
      { stdin: JAPAN_TOKEN },
    );
    expect(added.code, added.stderr).toBe(0);
    const id = jsonOf(added).id as string;
    const list = async () =>
      jsonOf<Record<string, unknown>[]>(
        await ops(["destinations", "list", "--shop", SHOP]),
      );
    expect(await list()).toEqual([
      expect.objectContaining({
        id: "own",
        pixelId: PIXEL,
        rule: { kind: "all" },
      }),
      expect.objectContaining({
        id,
        pixelId: JAPAN_PIXEL,
        pixelName: "Japan Pixel",
        accessToken: `••••••••${JAPAN_TOKEN.slice(-4)}`,
        rule: { kind: "country", values: ["JP"] },
        paused: null,
        backlog: 0,
      }),
    ]);
    expect(
      (await ops(["destinations", "pause", "--shop", SHOP, "--id", id])).code,
    ).toBe(0);
    expect((await list())[1].paused).toMatchObject({ reason: "operator" });
    expect(
      (await ops(["destinations", "resume", "--shop", SHOP, "--id", id])).code,
    ).toBe(0);
    expect((await list())[1].paused).toBeNull();

    const refused: [string[], RegExp][] = [
      [
        [
          "add",
          "--pixel-id",
          STDIN_PIXEL,
          "--access-token",
          TOKEN,
          "--rule",
          "{",
        ],
        /--rule must be JSON/,
      ],
      [
        [
          "add",
          "--pixel-id",
          STDIN_PIXEL,
          "--access-token",
          TOKEN,
          "--rule",
          '{"kind":"planet"}',
        ],
        /rule/,
      ],
      [
        [
          "add",
          "--pixel-id",
          JAPAN_PIXEL,
          "--access-token",
          TOKEN,
          "--rule",
          '{"kind":"all"}',
        ],
        /already sends to this dataset/,
      ],
      [["pause"], /--id is required/],
      [["fly"], /list, check, add, edit, pause, resume or remove/],
      [["remove", "--id", "own"], /configure-shop/],
    ];
    for (const [args, message] of refused) {
      const res = await ops(["destinations", ...args, "--shop", SHOP]);
      expect(res.code, args.join(" ")).toBe(2);
      expect(errorOf(res).error, args.join(" ")).toMatch(message);
    }
    const missing = await ops([
      "destinations",
      "resume",
      "--shop",
      SHOP,
      "--id",
      "nope",
    ]);
    expect(missing.code).toBe(1);
  });

  it("rotate-key re-seals every token under the new key, and the app delivers with it after a restart", async () => {
    const generated = await ops(["generate-key"]);
    expect(generated.code).toBe(0);
    const newKey = generated.stdout.trim();
    expect(Buffer.from(newKey, "base64")).toHaveLength(32);

    // Without the old key the tokens cannot be read: it says which variable to set, and changes nothing.
    const withoutOld = await ops(["rotate-key"], {
      env: { TOKEN_ENCRYPTION_KEY: newKey },
    });
    expect(withoutOld.code).toBe(1);
    expect(withoutOld.stderr).toMatch(/TOKEN_ENCRYPTION_KEYS_OLD/);
    const oldKeyId = (await shopRow())!.tokenKeyId;
    expect(await app.db.shop.count({ where: { tokenKeyId: oldKeyId } })).toBe(
      3,
    );
    expect(
      await app.db.destination.count({ where: { tokenKeyId: oldKeyId! } }),
    ).toBe(1);

    const rotated = await ops(["rotate-key"], {
      env: {
        TOKEN_ENCRYPTION_KEY: newKey,
        TOKEN_ENCRYPTION_KEYS_OLD: TOKEN_KEY,
      },
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    const out = jsonOf<{
      ok: boolean;
      currentKeyId: string;
      rotated: number;
      unchanged: number;
    }>(rotated);
    // The three shops' tokens and the further dataset's (decisions 130).
    expect(out).toMatchObject({ ok: true, rotated: 4, unchanged: 0 });
    expect(out.currentKeyId).not.toBe(oldKeyId);
    expect(
      await app.db.shop.count({ where: { tokenKeyId: out.currentKeyId } }),
    ).toBe(3);
    expect(
      await app.db.destination.count({
        where: { tokenKeyId: out.currentKeyId },
      }),
    ).toBe(1);
    const again = await ops(["rotate-key"], {
      env: { TOKEN_ENCRYPTION_KEY: newKey },
    });
    expect(jsonOf(again)).toMatchObject({ rotated: 0, unchanged: 4 });

    await app.restart({ TOKEN_ENCRYPTION_KEY: newKey });
    graph.reset();
    const c = newCheckout();
    await orderWebhook({ app, shop: SHOP }, c.order);
    const [event] = await graph.waitForEvents(1, 10_000);
    expect(event.event_id).toBe(c.eventId);
    expect(graph.eventRequests()[0].accessToken).toBe(TOKEN);
  });

  it("never printed or logged a token", () => {
    const text = [...outputs, ...app.logs].join("\n");
    for (const token of [TOKEN, STDIN_TOKEN, WRONG_TOKEN, JAPAN_TOKEN])
      expect(text).not.toContain(token);
  });
});
