import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { eventually } from "../support/app";
import { connectedShop, orderWebhook, type Scenario } from "../support/scenario";

// `npm start` as it runs on a multi-core host: one server process per core behind one port, the dispatcher in the
// first. Webhooks land in either process; every order is sent once; SIGTERM stops all; a dead primary leaves no
// process behind.

describe("npm start with two server processes", () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop("sqlite", { env: { WEB_CONCURRENCY: "2" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("sends every order once, whichever process took its webhook", async () => {
    const now = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = 7_500_000_000_000 + i;
      ids.push(`purchase_${id}`);
      const res = await orderWebhook(s, makeOrder({ id, admin_graphql_api_id: `gid://shopify/Order/${id}`, created_at: now, processed_at: now }));
      expect(res.body.outcome).toBe("accepted");
    }
    await s.graph.waitForEvents(30, 15_000);
    const received = s.graph.eventsReceived().map((e) => e.event_id);
    expect(received.sort()).toEqual(ids.sort());
    expect(s.app.logs.join("\n")).toMatch(/\(2 processes\)/);
  });

  it("stops every process on SIGTERM and exits 0", async () => {
    expect(await s.app.stop()).toBe(0);
    expect(s.app.logs.join("\n")).toMatch(/stopping 2 processes/);
    await expect(fetch(`${s.app.url}/healthz`)).rejects.toThrow();
  });

  it("takes its processes down when the primary is killed", async () => {
    await s.app.restart({ WEB_CONCURRENCY: "2" });
    expect((await fetch(`${s.app.url}/healthz`)).status).toBe(200);
    await s.app.kill();
    await eventually(async () => {
      try {
        await fetch(`${s.app.url}/healthz`);
        return false;
      } catch {
        return true;
      }
    }, 5_000, "the port to be closed");
  });
});

describe("npm start with one server process (SQLite's default)", () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop("sqlite", { env: { WEB_CONCURRENCY: "" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("serves from the process it was started as, with the heap limit the cluster's processes get", async () => {
    const cmdline = readFileSync(`/proc/${s.app.pid}/cmdline`, "utf8").split("\0");
    expect(cmdline).toContain("--max-old-space-size=256");
    expect(s.app.logs.join("\n")).not.toMatch(/processes\)/);
    expect((await orderWebhook(s, makeOrder({ id: 7_600_000_000_001 }))).body.outcome).toBe("accepted");
  });
});
