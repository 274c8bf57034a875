import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_GRAPH_VERSION,
  graphConfigFromEnv,
  lookupPixel,
  MAX_REQUEST_BYTES,
  PARTNER_AGENT,
  requestParts,
  sendEvents,
  type GraphConfig,
  type GraphRequest,
  type GraphResponse,
  type GraphTransport,
} from "../../app/core/meta/graphClient";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";

// Characters that URL-encoding changes, so both spellings of the token must be kept out of messages.
const TOKEN = "EAAGtestSECRET/token+value=";
const PIXEL = "1234567890123456";

/** Events as the outbox hands them to sendEvents: one JSON text each. */
const wire = (...events: CapiEvent[]) => events.map((e) => JSON.stringify(e));

function event(overrides: Partial<CapiEvent> = {}): CapiEvent {
  return {
    event_name: "Purchase",
    event_time: Math.floor(Date.now() / 1000) - 60,
    event_id: "purchase_1001",
    action_source: "website",
    event_source_url: "https://shop.example/checkouts/abc/thank-you",
    user_data: {
      em: ["a".repeat(64)],
      client_user_agent: "Mozilla/5.0",
      client_ip_address: "203.0.113.7",
    },
    custom_data: { value: 42.5, currency: "EUR", order_id: "1001" },
    ...overrides,
  };
}

/** Remix's globals make NODE_ENV required on ProcessEnv; these tests pass partial environments on purpose. */
const env = (vars: Record<string, string>) => vars as NodeJS.ProcessEnv;

function expectNoToken(value: unknown) {
  const json = JSON.stringify(value);
  expect(json).not.toContain(TOKEN);
  expect(json).not.toContain(encodeURIComponent(TOKEN));
  expect(json).not.toContain("SECRET");
}

let fake: FakeGraph;
let cfg: GraphConfig;

beforeAll(async () => {
  fake = await startFakeGraph();
  cfg = { baseUrl: fake.url, version: "v24.0", timeoutMs: 2_000 };
});
afterEach(() => fake.reset());
afterAll(() => fake.close());

function register() {
  fake.addPixel(PIXEL, { name: "Main pixel", token: TOKEN });
}

describe("graphConfigFromEnv", () => {
  it("defaults to Meta's Graph URL, the current version and 10 s", () => {
    expect(graphConfigFromEnv(env({}))).toEqual({
      baseUrl: "https://graph.facebook.com",
      version: DEFAULT_GRAPH_VERSION,
      timeoutMs: 10_000,
    });
    expect(DEFAULT_GRAPH_VERSION).toBe("v24.0");
  });

  it("reads the environment and lets a shop's version override it", () => {
    const vars = env({
      META_GRAPH_API_URL: "http://127.0.0.1:9/",
      META_GRAPH_API_VERSION: "v23.0",
      META_GRAPH_TIMEOUT_MS: "2500",
    });
    expect(graphConfigFromEnv(vars)).toEqual({
      baseUrl: "http://127.0.0.1:9",
      version: "v23.0",
      timeoutMs: 2500,
    });
    expect(graphConfigFromEnv(vars, { version: "v25.0" }).version).toBe(
      "v25.0",
    );
    expect(graphConfigFromEnv(vars, { version: null }).version).toBe("v23.0");
  });

  it("rejects invalid values with the variable's name", () => {
    expect(() =>
      graphConfigFromEnv(env({ META_GRAPH_API_VERSION: "24.0" })),
    ).toThrow(/version must look like v24\.0/);
    expect(() => graphConfigFromEnv(env({}), { version: "latest" })).toThrow(
      /version/,
    );
    expect(() =>
      graphConfigFromEnv(env({ META_GRAPH_TIMEOUT_MS: "soon" })),
    ).toThrow(/META_GRAPH_TIMEOUT_MS/);
    expect(() =>
      graphConfigFromEnv(env({ META_GRAPH_TIMEOUT_MS: "0" })),
    ).toThrow(/META_GRAPH_TIMEOUT_MS/);
    expect(() =>
      graphConfigFromEnv(env({ META_GRAPH_API_URL: "graph.facebook.com" })),
    ).toThrow(/META_GRAPH_API_URL/);
  });
});

