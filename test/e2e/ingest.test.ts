import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectedShop, type Scenario } from "../support/scenario";

describe("probe", () => {
  let s: Scenario;
  beforeAll(async () => { s = await connectedShop("sqlite", { env: { TRUST_PROXY_HOPS: "1" } }); });
  afterAll(async () => { await s?.close(); });
  it("probes", async () => {
    const shop = await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } });
    const o = await fetch(`${s.app.url}/ingest`, { method: "OPTIONS", headers: { Origin: "null", "Access-Control-Request-Method": "POST" } });
    console.log("OPTIONS", o.status, [...o.headers], await o.text());
    const big = "x".repeat(70_000);
    const r1 = await fetch(`${s.app.url}/ingest`, { method: "POST", body: big }).catch((e) => e);
    console.log("big CL", r1.status ?? r1, r1.status ? await r1.text() : "");
    const stream = new ReadableStream({ start(c) { for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode("y".repeat(10_000))); c.close(); } });
    const r2 = await fetch(`${s.app.url}/ingest`, { method: "POST", body: stream, duplex: "half" } as RequestInit).catch((e) => e);
    console.log("big stream", r2.status ?? r2, r2.status ? await r2.text() : "", r2.cause);
    const body = { v: 1, kind: "event", shop: s.shop, key: shop.ingestKey, event: { event_name: "PageView", event_id: "sh-1", event_time: Math.floor(Date.now()/1000), event_source_url: "https://x.example/", consent: { marketingAllowed: true } } };
    const r3 = await fetch(`${s.app.url}/ingest`, { method: "POST", body: JSON.stringify(body), headers: { Origin: "null", "X-Forwarded-For": "6.6.6.6, 198.51.100.7", "User-Agent": "UA-test" } });
    console.log("valid", r3.status, [...r3.headers], await r3.text());
    console.log(await s.graph.waitForEvents(1));
    console.log(await s.app.db.outboxEvent.findMany());
  });
});
