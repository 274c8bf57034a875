import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import {
  API_SECRET,
  eventually,
  startApp,
  startWorker,
  type TestApp,
} from "../support/app";
import {
  consent,
  eventBody,
  ingestKeyOf,
  newCheckout,
  postIngest,
} from "../support/checkout";
import {
  startPrivateRedis,
  testPrefix,
  testRedisUrl,
  type PrivateRedis,
} from "../support/redis";
import {
  connect,
  connectedShop,
  orderWebhook,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { seedSession } from "../support/shopifyAdmin";
import { sendWebhook } from "../support/shopifyWebhook";

// Several web nodes behind a load balancer, with `npm run worker` processes, on PostgreSQL and Redis
// (decisions 96): the pixel endpoint's per-client limit is one count across the nodes, a change of a shop reaches
// every node's cache at once, every event reaches Meta exactly once. And a node whose Redis goes away keeps serving.

const hasBoth = Boolean(process.env.TEST_POSTGRES_URL && testRedisUrl());

/** A PageView of a new browser of the shop, posted to `node` from `ip`. */
async function pageView(node: TestApp, shop: string, key: string, ip: string) {
  const body = eventBody(shop, key, newCheckout(), "PageView", consent(true));
  return postIngest(node, body, { ip });
}

describe.skipIf(!hasBoth)(
  "two web nodes and two workers on PostgreSQL and Redis",
  () => {
    let s: Scenario;
    let nodeB: TestApp;
    let key: string;
    const env = {
      DISPATCHER_IN_PROCESS: "false",
      REDIS_URL: testRedisUrl() ?? "",
      REDIS_KEY_PREFIX: testPrefix(),
      TRUST_PROXY_HOPS: "1",
      // 10 requests per client per 10 s.
      INGEST_CLIENT_RATE_PER_SEC: "1",
      INGEST_CLIENT_BURST: "10",
    };
    beforeAll(async () => {
      s = await connectedShop("postgresql", { env });
      nodeB = await startApp({
        db: "postgresql",
        graphUrl: s.graph.url,
        env,
        dbUrl: s.app.dbUrl,
      });
      key = await ingestKeyOf(s.app, s.shop);
    });
    afterAll(async () => {
      await nodeB?.close();
      await s?.close();
    });

    it("hold the per-client limit across nodes and send every event exactly once", async () => {
      const nodes = [s.app, nodeB];
      const answers = [];
      for (let i = 0; i < 16; i++)
        answers.push(
          await pageView(nodes[i % 2], s.shop, key, "198.51.100.77"),
        );
      const accepted = answers.filter((a) => a.status === 202);
      expect(accepted).toHaveLength(10);
      expect(answers.filter((a) => a.status === 429)).toEqual(
        Array(6).fill({
          status: 429,
          body: { error: "too many requests from this client" },
        }),
      );
      // Both nodes refused some: the count is one, not one per node.
      expect(answers.slice(10).every((a) => a.status === 429)).toBe(true);
      // Another client counts apart.
      for (let i = 0; i < 4; i++)
        expect(
          (await pageView(nodes[i % 2], s.shop, key, `203.0.113.${i + 1}`))
            .status,
        ).toBe(202);

      const now = new Date().toISOString();
      for (let i = 0; i < 20; i++) {
        const id = 7_700_000_000_000 + i;
        const res = await orderWebhook(
          { app: nodes[i % 2], shop: s.shop },
          makeOrder({
            id,
            admin_graphql_api_id: `gid://shopify/Order/${id}`,
            checkout_token: `n${id}`,
            created_at: now,
            processed_at: now,
          }),
        );
        expect(res.body.outcome).toBe("accepted");
      }
      const rows = await s.app.db.outboxEvent.findMany({
        select: { eventId: true },
      });
      expect(rows).toHaveLength(34);

      const workers = [
        startWorker(s.app.env, { DISPATCHER_BATCH_SIZE: "5" }),
        startWorker(s.app.env, { DISPATCHER_BATCH_SIZE: "5" }),
      ];
      try {
        await eventually(
          async () =>
            (await s.app.db.outboxEvent.count({
              where: { status: "sent" },
            })) === 34,
          30_000,
          "every event sent",
        );
      } finally {
        for (const w of workers) w.proc.kill("SIGTERM");
      }
      const sent = s.graph.eventsReceived().map((e) => e.event_id);
      expect(sent.sort()).toEqual(rows.map((r) => r.eventId).sort());
    });

    it("take a shop's events on every node as soon as it connects to Meta", async () => {
      const other = `shop-${randomUUID().slice(0, 8)}.myshopify.com`;
      // Node B caches that no such shop exists.
      expect(
        (await pageView(nodeB, other, "no-key-yet", "203.0.113.40")).status,
      ).toBe(404);
      await seedSession(s.app.db, other);
      await connect(s.app, other, TOKEN);
      const otherKey = await ingestKeyOf(s.app, other);
      const started = Date.now();
      await eventually(
        async () =>
          (await pageView(nodeB, other, otherKey, "203.0.113.41")).status ===
          202,
        1_000,
        "node B to take the new shop's events",
      );
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it("forget an uninstalled shop on every node at once, not after the cache's 5 s", async () => {
      expect((await pageView(nodeB, s.shop, key, "203.0.113.50")).status).toBe(
        202,
      );
      const res = await sendWebhook(s.app.url, {
        topic: "app/uninstalled",
        shop: s.shop,
        body: { domain: s.shop },
        secret: API_SECRET,
      });
      expect(res.status).toBe(200);
      const started = Date.now();
      await eventually(
        async () =>
          (await pageView(nodeB, s.shop, key, "203.0.113.51")).status === 404,
        1_000,
        "node B to answer 404",
      );
      expect(Date.now() - started).toBeLessThan(1_000);
    });
  },
);

describe.skipIf(!testRedisUrl())("a web node whose Redis goes away", () => {
  let redis: PrivateRedis;
  let s: Scenario;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    s = await connectedShop("sqlite", {
      env: {
        REDIS_URL: redis.url,
        TRUST_PROXY_HOPS: "1",
        INGEST_CLIENT_RATE_PER_SEC: "1",
        INGEST_CLIENT_BURST: "5",
      },
    });
  });
  afterAll(async () => {
    await s?.close();
    await redis?.stop();
  });

  it("keeps serving, limits in its own memory, and says so once in its log", async () => {
    const key = await ingestKeyOf(s.app, s.shop);
    expect((await pageView(s.app, s.shop, key, "198.51.100.8")).status).toBe(
      202,
    );
    await redis.stop();
    const statuses = [];
    for (let i = 0; i < 8; i++)
      statuses.push(
        (await pageView(s.app, s.shop, key, "198.51.100.9")).status,
      );
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429, 429, 429]);
    // The client notices the lost connection on its own schedule: the line may follow the answers.
    const warningsOf = () =>
      s.app.logs.filter((l) => l.includes("[redis] commands connection"));
    await eventually(
      async () => warningsOf().length > 0,
      5_000,
      "the warning in the log",
    );
    await new Promise((r) => setTimeout(r, 500));
    const warnings = warningsOf();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/rate limits count in this process only/);
  });
});