describe("lookupPixel", () => {
  it("returns the pixel's id and name, sending the token to Meta only", async () => {
    register();
    const result = await lookupPixel(cfg, PIXEL, TOKEN);
    expect(result).toEqual({ ok: true, id: PIXEL, name: "Main pixel" });
    const [req] = fake.requests;
    expect(req.method).toBe("GET");
    expect(req.path).toBe(`/v24.0/${PIXEL}`);
    expect(req.query.fields).toBe("id,name");
    expect(req.accessToken).toBe(TOKEN);
  });

  it("a wrong token is a token error (190/460) with Meta's fbtrace_id", async () => {
    register();
    const result = await lookupPixel(cfg, PIXEL, `${TOKEN}x`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toMatchObject({
      httpStatus: 400,
      code: 190,
      subcode: 460,
      ambiguous: false,
    });
    expect(result.failure.info.kind).toBe("token");
    expect(result.failure.fbtraceId).toBe(fake.requests[0].fbtraceId);
    expect(result.failure.fbtraceId).toEqual(expect.any(String));
    expect(result.failure.message).toMatch(/Error validating access token/);
  });

  it("an unknown pixel is a wrong_pixel error (100/33)", async () => {
    const result = await lookupPixel(cfg, "999", TOKEN);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toMatchObject({ code: 100, subcode: 33 });
    expect(result.failure.info.kind).toBe("wrong_pixel");
    expect(result.failure.message).toMatch(/Unsupported get request/);
    expectNoToken(result);
  });

  it.each(["12a4", "", "123/events", "../123", " 123"])(
    "refuses pixel id %j without a request",
    async (pixelId) => {
      const result = await lookupPixel(cfg, pixelId, TOKEN);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.failure.info.kind).toBe("wrong_pixel");
      expect(fake.requests).toHaveLength(0);
    },
  );
});

