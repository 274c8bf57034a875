import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  datasetQuality,
  debugToken,
  pixelEventCounts,
} from "../../app/core/meta/datasetReads";
import {
  graphConfigFromEnv,
  type GraphConfig,
} from "../../app/core/meta/graphClient";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";

// The read-backs of decisions 126-128 against the fake Graph API: what each answer becomes, the refusals, the token
// kept out of every message, and `paging.next` followed only on Meta's own host.

const TOKEN = "EAAGreadSECRET/token+value=";
const PIXEL = "2345678901234567";
const HOUR = 3_600_000;

let graph: FakeGraph;
let cfg: GraphConfig;
beforeAll(async () => {
  graph = await startFakeGraph();
  cfg = graphConfigFromEnv({ NODE_ENV: "test", META_GRAPH_API_URL: graph.url });
});
afterAll(() => graph.close());
beforeEach(() => {
  graph.reset();
  graph.addPixel(PIXEL, { name: "Reads", token: TOKEN });
});

describe("debugToken", () => {
  it("reads validity, expiry (0 is never) and scopes", async () => {
    const never = await debugToken(cfg, TOKEN);
    expect(never).toMatchObject({
      ok: true,
      value: {
        valid: true,
        expiresAt: null,
        scopes: ["ads_management", "business_management"],
      },
    });
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 5 * 86_400_000);
    graph.setTokenInfo(TOKEN, { expiresAt: at, valid: false });
    const expired = await debugToken(cfg, TOKEN);
    expect(expired.ok && expired.value).toMatchObject({
      valid: false,
      expiresAt: at,
    });
    expect(expired.ok && expired.value.error).toMatch(/Session has expired/);
  });

  it("classifies a refused token and keeps it out of the message", async () => {
    const refused = await debugToken(cfg, `${TOKEN}-unknown`);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.failure.info.kind).toBe("token");
    expect(refused.failure.message).not.toContain(TOKEN);
  });
});

describe("pixelEventCounts", () => {
  it("sums every page of hourly buckets, and names a missing permission", async () => {
    const end = new Date(Math.floor(Date.now() / HOUR) * HOUR);
    const start = new Date(end.getTime() - 60 * HOUR);
    // 60 hours: three pages of 24 buckets.
    graph.addStats(
      PIXEL,
      "WEB_ONLY",
      Array.from({ length: 60 }, (_, i) => ({
        hour: new Date(start.getTime() + i * HOUR),
        eventName: "PageView",
        count: 2,
      })),
    );
    const read = await pixelEventCounts(cfg, PIXEL, TOKEN, {
      source: "WEB_ONLY",
      start,
      end,
    });
    expect(read.ok && read.value.reduce((n, c) => n + c.count, 0)).toBe(120);
    expect(
      graph.requests.filter((r) => r.path.endsWith("/stats")),
    ).toHaveLength(3);
    const server = await pixelEventCounts(cfg, PIXEL, TOKEN, {
      source: "SERVER_ONLY",
      start,
      end,
    });
    expect(server).toEqual({ ok: true, value: [] });

    graph.setTokenInfo(TOKEN, { scopes: ["business_management"] });
    const denied = await pixelEventCounts(cfg, PIXEL, TOKEN, {
      source: "WEB_ONLY",
      start,
      end,
    });
    expect(denied.ok || denied.failure.info.kind).toBe("permission");
  });

  it("never sends the token to a paging link on another host", async () => {
    const end = new Date();
    const start = new Date(end.getTime() - HOUR);
    const foreign = {
      ...cfg,
      transport: async () =>
        new Response(
          JSON.stringify({
            data: [
              {
                start_time: start.toISOString(),
                data: [{ value: "Lead", count: 1 }],
              },
            ],
            paging: {
              next: `https://elsewhere.example/v24.0/${PIXEL}/stats?access_token=${TOKEN}`,
            },
          }),
          { status: 200 },
        ),
    };
    const read = await pixelEventCounts(foreign, PIXEL, TOKEN, {
      source: "WEB_ONLY",
      start,
      end,
    });
    expect(read).toEqual({
      ok: true,
      value: [
        { hour: new Date(start.toISOString()), eventName: "Lead", count: 1 },
      ],
    });
  });
});

describe("datasetQuality", () => {
  it("asks for the app's own events and keeps the aggregates, and refuses a bad dataset id before asking", async () => {
    graph.setQuality(PIXEL, [
      { event_name: "Purchase", event_match_quality: { composite_score: 8 } },
      { no_name: true },
    ]);
    const read = await datasetQuality(cfg, PIXEL, TOKEN);
    expect(read).toEqual({
      ok: true,
      value: [
        {
          eventName: "Purchase",
          matchScore: 8,
          keyCoverage: {},
          eventCoverage: null,
          dedupKeyCoverage: null,
          freshness: null,
          additionalConversions: null,
        },
      ],
    });
    const bad = await datasetQuality(cfg, "12ab", TOKEN);
    expect(bad.ok || bad.failure.info.kind).toBe("wrong_pixel");
    expect(
      graph.requests.filter((r) => r.path.endsWith("/dataset_quality")),
    ).toHaveLength(1);
  });
});
