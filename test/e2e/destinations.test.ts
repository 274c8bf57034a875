import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import { jsonOf, runOps } from "../support/opsCli";
import { adminData } from "../support/shopifyAdmin";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";

// Several Meta datasets per shop (issue 17, decisions 130), end to end: the production build, the ops CLI's
// `destinations` commands, and the fake Graph API with two datasets. The shop's own dataset takes Canada's market;
// a second dataset takes the US and Canada by country. Each order must reach exactly its datasets, once each,
// with one event id; a revoked token on one dataset pauses that one only.

const PIXEL_B = "555000111222333";
const TOKEN_B = "EAAGsecondDATASETtoken0123456789abc";
const TOKEN_B_NEW = "EAAGsecondDATASETrenewed9876543210x";
const PIXEL_C = "777000111222333";
const TOKEN_C = "EAAGthirdDATASETtoken0123456789abcde";
const DESTINATIONS = "routes/app.destinations";
const EVENTS = "routes/app.events._index";

let seq = 0;
/** A paid order shipped to and billed in `country`, fresh ids. */
function orderIn(country: string) {
  const id = 6_300_000_000_000 + (Date.now() % 1_000_000) * 100 + ++seq;
  const now = new Date().toISOString();
  const base = makeOrder();
  const at = (a: object) => ({ ...a, country_code: country });
  return makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    name: `#${3000 + seq}`,
    checkout_token: `ckd${id}`,
    created_at: now,
    processed_at: now,
    shipping_address: at(base.shipping_address as object),
    billing_address: at(base.billing_address as object),
  });
}

/** The event ids each dataset accepted, sorted (a repeated id would show twice). */
function received(s: Scenario, pixelId: string): string[] {
  return s.graph
    .eventsReceived(pixelId)
    .map((e) => e.event_id as string)
    .sort();
}