describe("sendEvents", () => {
  it("posts JSON to /{version}/{pixel}/events and returns Meta's answer", async () => {
    register();
    const events = [event(), event({ event_id: "purchase_1002" })];
    const result = await sendEvents(cfg, PIXEL, TOKEN, wire(...events), {
      testEventCode: "TEST123",
    });
    expect(result).toEqual({
      ok: true,
      eventsReceived: 2,
      fbtraceId: expect.any(String),
      messages: [],
    });
    const [req] = fake.requests;
    expect(req.method).toBe("POST");
    expect(req.path).toBe(`/v24.0/${PIXEL}/events`);
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.body).toEqual({
      data: events,
      access_token: TOKEN,
      test_event_code: "TEST123",
      partner_agent: PARTNER_AGENT,
    });
    expect(req.query).toEqual({});
    expect(fake.eventsReceived(PIXEL)).toEqual(events);
    expect(result.ok && result.fbtraceId).toBe(req.fbtraceId);
  });

  it("leaves test_event_code out when there is none", async () => {
    register();
    await sendEvents(cfg, PIXEL, TOKEN, wire(event()), { testEventCode: null });
    expect(fake.requests[0].body).not.toHaveProperty("test_event_code");
  });

  it("a wrong token on events is a token error", async () => {
    register();
    const result = await sendEvents(cfg, PIXEL, "EAAGother", wire(event()));
    expect(!result.ok && result.failure.info.kind).toBe("token");
    expect(fake.eventsReceived()).toHaveLength(0);
  });

  it("events for an unregistered pixel are a wrong_pixel error", async () => {
    const result = await sendEvents(cfg, "42", TOKEN, wire(event()));
    expect(!result.ok && result.failure).toMatchObject({
      code: 100,
      subcode: 33,
      info: { kind: "wrong_pixel" },
    });
  });

  it.each([
    [{ status: 403, code: 10 }, "permission", "pause_shop", false],
    [
      { status: 403, code: 200, subcode: 1870034 },
      "permission",
      "pause_shop",
      false,
    ],
    [
      { status: 400, code: 613, subcode: 1487742 },
      "rate_limit",
      "long_backoff",
      false,
    ],
    [
      { status: 400, code: 17, subcode: 2446079 },
      "rate_limit",
      "long_backoff",
      false,
    ],
    [{ status: 400, code: 368 }, "blocked", "long_backoff", false],
    [
      { status: 500, code: 2, is_transient: true },
      "transient",
      "backoff",
      true,
    ],
    [{ status: 500, code: 1 }, "transient", "backoff", true],
  ] as const)("scripted %j -> %s", async (response, kind, retry, ambiguous) => {
    register();
    fake.failNext(1, response);
    const result = await sendEvents(cfg, PIXEL, TOKEN, wire(event()));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure).toMatchObject({
      httpStatus: response.status,
      code: response.code,
      subcode: "subcode" in response ? response.subcode : null,
      ambiguous,
      fbtraceId: fake.requests[0].fbtraceId,
    });
    expect(result.failure.fbtraceId).toEqual(expect.any(String));
    expect(result.failure.info).toMatchObject({ kind, retry });
    expectNoToken(result);
  });

  it("a batch with a rejected event fails whole as invalid_event, with Meta's explanation", async () => {
    register();
    fake.rejectEvents((e) => e.event_id === "bad");
    const result = await sendEvents(
      cfg,
      PIXEL,
      TOKEN,
      wire(event(), event({ event_id: "bad" })),
    );
    expect(!result.ok && result.failure).toMatchObject({
      code: 100,
      subcode: 2804050,
      info: { kind: "invalid_event", retry: "isolate" },
    });
    if (!result.ok)
      expect(result.failure.message).toMatch(
        /Too Few Customer Information Parameters/,
      );
    expect(fake.eventsReceived()).toHaveLength(0);
  });

  it("an event older than 7 days fails the batch as event_too_old", async () => {
    register();
    const old = event({
      event_time: Math.floor(Date.now() / 1000) - 8 * 86_400,
    });
    const result = await sendEvents(cfg, PIXEL, TOKEN, wire(event(), old));
    expect(!result.ok && result.failure).toMatchObject({
      code: 100,
      subcode: 2804003,
      info: { kind: "event_too_old", retry: "expire" },
    });
  });

  it("a hanging Meta is a timeout: transient and ambiguous", async () => {
    register();
    fake.failNext(1, "hang");
    const started = Date.now();
    const result = await sendEvents(
      { ...cfg, timeoutMs: 150 },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: null,
      ambiguous: true,
      info: { kind: "transient", retry: "backoff" },
    });
    if (!result.ok) expect(result.failure.message).toMatch(/Timed out/);
    expectNoToken(result);
  });

  it("a reset connection is transient and ambiguous", async () => {
    register();
    fake.failNext(1, "reset");
    const result = await sendEvents(cfg, PIXEL, TOKEN, wire(event()));
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: null,
      ambiguous: true,
      info: { kind: "transient" },
    });
    expectNoToken(result);
    // The client recovers on a fresh connection.
    expect((await sendEvents(cfg, PIXEL, TOKEN, wire(event()))).ok).toBe(true);
  });

  it("a refused connection is transient and not ambiguous", async () => {
    const closed = await startFakeGraph();
    await closed.close();
    const result = await sendEvents(
      { ...cfg, baseUrl: closed.url },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!result.ok && result.failure).toMatchObject({
      ambiguous: false,
      info: { kind: "transient", retry: "backoff" },
    });
    if (!result.ok) expect(result.failure.message).toMatch(/ECONNREFUSED/);
    expectNoToken(result);
    const lookup = await lookupPixel(
      { ...cfg, baseUrl: closed.url },
      PIXEL,
      TOKEN,
    );
    expect(!lookup.ok && lookup.failure.ambiguous).toBe(false);
    expectNoToken(lookup);
  });

  it("removes the token from Meta's own message when it echoes it", async () => {
    register();
    fake.failNext(1, {
      status: 400,
      code: 190,
      message: `Malformed access token ${TOKEN}`,
    });
    const result = await sendEvents(cfg, PIXEL, TOKEN, wire(event()));
    expect(!result.ok && result.failure.message).toBe(
      "Malformed access token [redacted]",
    );
    expectNoToken(result);
  });

  it("removes the token from fetch errors that echo the URL", async () => {
    const result = await lookupPixel(
      { ...cfg, baseUrl: "http://exa mple.invalid" },
      PIXEL,
      TOKEN,
    );
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.failure.message).toMatch(/\[redacted\]/);
    expectNoToken(result);
  });
});

