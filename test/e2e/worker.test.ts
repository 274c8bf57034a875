import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import {
  databaseKinds,
  eventually,
  startWorker as startSharedWorker,
  stopAll,
} from "../support/app";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// Scale-out: web node without a dispatcher, several `npm run worker` processes sharing the database. Every event
// must reach Meta exactly once, however the claims interleave, and whatever Meta answers: on PostgreSQL the
// workers' claims and writes must never deadlock (a lost sent mark left a batch `sending` until its lease ran out,
// and it went to Meta again).

const ORDERS = 120;

/** A worker with small batches, so that the claims interleave. */
function startWorker(
  env: Record<string, string>,
  extra: Record<string, string> = {},
) {
  return startSharedWorker(env, {
    DISPATCHER_BATCH_SIZE: "7",
    DISPATCHER_CONCURRENCY: "3",
    ...extra,
  });
}

/** Deadlocks PostgreSQL has detected in the database so far. */
async function deadlocks(dbUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`,
    );
    return Number(rows[0].deadlocks);
  } finally {
    await client.end();
  }
}

describe.each(databaseKinds())("several workers on %s", (kind) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop(kind, { env: { DISPATCHER_IN_PROCESS: "false" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("deliver every event exactly once and stop cleanly on SIGTERM", async () => {
    const now = new Date().toISOString();
    for (let i = 0; i < ORDERS; i++) {
      const id = 7_000_000_000_000 + i;
      await orderWebhook(
        s,
        makeOrder({
          id,
          admin_graphql_api_id: `gid://shopify/Order/${id}`,
          checkout_token: `w${id}`,
          created_at: now,
          processed_at: now,
        }),
      );
    }
    expect(
      await s.app.db.outboxEvent.count({ where: { status: "pending" } }),
    ).toBe(ORDERS);
    expect(s.graph.requests).toHaveLength(0);

    s.graph.setLatency(30);
    const workers = [
      startWorker(s.app.env),
      startWorker(s.app.env),
      startWorker(s.app.env),
    ];
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({ where: { status: "sent" } })) ===
        ORDERS,
      30_000,
      "all sent",
    );

    const ids = s.graph.eventsReceived().map((e) => e.event_id);
    expect(ids).toHaveLength(ORDERS);
    expect(new Set(ids).size).toBe(ORDERS);
    expect(s.graph.eventRequests().length).toBeGreaterThanOrEqual(
      Math.ceil(ORDERS / 7),
    );

    const codes = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number | null>((resolve) => {
            w.proc.once("exit", (code) => resolve(code));
            w.proc.kill("SIGTERM");
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0]);
    const heartbeats = workers.flatMap(
      (w) => w.logs.join("").match(/dispatcher-\w+ started/g) ?? [],
    );
    expect(heartbeats).toHaveLength(3);
  });

  it("keep a batch that outlasts its lease (bisecting while Meta is slow): no other worker sends it again", async () => {
    s.graph.reset();
    const now = new Date().toISOString();
    const ids = Array.from({ length: 9 }, (_, i) => 7_100_000_000_000 + i);
    for (const id of ids) {
      await orderWebhook(
        s,
        makeOrder({
          id,
          admin_graphql_api_id: `gid://shopify/Order/${id}`,
          checkout_token: `l${id}`,
          created_at: now,
          processed_at: now,
        }),
      );
    }
    // One invalid event: finding it takes ~8 requests of 400 ms, over twice the 1.5 s lease.
    const bad = `purchase_${ids[6]}`;
    s.graph.rejectEvents((e) => e.event_id === bad);
    s.graph.setLatency(400);
    const extra = {
      DISPATCHER_LEASE_MS: "1500",
      DISPATCHER_BATCH_SIZE: "20",
      DISPATCHER_CONCURRENCY: "1",
    };
    const workers = [
      startWorker(s.app.env, extra),
      startWorker(s.app.env, extra),
    ];
    try {
      const final = {
        eventId: { in: ids.map((id) => `purchase_${id}`) },
        status: { in: ["sent", "failed"] },
      };
      await eventually(
        async () =>
          (await s.app.db.outboxEvent.count({ where: final })) === ids.length,
        30_000,
        "all nine final",
      );
    } finally {
      await stopAll(workers);
    }
    const sent = s.graph.eventsReceived().map((e) => e.event_id);
    expect(sent.filter((id, i) => sent.indexOf(id) !== i)).toEqual([]);
    expect(sent.sort()).toEqual(
      ids
        .filter((id) => `purchase_${id}` !== bad)
        .map((id) => `purchase_${id}`)
        .sort(),
    );
    expect(
      await s.app.db.outboxEvent.findFirst({ where: { eventId: bad } }),
    ).toMatchObject({ status: "failed", ambiguousSends: 0 });
  });

  it(
    "drain a backlog through 500s, timeouts, rate limits, an event to isolate and a killed worker: none twice, no deadlock",
    { timeout: 180_000 },
    async () => {
      s.graph.reset();
      const backlog = 3_000;
      const now = new Date().toISOString();
      const first = 7_400_000_000_000;
      const res = await orderWebhook(
        s,
        makeOrder({
          id: first,
          admin_graphql_api_id: `gid://shopify/Order/${first}`,
          checkout_token: `d${first}`,
          created_at: now,
          processed_at: now,
        }),
      );
      expect(res.body).toMatchObject({
        outcome: "accepted",
        status: "pending",
      });
      const {
        id: _id,
        eventId: _eventId,
        payload,
        ...template
      } = await s.app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: `purchase_${first}` },
      });
      const copies = Array.from({ length: backlog - 1 }, (_, i) => {
        const eventId = `purchase_${first + 1 + i}`;
        return {
          ...template,
          eventId,
          orderId: String(first + 1 + i),
          payload: { ...(payload as object), event_id: eventId },
        };
      });
      for (let i = 0; i < copies.length; i += 500)
        await s.app.db.outboxEvent.createMany({
          data: copies.slice(i, i + 500) as never,
        });
      const mine = {
        eventId: { startsWith: `purchase_${String(first).slice(0, 2)}` },
      };
      const before = kind === "postgresql" ? await deadlocks(s.app.dbUrl) : 0;

      // Meta's failures, by request: a 500 (transient), a timeout, a rate limit; and three events it refuses.
      s.graph.setLatency(5);
      s.graph.failOn((_req, i) => i % 9 === 2, {
        status: 500,
        code: 2,
        message: "Service temporarily unavailable",
      });
      s.graph.failOn((_req, i) => i % 23 === 7, "hang");
      s.graph.failOn((_req, i) => i % 31 === 11, {
        status: 400,
        code: 613,
        message: "Calls to this api have exceeded the rate limit.",
      });
      const invalid = new Set([
        `purchase_${first + 10}`,
        `purchase_${first + 1_500}`,
        `purchase_${first + 2_999}`,
      ]);
      s.graph.rejectEvents((e) => invalid.has(e.event_id));

      // Worker i asks for Graph API version v(20+i).0, so the fake Graph API's log tells which worker sent what.
      // Leases (4 s) outlive a timed-out request (2 s): only the killed worker's run out.
      const version = (i: number) => `v${20 + i}.0`;
      const workers = Array.from({ length: 4 }, (_, i) =>
        startWorker(s.app.env, {
          META_GRAPH_API_VERSION: version(i),
          DISPATCHER_BATCH_SIZE: "50",
          DISPATCHER_CONCURRENCY: "4",
          DISPATCHER_LEASE_MS: "4000",
        }),
      );
      try {
        // A third of the way, worker 0 is killed with requests in flight (Meta hangs meanwhile); the others send its
        // batches when its leases run out.
        await eventually(
          () => s.graph.eventCount() >= backlog / 3,
          60_000,
          "a third of the events sent",
        );
        const from = s.graph.requests.length;
        const stopHanging = s.graph.failOn(() => true, "hang");
        const inFlight = () =>
          s.graph.requests
            .slice(from)
            .some((r) => r.version === version(0) && r.status === "hang");
        await eventually(inFlight, 10_000, "a request of worker 0 in flight");
        workers[0].proc.kill("SIGKILL");
        stopHanging();
        const final = { ...mine, status: { in: ["sent", "failed"] } };
        await eventually(
          async () =>
            (await s.app.db.outboxEvent.count({ where: final })) === backlog,
          150_000,
          "every event sent or failed",
        );
      } finally {
        await stopAll(workers);
      }

      // An event may go twice only if the killed worker had it taken by Meta and died before marking it sent.
      const accepted = s.graph.eventsReceived(PIXEL).map((e) => e.event_id);
      const byKilled = new Set(
        s.graph
          .eventRequests()
          .filter((r) => r.version === version(0))
          .flatMap((r) => r.events.map((e) => e.event_id)),
      );
      const twice = accepted.filter((id, i) => accepted.indexOf(id) !== i);
      expect(twice.filter((id) => !byKilled.has(id))).toEqual([]);
      expect(new Set(accepted).size).toBe(backlog - invalid.size);
      expect(
        await s.app.db.outboxEvent.count({
          where: { ...mine, status: "failed" },
        }),
      ).toBe(invalid.size);
      for (const answer of [500, "hang", 400])
        expect(s.graph.requests.some((r) => r.status === answer)).toBe(true);
      expect(workers.flatMap((w) => w.logs).join("")).not.toMatch(/deadlock/i);
      if (kind === "postgresql")
        expect((await deadlocks(s.app.dbUrl)) - before).toBe(0);
    },
  );
});
