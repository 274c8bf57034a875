import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import {
  API_KEY,
  API_SECRET,
  eventually,
  freePort,
  ROOT,
  TOKEN_KEY,
} from "../support/app";
import { createTestDatabase, type TestDatabase } from "../support/database";
import {
  connectedShop,
  orderWebhook,
  type Scenario,
} from "../support/scenario";

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
      const res = await orderWebhook(
        s,
        makeOrder({
          id,
          admin_graphql_api_id: `gid://shopify/Order/${id}`,
          created_at: now,
          processed_at: now,
        }),
      );
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
    await eventually(
      async () => {
        try {
          await fetch(`${s.app.url}/healthz`);
          return false;
        } catch {
          return true;
        }
      },
      5_000,
      "the port to be closed",
    );
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
    const cmdline = readFileSync(`/proc/${s.app.pid}/cmdline`, "utf8").split(
      "\0",
    );
    expect(cmdline).toContain("--max-old-space-size=256");
    expect(s.app.logs.join("\n")).not.toMatch(/processes\)/);
    expect(
      (await orderWebhook(s, makeOrder({ id: 7_600_000_000_001 }))).body
        .outcome,
    ).toBe("accepted");
  });
});

describe("npm start without its secrets", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** Runs `npm start`'s script to its end: exit code and output. */
  async function start(
    env: Record<string, string>,
  ): Promise<{ code: number | null; output: string }> {
    const proc = spawn(process.execPath, ["scripts/start.mjs"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "production",
        PORT: String(await freePort()),
        HOST_BIND: "127.0.0.1",
        DATABASE_URL: database.url,
        SHOPIFY_API_KEY: API_KEY,
        SHOPIFY_APP_URL: "http://127.0.0.1:9",
        BUILD_PATH: path.join(
          process.env.TEST_BUILD_DIR ?? path.join(ROOT, "build"),
          "server/index.js",
        ),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    proc.stdout.on("data", (c: Buffer) => (output += c));
    proc.stderr.on("data", (c: Buffer) => (output += c));
    const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) =>
      proc.on("exit", (c) => resolve(c)),
    );
    clearTimeout(timer);
    return { code, output };
  }

  for (const processes of ["1", "2"]) {
    it(`exits non-zero with the reason when TOKEN_ENCRYPTION_KEY is missing (WEB_CONCURRENCY=${processes})`, async () => {
      const { code, output } = await start({
        WEB_CONCURRENCY: processes,
        SHOPIFY_API_SECRET: API_SECRET,
      });
      expect(code, output).not.toBe(0);
      expect(code, output).not.toBeNull();
      expect(output).toMatch(/Cannot start: TOKEN_ENCRYPTION_KEY is missing/);
    });

    it(`exits non-zero with the reason when SHOPIFY_API_SECRET is missing (WEB_CONCURRENCY=${processes})`, async () => {
      const { code, output } = await start({
        WEB_CONCURRENCY: processes,
        TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
      });
      expect(code, output).not.toBe(0);
      expect(code, output).not.toBeNull();
      expect(output).toMatch(/Cannot start: .*apiSecretKey/);
      expect(output, "a reason, not a stack trace").not.toMatch(/^\s+at /m);
    });
  }

  it("exits non-zero with the reason when a setting is not a whole number", async () => {
    const env = {
      TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
      SHOPIFY_API_SECRET: API_SECRET,
      PURCHASE_HOLD_SECONDS: "soon",
    };
    const { code, output } = await start(env);
    expect(code, output).not.toBe(0);
    expect(code, output).not.toBeNull();
    expect(output).toMatch(
      /Cannot start: PURCHASE_HOLD_SECONDS must be a whole number ≥ 0 \(got "soon"\)/,
    );
  });
});