describe("the transport seam", () => {
  const answer = (
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): GraphResponse => ({
    status,
    headers: new Headers(headers),
    text: async () => body,
  });

  it("hands the transport the request and the timeout, and reads, classifies and redacts the answer above it", async () => {
    const seen: { request: GraphRequest; timeoutMs: number }[] = [];
    const transport: GraphTransport = async (request, timeoutMs) => {
      seen.push({ request, timeoutMs });
      const error = {
        message: `Malformed access token ${encodeURIComponent(TOKEN)}`,
        code: 190,
        error_subcode: 463,
      };
      return answer(400, JSON.stringify({ error }), {
        "x-fb-trace-id": "HeaderTrace",
      });
    };
    const result = await sendEvents(
      { ...cfg, baseUrl: "https://graph.test", transport },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: 400,
      code: 190,
      subcode: 463,
      message: "Malformed access token [redacted]",
      fbtraceId: "HeaderTrace",
      ambiguous: false,
      info: { kind: "token", retry: "pause_shop" },
    });
    expect(seen).toHaveLength(1);
    const [{ request, timeoutMs }] = seen;
    expect(timeoutMs).toBe(cfg.timeoutMs);
    expect(request).toMatchObject({
      method: "POST",
      url: `https://graph.test/v24.0/${PIXEL}/events`,
      headers: { "Content-Type": "application/json" },
    });
    expect(JSON.parse(request.body!)).toMatchObject({
      access_token: TOKEN,
      partner_agent: PARTNER_AGENT,
    });
    expect(fake.requests).toHaveLength(0);
  });

  it("a failure after the status line arrived is ambiguous, whatever the error says; before it, as the error says", async () => {
    const refused = () =>
      new TypeError("fetch failed", {
        cause: Object.assign(new Error("connect ECONNREFUSED"), {
          code: "ECONNREFUSED",
        }),
      });
    const afterStatus: GraphTransport = async () => ({
      status: 200,
      headers: new Headers(),
      text: () => Promise.reject(refused()),
    });
    const beforeStatus: GraphTransport = () => Promise.reject(refused());
    const after = await sendEvents(
      { ...cfg, transport: afterStatus },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!after.ok && after.failure).toMatchObject({
      httpStatus: null,
      ambiguous: true,
      info: { kind: "transient" },
    });
    const before = await sendEvents(
      { ...cfg, transport: beforeStatus },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!before.ok && before.failure).toMatchObject({
      httpStatus: null,
      ambiguous: false,
      info: { kind: "transient" },
    });
  });

  it("a transport error that echoes the URL does not let the token out", async () => {
    const transport: GraphTransport = (request) =>
      Promise.reject(new Error(`could not reach ${request.url}`));
    const result = await lookupPixel({ ...cfg, transport }, PIXEL, TOKEN);
    expect(!result.ok && result.failure.message).toMatch(
      /could not reach .*access_token=\[redacted\]/,
    );
    expectNoToken(result);
  });
});

describe("requestParts", () => {
  it("cuts a batch where the next event would take the body over the limit, envelope and commas included", () => {
    // 4 KB of envelope + 3,001 bytes per event: two fit in 10 KB, three do not.
    expect(requestParts([3_000, 3_000, 3_000, 3_000, 3_000], 10_240)).toEqual([
      2, 4, 5,
    ]);
    expect(requestParts([3_000, 3_000, 3_000, 3_000, 3_000], 100_000)).toEqual([
      5,
    ]);
    expect(requestParts([], 10_240)).toEqual([]);
  });

  it("sends an event larger than the limit on its own, never merged with others", () => {
    expect(requestParts([500, 20_000, 500], 10_240)).toEqual([1, 2, 3]);
  });

  it("keeps every request Meta receives within MAX_REQUEST_BYTES", async () => {
    register();
    // 1,000 events of ~10 KB, some of it accented: a 10+ MB batch, as very large orders make.
    const events = Array.from({ length: 1_000 }, (_, i) =>
      JSON.stringify(
        event({
          event_id: `e${i}`,
          event_source_url: `https://s/é${"x".repeat(9_500)}`,
        }),
      ),
    );
    const ends = requestParts(events.map((e) => Buffer.byteLength(e)));
    expect(ends.length).toBe(3);
    let start = 0;
    for (const end of ends) {
      const result = await sendEvents(
        cfg,
        PIXEL,
        TOKEN,
        events.slice(start, end),
        { testEventCode: "TEST12345" },
      );
      expect(result.ok).toBe(true);
      start = end;
    }
    expect(
      fake.requests
        .map((r) => r.bytes)
        .every((bytes) => bytes <= MAX_REQUEST_BYTES),
    ).toBe(true);
    expect(fake.eventCount()).toBe(1_000);
  });
});

