import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { RateLimit } from "../../app/http/rateLimit";
import { startPrivateRedis, testPrefix, testRedisUrl } from "../support/redis";

// The pixel endpoint's limits (decisions 41, 96): the same windows in memory and in Redis; in Redis, one count for
// every process; Redis gone, each process counts on its own instead of refusing or waiting.

async function takeMany(limit: RateLimit, key: string, n: number) {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (await limit.take(key)) allowed++;
  return allowed;
}

describe("RateLimit in memory", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("takes rate × window requests per key per window of ceil(burst / rate) seconds", async () => {
    vi.useFakeTimers();
    // 2/s with a burst of 3: windows of 2 s, 4 requests each.
    const limit = new RateLimit("t", 2, 3, null);
    expect(await takeMany(limit, "a", 6)).toBe(4);
    expect(await limit.take("b")).toBe(true);
    vi.advanceTimersByTime(1_999);
    expect(await limit.take("a")).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await takeMany(limit, "a", 6)).toBe(4);
    // INGEST_CLIENT_* defaults: 60 per 3 s.
    expect(await takeMany(new RateLimit("d", 20, 60, null), "a", 100)).toBe(60);
  });
});

describe.skipIf(!testRedisUrl())("RateLimit in Redis", () => {
  const clients: Redis[] = [];
  const client = (url: string) => {
    const c = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    c.on("error", () => {});
    clients.push(c);
    return c;
  };
  const ready = (c: Redis) =>
    new Promise<void>((resolve) =>
      c.status === "ready" ? resolve() : c.once("ready", () => resolve()),
    );
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  it("is one count for every process that shares the prefix", async () => {
    const prefix = testPrefix();
    const [a, b] = [client(testRedisUrl()!), client(testRedisUrl()!)];
    await Promise.all([ready(a), ready(b)]);
    const nodeA = new RateLimit("address", 20, 60, { client: a, prefix });
    const nodeB = new RateLimit("address", 20, 60, { client: b, prefix });
    const allowed = (
      await Promise.all([
        takeMany(nodeA, "203.0.113.9", 40),
        takeMany(nodeB, "203.0.113.9", 40),
      ])
    ).reduce((x, y) => x + y);
    expect(allowed).toBe(60);
    // Another prefix (another app, another test) counts apart.
    const other = new RateLimit("address", 20, 60, {
      client: a,
      prefix: testPrefix(),
    });
    expect(await other.take("203.0.113.9")).toBe(true);
  });

  it("counts in this process alone while Redis cannot be reached, neither refusing nor waiting", async () => {
    const redis = await startPrivateRedis();
    const c = client(redis.url);
    await ready(c);
    const limit = new RateLimit("address", 20, 60, {
      client: c,
      prefix: testPrefix(),
    });
    expect(await takeMany(limit, "x", 10)).toBe(10);
    await redis.stop();
    await vi.waitFor(() => expect(c.status).not.toBe("ready"));
    const started = Date.now();
    expect(await takeMany(limit, "y", 80)).toBe(60);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
