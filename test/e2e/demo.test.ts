import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, ROOT } from "../support/app";

// `npm run demo` end to end: the script builds nothing here (BUILD_PATH is this run's build), starts the production
// server, the local Meta stand-in, the real pixel bundle and a signed webhook, and must show what Meta received.

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function demo(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/demo.ts", ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          BUILD_PATH: path.join(process.env.TEST_BUILD_DIR!, "server/index.js"),
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("npm run demo", () => {
  it("replays a journey and a paid order, and prints what Meta received with matching event ids", async () => {
    const run = await demo([]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const out = run.stdout;

    // The Purchase row: server event_id purchase_<order id>, the same eid on the browser pixel, hashed match keys.
    const purchase = /^\s+Purchase\s+(purchase_\d+)\s+= same\s+(.+)$/m.exec(
      out,
    );
    expect(purchase, out).not.toBeNull();
    const [, eventId, rest] = purchase!;
    const order = /orders\/paid webhook for order (\d+) → 200 accepted/.exec(
      out,
    );
    expect(eventId).toBe(`purchase_${order?.[1]}`);
    for (const key of [
      "em",
      "ph",
      "fn",
      "ln",
      "external_id",
      "fbp",
      "fbc",
      "client_ip_address",
      "client_user_agent",
    ]) {
      expect(rest.split(/\s+/)).toContain(key);
    }
    expect(rest).toContain("[114.8 EUR]");
    expect(out).toMatch(
      new RegExp(
        `browser Purchase\\s+eid=${eventId}\\s+↔ server event_id ${eventId}`,
      ),
    );

    // Every browser pixel event has its server twin with the same id, and Meta got nothing else.
    const served = [
      ...out.matchAll(
        /^\s+(\w+)\s+((?:sh-[0-9a-f-]+)|(?:purchase_\d+))\s+(= same|none)\s/gm,
      ),
    ];
    // In the order Meta received them: events of one shop may go in parallel requests, so compare as a set.
    expect(served.map((m) => m[1]).sort()).toEqual(
      [
        "PageView",
        "ViewContent",
        "AddToCart",
        "InitiateCheckout",
        "AddPaymentInfo",
        "Purchase",
      ].sort(),
    );
    expect(served.every((m) => m[3] === "= same")).toBe(true);
    expect(out).toContain("Deduplication: 6 of 6 server events");
  });

  it("with real-Meta options, fails clearly when Meta cannot be reached, and never prints the token", async () => {
    const token = "EAAdemoSecretToken0123456789abcdef";
    const closed = await freePort();
    const run = await demo(
      [
        "--pixel-id",
        "1234567890123456",
        "--access-token",
        token,
        "--test-event-code",
        "TEST123",
      ],
      {
        META_GRAPH_API_URL: `http://127.0.0.1:${closed}`,
      },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `Could not reach Meta: no answer from http://127.0.0.1:${closed}`,
    );
    expect(run.stdout + run.stderr).not.toContain(token);
  });

  it("refuses incomplete or unknown options with exit code 2 and the usage", async () => {
    const partial = await demo(["--pixel-id", "1234567890123456"]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain(
      "--access-token and --test-event-code are missing",
    );
    expect(partial.stderr).toContain("Usage: npm run demo");

    const unknown = await demo(["--pixle-id", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--pixle-id'");
  });
});