describe.each(databaseKinds())("destinations on %s", (kind) => {
  let s: Scenario;
  let destinationId: string;
  const ops = async (args: string[], stdin?: string) => {
    const res = await runOps(
      s.app,
      ["destinations", ...args, "--shop", s.shop],
      {
        stdin,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    return jsonOf(res);
  };
  const list = async () =>
    (await ops(["list"])) as unknown as {
      id: string;
      pixelId: string;
      paused: { reason: string } | null;
      backlog: number;
    }[];

  beforeAll(async () => {
    s = await connectedShop(kind);
    s.graph.addPixel(PIXEL_B, { name: "Second dataset", token: TOKEN_B });
    await ops([
      "edit",
      "--id",
      "own",
      "--rule",
      '{"kind":"market","values":["canada"],"countries":["ca"]}',
    ]);
    const added = await ops(
      [
        "add",
        "--pixel-id",
        PIXEL_B,
        "--access-token",
        "-",
        "--rule",
        '{"kind":"country","values":["US","CA"]}',
      ],
      TOKEN_B,
    );
    expect(added).toMatchObject({ ok: true, pixelName: "Second dataset" });
    destinationId = added.id as string;
  });
  afterAll(async () => {
    await s?.close();
  });

  it("sends each order to exactly the datasets whose rule takes it, once each, with one event id", async () => {
    const ca = orderIn("CA");
    const us = orderIn("US");
    const mx = orderIn("MX");
    for (const order of [ca, us, mx])
      expect((await orderWebhook(s, order)).body.outcome).toBe("accepted");

    await s.graph.waitForEvents(3, 15_000);
    const mxRows = await eventually(async () => {
      const rows = await s.app.db.outboxEvent.findMany({
        where: { orderId: String(mx.id) },
      });
      return rows[0]?.status === "suppressed" && rows;
    });
    expect(mxRows.map((r) => [r.status, r.suppressReason])).toEqual([
      ["suppressed", "no_destination"],
    ]);
    // A moment more: a copy sent twice would show by now.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(received(s, PIXEL)).toEqual([`purchase_${ca.id}`]);
    expect(received(s, PIXEL_B)).toEqual(
      [`purchase_${ca.id}`, `purchase_${us.id}`].sort(),
    );
    // Each request carried its own dataset's token.
    for (const req of s.graph.eventRequests())
      expect(req.accessToken).toBe(req.pixelId === PIXEL_B ? TOKEN_B : TOKEN);
    // The Canadian order is one event in two rows (one per dataset), both sent.
    const caRows = await s.app.db.outboxEvent.findMany({
      where: { orderId: String(ca.id) },
      orderBy: { lane: "asc" },
    });
    expect(
      caRows.map((r) => [r.lane, r.destinationId, r.status, r.eventId]),
    ).toEqual([
      ["", expect.any(String), "sent", `purchase_${ca.id}`],
      [destinationId, destinationId, "sent", `purchase_${ca.id}`],
    ]);
    expect(caRows.every((r) => r.clientIp === null)).toBe(true);
  });

  it("an order edited while its rows wait for both datasets reaches each as it is now, once", async () => {
    s.graph.reset();
    // The second dataset paused, the own one refusing its token: the order's two rows both wait.
    await ops(["pause", "--id", destinationId]);
    s.graph.addPixel(PIXEL, {
      name: "Pipeline Pixel",
      token: "EAAGrevokedOWNdataset0123456789abcd",
    });
    const ca = orderIn("CA");
    await orderWebhook(s, ca);
    await eventually(
      async () =>
        (await s.app.db.shop.findFirst({ where: { domain: s.shop } }))
          ?.pausedReason,
    );
    const waiting = await s.app.db.outboxEvent.findMany({
      where: { orderId: String(ca.id), status: "pending" },
    });
    expect(waiting.map((r) => r.lane).sort()).toEqual(["", destinationId]);
    const money = (amount: string) => ({
      shop_money: { amount, currency_code: "USD" },
      presentment_money: { amount, currency_code: "CAD" },
    });
    const edited = {
      ...ca,
      updated_at: new Date(Date.now() + 1_000).toISOString(),
      total_price: "200.00",
      total_price_set: money("200.00"),
    };
    expect(
      (await orderWebhook(s, edited, { topic: "orders/updated" })).body.outcome,
    ).toBe("accepted");
    s.graph.addPixel(PIXEL, { name: "Pipeline Pixel", token: TOKEN });
    await ops(["resume", "--id", "own"]);
    await ops(["resume", "--id", destinationId]);
    await eventually(
      () =>
        received(s, PIXEL).length === 1 && received(s, PIXEL_B).length === 1,
    );
    for (const pixel of [PIXEL, PIXEL_B]) {
      const [event] = s.graph.eventsReceived(pixel);
      expect(event.event_id).toBe(`purchase_${ca.id}`);
      expect(event.custom_data?.value).toBe(200);
    }
  });

  it("pauses only the dataset whose token was revoked; the other keeps delivering, and nothing goes twice", async () => {
    s.graph.reset();
    // Meta no longer takes the second dataset's token.
    s.graph.addPixel(PIXEL_B, {
      name: "Second dataset",
      token: "EAAGrevokedSOMEWHEREelse0123456789",
    });
    const ca = orderIn("CA");
    const us = orderIn("US");
    await orderWebhook(s, ca);
    await eventually(
      async () => (await list()).find((d) => d.id === destinationId)!.paused,
    );
    expect(
      (await list()).find((d) => d.id === destinationId)!.paused?.reason,
    ).toBe("token");
    await orderWebhook(s, us);
    await eventually(() => received(s, PIXEL).length >= 1);
    expect(received(s, PIXEL)).toEqual([`purchase_${ca.id}`]);
    // The US order is routed (to the paused dataset only) before the backlog is read.
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({
          where: { orderId: String(us.id), destinationId },
        })) === 1,
    );
    const datasets = await list();
    expect(datasets.find((d) => d.id === "own")!.paused).toBeNull();
    expect(datasets.find((d) => d.id === destinationId)!.backlog).toBe(2);
    expect(received(s, PIXEL_B)).toEqual([]);

    // The merchant pastes a new token: the kept events go, once.
    s.graph.addPixel(PIXEL_B, { name: "Second dataset", token: TOKEN_B_NEW });
    await ops(
      ["edit", "--id", destinationId, "--access-token", "-"],
      TOKEN_B_NEW,
    );
    await eventually(() => received(s, PIXEL_B).length >= 2);
    expect(received(s, PIXEL_B)).toEqual(
      [`purchase_${ca.id}`, `purchase_${us.id}`].sort(),
    );
    await new Promise((r) => setTimeout(r, 1_000));
    expect(received(s, PIXEL_B)).toHaveLength(2);
    expect(received(s, PIXEL)).toEqual([`purchase_${ca.id}`]);
  });

  it("runs a dataset's check now from the ops CLI, and lists each dataset's last check", async () => {
    const expiresAt = new Date(Date.now() + 3 * 86_400_000);
    s.graph.setTokenInfo(TOKEN_B_NEW, { expiresAt });
    const checked = await ops(["check", "--id", destinationId]);
    expect(checked).toMatchObject({
      ok: true,
      id: destinationId,
      check: { tokenStatus: "expiring" },
    });
    expect(
      new Date((checked.check as { tokenExpiresAt: string }).tokenExpiresAt),
    ).toEqual(new Date(Math.floor(expiresAt.getTime() / 1000) * 1000));
    const datasets = (await list()) as unknown as {
      id: string;
      check: { tokenStatus: string } | null;
    }[];
    expect(
      datasets.find((d) => d.id === destinationId)!.check?.tokenStatus,
    ).toBe("expiring");
    // The own dataset was not checked by this command: its entry shows what its last check said, if any.
    const own = datasets.find((d) => d.id === "own")!;
    const shop = await s.app.db.shop.findUniqueOrThrow({
      where: { domain: s.shop },
    });
    const ownCheck = await s.app.db.datasetCheck.findUnique({
      where: { shopId_pixelId: { shopId: shop.id, pixelId: PIXEL } },
    });
    expect(own.check?.tokenStatus ?? null).toBe(ownCheck?.tokenStatus ?? null);
    // Nothing secret in what it prints.
    expect(JSON.stringify(checked)).not.toContain(TOKEN_B_NEW);
    const refused = await runOps(s.app, [
      "destinations",
      "check",
      "--shop",
      s.shop,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--id is required");
  });

  it("removes a destination: its unsent events are kept back, the own dataset goes on alone", async () => {
    s.graph.reset();
    await ops(["pause", "--id", destinationId]);
    const us = orderIn("US");
    await orderWebhook(s, us);
    const usRows = await eventually(async () => {
      const rows = await s.app.db.outboxEvent.findMany({
        where: { orderId: String(us.id) },
      });
      return rows[0]?.destinationId ? rows : null;
    });
    expect(usRows.map((r) => [r.destinationId, r.status])).toEqual([
      [destinationId, "pending"],
    ]);
    expect(await ops(["remove", "--id", destinationId])).toMatchObject({
      removed: true,
    });
    const [row] = await s.app.db.outboxEvent.findMany({
      where: { orderId: String(us.id) },
    });
    expect([row.status, row.suppressReason]).toEqual([
      "suppressed",
      "destination_removed",
    ]);
    expect((await list()).map((d) => d.id)).toEqual(["own"]);
    expect(s.graph.eventCount()).toBe(0);
  });
  it("the admin's Destinations page adds, tests and removes a dataset, shows each one's health, and the event log filters by dataset", async () => {
    s.graph.reset();
    s.graph.addPixel(PIXEL_C, { name: "Third dataset", token: TOKEN_C });
    const bodies: string[] = [];
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
      bodies.push(text);
      return JSON.parse(text);
    };
    const refused = await page({
      intent: "save",
      id: "",
      pixelId: PIXEL_C,
      accessToken: TOKEN_C,
      ruleKind: "country",
      ruleValues: "",
    });
    expect(refused.result.ok).toBe(false);
    expect(Object.keys(refused.result.fieldErrors)).toEqual([
      expect.stringMatching(/^rule/),
    ]);
    const saved = await page({
      intent: "save",
      id: "",
      pixelId: PIXEL_C,
      accessToken: TOKEN_C,
      testEventCode: "",
      graphApiVersion: "",
      ruleKind: "country",
      ruleValues: "us, mx",
    });
    expect(saved.result).toMatchObject({
      ok: true,
      pixelName: "Third dataset",
    });
    const c = saved.result.id as string;
    const listed = await page();
    expect(
      listed.destinations.map((d: { id: string; ruleText: string }) => [
        d.id,
        d.ruleText,
      ]),
    ).toEqual([
      ["own", "Markets: canada (CA)"],
      [c, "Countries: US, MX"],
    ]);
    expect(await page({ intent: "test", id: c })).toMatchObject({
      ok: true,
      pixelName: "Third dataset",
    });

    // Revoked at Meta: Test says so, and the first order to it pauses that dataset alone.
    s.graph.addPixel(PIXEL_C, {
      name: "Third dataset",
      token: "EAAGrevokedTHIRDdataset0123456789x",
    });
    expect(await page({ intent: "test", id: c })).toMatchObject({ ok: false });
    const us = orderIn("US");
    const ca = orderIn("CA");
    await orderWebhook(s, us);
    await orderWebhook(s, ca);
    await eventually(
      async () =>
        (await page()).destinations.find((d: { id: string }) => d.id === c)
          .pause,
    );
    await eventually(() => received(s, PIXEL).length === 1);
    const health = (await page()).destinations;
    expect(health[0]).toMatchObject({ id: "own", pause: null, backlog: 0 });
    expect(health[1]).toMatchObject({
      id: c,
      pause: { title: expect.stringMatching(/token/i) },
      backlog: 1,
    });

    // The event log, one dataset's events.
    const log = async (dataset: string) =>
      (
        await (
          await adminData(
            s.app.url,
            `/app/events?dataset=${dataset}`,
            EVENTS,
            s.shop,
          )
        ).json()
      ).rows.map((r: { order: string; dataset: string }) => [
        r.order,
        r.dataset,
      ]);
    expect(await log(c)).toEqual([[us.name, "Third dataset"]]);
    expect((await log(listed.destinations[0].logId)).slice(0, 1)).toEqual([
      [ca.name, expect.stringMatching(/\(yours\)$/)],
    ]);

    expect(await page({ intent: "remove", id: c })).toMatchObject({ ok: true });
    expect(
      (await page()).destinations.map((d: { id: string }) => d.id),
    ).toEqual(["own"]);
    for (const body of bodies)
      for (const token of [TOKEN, TOKEN_B, TOKEN_B_NEW, TOKEN_C])
        expect(body).not.toContain(token);
  });
});
