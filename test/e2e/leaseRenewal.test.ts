import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually, type TestApp } from "../support/app";
import { jsonOf, runOps } from "../support/opsCli";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// One claim gives a batch per dataset, sent one after another; a batch that waited past half its lease has the
// lease renewed before it is sent (decisions 184). When that renewal fails (here: the database refuses it, by a
// trigger), the batch was never sent: it goes back to pending at once, its attempt not counted, instead of waiting
// for its lease to run out and then counting as a send that may have reached Meta.

const PIXEL_B = "555000111222444";
const TOKEN_B = "EAAGleaseRENEWALtoken0123456789abcdef";
const LEASE_MS = 4_000;
const REFUSAL = "lease renewal refused by the test";

/** The database refuses every lease renewal: an update of a row that stays `sending` with a new lease end. */
async function refuseRenewals(app: TestApp, kind: string): Promise<void> {
  if (kind === "sqlite") {
    await app.db.$executeRawUnsafe(
      `CREATE TRIGGER "refuse_renewal" BEFORE UPDATE OF "leaseUntil" ON "OutboxEvent" ` +
        `WHEN OLD."status" = 'sending' AND NEW."status" = 'sending' BEGIN SELECT RAISE(ABORT, '${REFUSAL}'); END`,
    );
    return;
  }
  await app.db.$executeRawUnsafe(
    `CREATE FUNCTION "refuse_renewal"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${REFUSAL}'; END $$`,
  );
  await app.db.$executeRawUnsafe(
    `CREATE TRIGGER "refuse_renewal" BEFORE UPDATE OF "leaseUntil" ON "OutboxEvent" FOR EACH ROW ` +
      `WHEN (OLD."status" = 'sending' AND NEW."status" = 'sending') EXECUTE FUNCTION "refuse_renewal"()`,
  );
}

describe.each(databaseKinds())("a claim's later batch on %s", (kind) => {
  let s: Scenario;

  beforeAll(async () => {
    s = await connectedShop(kind, {
      // Meta's slow answers below must not time out (the tests' default is 2 s).
      env: {
        DISPATCHER_LEASE_MS: String(LEASE_MS),
        META_GRAPH_TIMEOUT_MS: String(LEASE_MS * 2),
      },
    });
    s.graph.addPixel(PIXEL_B, { name: "Second dataset", token: TOKEN_B });
    // Every order goes to the shop's own dataset (its rule: all orders) and to the second one.
    const added = await runOps(
      s.app,
      [
        "destinations",
        "add",
        "--shop",
        s.shop,
        "--pixel-id",
        PIXEL_B,
        "--access-token",
        "-",
        "--rule",
        '{"kind":"country","values":["CA"]}',
      ],
      { stdin: TOKEN_B },
    );
    expect(added.code, added.stderr).toBe(0);
    expect(jsonOf(added)).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("goes back to pending at once, its attempt not counted, when its lease renewal fails", async () => {
    await refuseRenewals(s.app, kind);
    // The first batch's request outlasts half the lease (so the second needs its lease renewed), and ends well
    // within it.
    s.graph.setLatency(LEASE_MS * 0.55);
    const id = 6_400_000_000_000 + (Date.now() % 1_000_000);
    const now = new Date().toISOString();
    const base = makeOrder();
    const inCanada = (a: object) => ({ ...a, country_code: "CA" });
    const order = makeOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      checkout_token: `ckr${id}`,
      created_at: now,
      processed_at: now,
      shipping_address: inCanada(base.shipping_address as object),
      billing_address: inCanada(base.billing_address as object),
    });
    expect((await orderWebhook(s, order)).body.outcome).toBe("accepted");

    await s.graph.waitForEvents(2, 20_000);
    const rows = await eventually(async () => {
      const found = await s.app.db.outboxEvent.findMany({
        where: { orderId: String(id) },
      });
      return (
        found.length === 2 && found.every((r) => r.status === "sent") && found
      );
    }, 15_000);
    // The batch whose renewal failed says so, and was sent by a later claim as a first send.
    const putBack = rows.filter((r) =>
      r.lastErrorMessage?.startsWith("not sent: "),
    );
    expect(putBack).toHaveLength(1);
    expect(putBack[0].lastErrorMessage).toContain(REFUSAL);
    for (const row of rows) {
      expect(row.ambiguousSends).toBe(0);
      expect(row.attempts).toBe(1);
    }
    // Each dataset got the order once.
    expect(
      s.graph
        .eventsReceived()
        .map((e) => e.event_id)
        .sort(),
    ).toEqual([`purchase_${id}`, `purchase_${id}`]);
    expect(
      s.graph
        .eventRequests()
        .map((r) => r.pixelId)
        .sort(),
    ).toEqual([PIXEL, PIXEL_B].sort());
  });
});