describe("non-JSON answers", () => {
  let server: Server;
  let base: string;
  let reply: { status: number; body: string; type: string };

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () =>
        res
          .writeHead(reply.status, { "Content-Type": reply.type })
          .end(reply.body),
      );
    });
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("an HTML 502 from a proxy is transient, with a short message", async () => {
    reply = {
      status: 502,
      type: "text/html",
      body: `<html><body>Bad Gateway ${"x".repeat(5_000)}</body></html>`,
    };
    const result = await sendEvents(
      { ...cfg, baseUrl: base },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: 502,
      code: null,
      subcode: null,
      fbtraceId: null,
      info: { kind: "transient" },
    });
    if (!result.ok) {
      expect(result.failure.message).toMatch(
        /^HTTP 502: <html><body>Bad Gateway/,
      );
      expect(result.failure.message.length).toBeLessThanOrEqual(501);
    }
  });

  it("a plain-text 4xx is unknown and keeps its text", async () => {
    reply = { status: 403, type: "text/plain", body: `Forbidden for ${TOKEN}` };
    const result = await lookupPixel({ ...cfg, baseUrl: base }, PIXEL, TOKEN);
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: 403,
      info: { kind: "unknown" },
      message: "HTTP 403: Forbidden for [redacted]",
    });
  });

  it("a 200 that is not Meta's success body is a failure the events may have reached", async () => {
    reply = {
      status: 200,
      type: "text/html",
      body: "<html>captive portal</html>",
    };
    const result = await sendEvents(
      { ...cfg, baseUrl: base },
      PIXEL,
      TOKEN,
      wire(event()),
    );
    expect(!result.ok && result.failure).toMatchObject({
      httpStatus: 200,
      ambiguous: true,
      info: { kind: "unknown" },
    });
  });
});

describe("the fake Graph's scripting", () => {
  it("failOn fails the N-th request and stops when removed", async () => {
    register();
    const stop = fake.failOn((_req, index) => index === 1, {
      status: 500,
      code: 2,
    });
    const results = [];
    for (let i = 0; i < 3; i++)
      results.push(
        (
          await sendEvents(
            cfg,
            PIXEL,
            TOKEN,
            wire(event({ event_id: `e${i}` })),
          )
        ).ok,
      );
    expect(results).toEqual([true, false, true]);
    stop();
    expect(fake.requests.map((r) => r.status)).toEqual([200, 500, 200]);
    expect(fake.eventRequests()).toHaveLength(2);
  });

  it("waitForEvents resolves when enough events were accepted and rejects on timeout", async () => {
    register();
    const waiting = fake.waitForEvents(2, 2_000);
    await sendEvents(cfg, PIXEL, TOKEN, wire(event({ event_id: "a" })));
    await sendEvents(cfg, PIXEL, TOKEN, wire(event({ event_id: "b" })));
    expect((await waiting).map((e) => e.event_id)).toEqual(["a", "b"]);
    await expect(fake.waitForEvents(5, 50)).rejects.toThrow(
      /expected 5 events within 50 ms, received 2/,
    );
  });

  it("applies latency", async () => {
    register();
    fake.setLatency(120);
    const started = Date.now();
    await sendEvents(cfg, PIXEL, TOKEN, wire(event()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it("counts without recording bodies, and accepts any pixel when asked", async () => {
    const bench = await startFakeGraph({
      acceptAnyPixel: true,
      recordBodies: false,
    });
    try {
      const batch = Array.from({ length: 1000 }, (_, i) =>
        event({ event_id: `e${i}` }),
      );
      const results = await Promise.all(
        [1, 2, 3].map(() =>
          sendEvents(
            { ...cfg, baseUrl: bench.url },
            "77",
            "any",
            wire(...batch),
          ),
        ),
      );
      expect(results.every((r) => r.ok && r.eventsReceived === 1000)).toBe(
        true,
      );
      expect(bench.eventCount()).toBe(3000);
      expect(bench.eventCount("77")).toBe(3000);
      expect(bench.requests).toHaveLength(0);
      await expect(bench.waitForEvents(3000, 100)).resolves.toEqual([]);
      expect(
        await lookupPixel({ ...cfg, baseUrl: bench.url }, "77", "any"),
      ).toEqual({ ok: true, id: "77", name: "Pixel 77" });
    } finally {
      await bench.close();
    }
  });
});
