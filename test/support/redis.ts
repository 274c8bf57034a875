import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { freePort } from "./app";

// Redis for the suites of several web nodes (decisions 96). TEST_REDIS_URL (redis://127.0.0.1:6379, started by
// .ci/run) is shared by every test: each takes its own key prefix, so runs side by side never count each other's
// requests. A test that takes Redis away starts a private server instead (/usr/bin/redis-server).

export function testRedisUrl(): string | undefined {
  return process.env.TEST_REDIS_URL?.trim() || undefined;
}

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `test-${randomBytes(6).toString("hex")}:`;
}

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

/** A redis-server of this test alone, in memory, on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const proc: ChildProcess = spawn(
    process.env.REDIS_SERVER ?? "/usr/bin/redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      break;
    } catch (err) {
      client.disconnect();
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill("SIGKILL");
        throw new Error(
          `redis-server did not start: ${(err as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null)
          return resolve();
        proc.once("exit", () => resolve()).kill("SIGKILL");
      }),
  };
}
