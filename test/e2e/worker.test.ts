import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually, ROOT } from "../support/app";
import { connectedShop, orderWebhook, type Scenario } from "../support/scenario";

// Scale-out: web node without a dispatcher, several `npm run worker` processes sharing the database. Every event
// must reach Meta exactly once, however the claims interleave.

const ORDERS = 120;

function startWorker(env: Record<string, string>): { proc: ChildProcess; logs: string[] } {
  const logs: string[] = [];
  const proc = spawn(process.execPath, ["--import", "tsx", "app/worker.ts"], {
    cwd: ROOT,
    env: { ...env, DISPATCHER_IN_PROCESS: "true", DISPATCHER_BATCH_SIZE: "7", DISPATCHER_CONCURRENCY: "3" } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [proc.stdout!, proc.stderr!]) stream.on("data", (c: Buffer) => logs.push(c.toString()));
  return { proc, logs };
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
      await orderWebhook(s, makeOrder({ id, admin_graphql_api_id: `gid://shopify/Order/${id}`, checkout_token: `w${id}`, created_at: now, processed_at: now }));
    }
    expect(await s.app.db.outboxEvent.count({ where: { status: "pending" } })).toBe(ORDERS);
    expect(s.graph.requests).toHaveLength(0);

    s.graph.setLatency(30);
    const workers = [startWorker(s.app.env), startWorker(s.app.env), startWorker(s.app.env)];
    await eventually(async () => (await s.app.db.outboxEvent.count({ where: { status: "sent" } })) === ORDERS, 30_000, "all sent");

    const ids = s.graph.eventsReceived().map((e) => e.event_id);
    expect(ids).toHaveLength(ORDERS);
    expect(new Set(ids).size).toBe(ORDERS);
    expect(s.graph.eventRequests().length).toBeGreaterThanOrEqual(Math.ceil(ORDERS / 7));

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
    const heartbeats = workers.flatMap((w) => w.logs.join("").match(/dispatcher-\w+ started/g) ?? []);
    expect(heartbeats).toHaveLength(3);
  });
});
