import { describe, expect, it } from "vitest";
import {
  sendBatch,
  type DeliveryPolicy,
  type Step,
} from "../../app/core/delivery/sendBatch";
import {
  sendEvents,
  type GraphResponse,
  type GraphTransport,
} from "../../app/core/meta/graphClient";
import { STALE_MESSAGE } from "../../app/core/outbox/outbox";
import type { ClaimedRow } from "../../app/core/outbox/sql";

// The dispatcher's decisions as tables: a claimed batch's rows, Meta's answer to each request (scripted at the
// Graph client's transport, so Meta's bodies go through the real parsing and error table), and what becomes of each
// row and of the shop. No database and no server: the end-to-end suites (pipeline, backlog, worker) check the same
// decisions against the outbox and the fake Graph API over HTTP.

const POLICY: DeliveryPolicy = {
  leaseMs: 30_000,
  retryBaseMs: 1_000,
  maxRetryMs: 8_000,
  rateLimitBaseMs: 60_000,
  maxUnknownAttempts: 5,
};
const SHOP = "shop_1";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// --- Meta's answers, as the transport gives them to the Graph client ---

type Answer =
  | "ok"
  /** Meta's JSON error body. */
  | { status: number; code?: number; subcode?: number }
  /** The request timed out (it may have reached Meta). */
  | "timeout"
  /** The connection was reset after the request went out. */
  | "reset"
  /** The connection was refused: nothing went out. */
  | "refused"
  /** 200 arrived, then the connection was reset while the body was read. */
  | "cut"
  /** A proxy's HTML page. */
  | { status: number; html: string };
/** An answer that depends on the events of the request. */
type Rule = (eventIds: string[]) => Answer;

const meta = (status: number, code?: number, subcode?: number): Answer => ({
  status,
  code,
  subcode,
});
const TOKEN_EXPIRED = meta(400, 190, 463);
const INVALID = meta(400, 100, 2804050);
const TOO_OLD = meta(400, 100, 2804003);
const RATE_LIMIT = meta(400, 613);
const TRANSIENT = meta(500, 2);
/** Meta refuses a request that holds any of these events, as it does for an invalid event. */
const refuse =
  (...bad: string[]): Rule =>
  (ids) =>
    ids.some((id) => bad.includes(id)) ? INVALID : "ok";

function networkError(code: string): Error {
  return new TypeError("fetch failed", {
    cause: Object.assign(new Error(`read ${code}`), { code }),
  });
}

function respond(answer: Answer, ids: string[]): GraphResponse {
  const headers = new Headers({ "x-fb-trace-id": "HeaderTrace" });
  if (answer === "timeout")
    throw new DOMException(
      "The operation was aborted due to timeout",
      "TimeoutError",
    );
  if (answer === "reset") throw networkError("ECONNRESET");
  if (answer === "refused") throw networkError("ECONNREFUSED");
  if (answer === "cut")
    return {
      status: 200,
      headers,
      text: () => Promise.reject(networkError("ECONNRESET")),
    };
  if (answer === "ok") {
    const body = {
      events_received: ids.length,
      messages: [],
      fbtrace_id: "OkTrace",
    };
    return { status: 200, headers, text: async () => JSON.stringify(body) };
  }
  if ("html" in answer)
    return { status: answer.status, headers, text: async () => answer.html };
  const error = {
    message: `Meta says ${answer.code}`,
    type: "OAuthException",
    code: answer.code,
    error_subcode: answer.subcode,
    fbtrace_id: "ErrTrace",
  };
  return {
    status: answer.status,
    headers,
    text: async () => JSON.stringify({ error }),
  };
}

// --- A claimed batch ---

function row(
  id: string,
  opts: {
    attempts?: number;
    age?: number;
    actionSource?: string;
    bytes?: number;
  } = {},
): ClaimedRow {
  const actionSource = opts.actionSource ?? "website";
  const eventTime = new Date(Date.now() - (opts.age ?? HOUR));
  const payload = {
    event_name: "Purchase",
    event_id: id,
    action_source: actionSource,
    user_data: {},
    custom_data: { note: "x".repeat(opts.bytes ?? 0) },
  };
  return {
    id,
    eventName: "Purchase",
    eventId: id,
    clientIp: null,
    clientUserAgent: null,
    attempts: opts.attempts ?? 1,
    actionSource,
    eventTime,
    payloadJson: JSON.stringify(payload),
  };
}
const rows = (ids: string, opts?: Parameters<typeof row>[1]) =>
  [...ids].map((id) => row(id, opts));

// --- What became of the batch ---

/**
 * sent, failed, expired; retry (the attempt counts), retry? (counts, and the request may have reached Meta);
 * unsent (back to pending, the attempt not counted); left (no write: another dispatcher holds the row now).
 */
type Fate =
  "sent" | "failed" | "expired" | "retry" | "retry?" | "unsent" | "left";

interface Outcome {
  fates: Record<string, Fate>;
  /** When each row goes back to pending for, in ms from the start of the run. */
  retryIn: Record<string, number>;
  errors: Record<
    string,
    { code: number | null; subcode: number | null; message: string }
  >;
  /** Event ids of each request, in order. */
  requests: string[][];
  renewals: { ids: string[]; inMs: number }[];
  paused: string | null;
  backoffMs: number | null;
  rateLimits: number | undefined;
  steps: Step[];
  started: number;
  finished: number;
}

async function run(
  batch: ClaimedRow[],
  answers: Answer[] | Rule,
  opts: { rateLimits?: number; lose?: Record<number, string[]> } = {},
): Promise<Outcome> {
  const out: Outcome = {
    fates: {},
    retryIn: {},
    errors: {},
    requests: [],
    renewals: [],
    paused: null,
    backoffMs: null,
    rateLimits: undefined,
    steps: [],
    started: Date.now(),
    finished: 0,
  };
  const transport: GraphTransport = async (req) => {
    const ids = (
      JSON.parse(req.body!) as { data: { event_id: string }[] }
    ).data.map((e) => e.event_id);
    const index = out.requests.push(ids) - 1;
    const answer =
      typeof answers === "function" ? answers(ids) : answers[index];
    if (!answer)
      throw new Error(
        `no answer scripted for request ${index} (${ids.join(",")})`,
      );
    return respond(answer, ids);
  };
  const graph = {
    baseUrl: "https://graph.test",
    version: "v24.0",
    timeoutMs: 1_000,
    transport,
  };
  const held = new Set(batch.map((r) => r.id));
  const rateLimits = new Map<string, number>(
    opts.rateLimits === undefined ? [] : [[SHOP, opts.rateLimits]],
  );
  await sendBatch(
    { destinationId: SHOP, rows: batch },
    {
      send: (events) => sendEvents(graph, "1234567890", "EAAGtoken", events),
      async renewLease(ids, until) {
        // Another dispatcher reclaimed these rows (this one stalled) before the next request.
        for (const id of opts.lose?.[out.requests.length] ?? [])
          held.delete(id);
        out.renewals.push({ ids, inMs: until.getTime() - Date.now() });
        return ids.filter((id) => held.has(id));
      },
      rateLimits,
      async apply(step) {
        out.steps.push(step);
        if (step.kind === "pause") out.paused = step.failure.info.kind;
        if (step.kind === "backoff")
          out.backoffMs = step.until.getTime() - out.started;
        if (!("rows" in step)) return;
        for (const r of step.rows) {
          expect(out.fates[r.id], `${r.id} written twice`).toBeUndefined();
          expect(
            held.has(r.id),
            `${r.id} written after another dispatcher took it`,
          ).toBe(true);
          if (step.kind === "retry") {
            out.fates[r.id] = step.countAttempt
              ? step.ambiguous
                ? "retry?"
                : "retry"
              : "unsent";
            expect(
              step.ambiguous && !step.countAttempt,
              "an unsent row counted as ambiguous",
            ).toBe(false);
            out.retryIn[r.id] = step.at.getTime() - out.started;
          } else {
            out.fates[r.id] = step.kind;
          }
          if (step.kind !== "sent") out.errors[r.id] = step.err;
        }
      },
    },
    POLICY,
  );
  out.finished = Date.now();
  for (const r of batch) out.fates[r.id] ??= "left";
  out.rateLimits = rateLimits.get(SHOP);
  if (Array.isArray(answers))
    expect(out.requests.length, "requests made").toBe(answers.length);
  return out;
}

/** Within [lo, hi] ms of the run, allowing for the time the run took. */
function expectWithin(
  out: Outcome,
  ms: number,
  [lo, hi]: readonly [number, number],
  what: string,
) {
  expect(ms, what).toBeGreaterThanOrEqual(lo);
  expect(ms, what).toBeLessThanOrEqual(hi + (out.finished - out.started));
}

interface Case {
  name: string;
  rows: ClaimedRow[];
  meta: Answer[] | Rule;
  /** The shop's consecutive rate limits before this batch. */
  rateLimits?: number;
  /** Before request i, another dispatcher reclaims these rows. */
  lose?: Record<number, string[]>;
  fates: Record<string, Fate>;
  /** When every row that goes back to pending is due again, in ms from now. */
  retryIn?: readonly [number, number];
  /** What the shop is paused for. */
  paused?: string;
  /** How long the shop sends nothing, in ms from now. */
  backoff?: readonly [number, number];
  /** The shop's consecutive rate limits after the batch: unchanged unless given. */
  rateLimitsAfter?: number;
  requests?: string[];
}

async function check(c: Case): Promise<Outcome> {
  const out = await run(c.rows, c.meta, {
    rateLimits: c.rateLimits,
    lose: c.lose,
  });
  expect(out.fates).toEqual(c.fates);
  if (c.requests)
    expect(out.requests.map((ids) => ids.join(""))).toEqual(c.requests);
  for (const [id, ms] of Object.entries(out.retryIn))
    expectWithin(out, ms, c.retryIn ?? [NaN, NaN], `${id} due again`);
  expect(out.paused).toBe(c.paused ?? null);
  if (c.backoff)
    expectWithin(out, out.backoffMs ?? NaN, c.backoff, "the shop's backoff");
  else expect(out.backoffMs).toBeNull();
  expect(out.rateLimits).toBe(
    "rateLimitsAfter" in c ? c.rateLimitsAfter : c.rateLimits,
  );
  return out;
}

const S = 1_000;
const MIN = 60 * S;

describe("one answer of Meta to a whole batch", () => {
  const table: Case[] = [
    {
      name: "accepted: every row sent, and the shop's rate-limit streak ends",
      rows: rows("abc"),
      meta: ["ok"],
      rateLimits: 2,
      rateLimitsAfter: undefined,
      fates: { a: "sent", b: "sent", c: "sent" },
      requests: ["abc"],
    },
    // Transient failures: retried after retryBaseMs × 2^(attempts − 1), capped at maxRetryMs, jittered to [½, 1] of it.
    {
      name: "a 500: retried after the base delay, the resend possibly a duplicate",
      rows: rows("ab"),
      meta: [TRANSIENT],
      fates: { a: "retry?", b: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "a timeout: retried, possibly a duplicate",
      rows: rows("a"),
      meta: ["timeout"],
      fates: { a: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "a reset connection: retried, possibly a duplicate",
      rows: rows("a"),
      meta: ["reset"],
      fates: { a: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "a refused connection: retried, nothing reached Meta",
      rows: rows("a"),
      meta: ["refused"],
      fates: { a: "retry" },
      retryIn: [500, 1_000],
    },
    {
      name: "a body cut off after the status line: retried, possibly a duplicate",
      rows: rows("a"),
      meta: ["cut"],
      fates: { a: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "a proxy's HTML 502: retried, possibly a duplicate",
      rows: rows("a"),
      meta: [{ status: 502, html: "<html>Bad Gateway</html>" }],
      fates: { a: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "the third attempt waits four times the base",
      rows: rows("a", { attempts: 3 }),
      meta: [TRANSIENT],
      fates: { a: "retry?" },
      retryIn: [2_000, 4_000],
    },
    {
      name: "the delay stops doubling at maxRetryMs",
      rows: rows("a", { attempts: 9 }),
      meta: [TRANSIENT],
      fates: { a: "retry?" },
      retryIn: [4_000, 8_000],
    },
    {
      name: "a batch waits as long as its most-tried row",
      rows: [row("a"), row("b", { attempts: 3 })],
      meta: [TRANSIENT],
      fates: { a: "retry?", b: "retry?" },
      retryIn: [2_000, 4_000],
    },
    // Unknown errors: retried like transient ones, then given up after maxUnknownAttempts.
    {
      name: "an unknown error before the attempt limit: retried",
      rows: rows("a", { attempts: 4 }),
      meta: [meta(400, 12345)],
      fates: { a: "retry" },
      retryIn: [4_000, 8_000],
    },
    {
      name: "an unknown error at the attempt limit: failed",
      rows: [row("a", { attempts: 5 }), row("b")],
      meta: [meta(400, 12345)],
      fates: { a: "failed", b: "failed" },
    },
    {
      name: "a 200 that is not Meta's answer is unknown: retried, possibly a duplicate",
      rows: rows("a"),
      meta: [{ status: 200, html: "<html>captive portal</html>" }],
      fates: { a: "retry?" },
      retryIn: [500, 1_000],
    },
    {
      name: "a transient error past the unknown-error limit: still retried",
      rows: rows("a", { attempts: 7 }),
      meta: [TRANSIENT],
      fates: { a: "retry?" },
      retryIn: [4_000, 8_000],
    },
    // Errors only the merchant can fix: the shop pauses, its rows wait unsent and uncounted.
    {
      name: "an expired token pauses the shop",
      rows: rows("ab"),
      meta: [TOKEN_EXPIRED],
      fates: { a: "unsent", b: "unsent" },
      retryIn: [0, 0],
      paused: "token",
    },
    {
      name: "a missing permission pauses the shop",
      rows: rows("a"),
      meta: [meta(403, 10)],
      fates: { a: "unsent" },
      retryIn: [0, 0],
      paused: "permission",
    },
    {
      name: "a permission code of the 200 range pauses the shop",
      rows: rows("a"),
      meta: [meta(403, 200)],
      fates: { a: "unsent" },
      retryIn: [0, 0],
      paused: "permission",
    },
    {
      name: "a pixel the token cannot reach pauses the shop",
      rows: rows("a"),
      meta: [meta(400, 100, 33)],
      fates: { a: "unsent" },
      retryIn: [0, 0],
      paused: "wrong_pixel",
    },
    {
      name: "a pause leaves the rate-limit streak as it was",
      rows: rows("a"),
      meta: [TOKEN_EXPIRED],
      rateLimits: 2,
      fates: { a: "unsent" },
      retryIn: [0, 0],
      paused: "token",
    },
    // Rate limits: the shop backs off rateLimitBaseMs × 2^(streak − 1), at most an hour, jittered; its rows wait with it.
    {
      name: "a first rate limit backs the shop off the base",
      rows: rows("ab"),
      meta: [RATE_LIMIT],
      fates: { a: "retry", b: "retry" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
    },
    {
      name: "a third rate limit in a row backs off four times the base",
      rows: rows("a"),
      meta: [meta(429)],
      rateLimits: 2,
      fates: { a: "retry" },
      retryIn: [2 * MIN, 4 * MIN],
      backoff: [2 * MIN, 4 * MIN],
      rateLimitsAfter: 3,
    },
    {
      name: "a rate-limit backoff stops doubling at an hour",
      rows: rows("a"),
      meta: [meta(400, 4)],
      rateLimits: 7,
      fates: { a: "retry" },
      retryIn: [30 * MIN, 60 * MIN],
      backoff: [30 * MIN, 60 * MIN],
      rateLimitsAfter: 8,
    },
    {
      name: "a temporary block backs off like a rate limit",
      rows: rows("a"),
      meta: [meta(400, 368)],
      fates: { a: "retry" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
    },
    {
      name: "a rate limit in a 5xx: the resend is possibly a duplicate",
      rows: rows("a"),
      meta: [meta(503, 17)],
      fates: { a: "retry?" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
    },
    // One event alone that Meta refuses.
    {
      name: "a single invalid event fails, without bisection",
      rows: rows("a"),
      meta: [INVALID],
      fates: { a: "failed" },
      requests: ["a"],
    },
    {
      name: "a single event Meta finds too old expires",
      rows: rows("a"),
      meta: [TOO_OLD],
      fates: { a: "expired" },
      requests: ["a"],
    },
  ];

  it.each(table)("$name", async (c) => {
    await check(c);
  });

  it.each([
    ["a retry", TRANSIENT],
    ["a rate-limit backoff", RATE_LIMIT],
  ] as const)(
    "spreads %s with jitter, so that batches failing together do not come back in step",
    async (_, answer) => {
      const delays: number[] = [];
      for (let i = 0; i < 10; i++)
        delays.push((await run(rows("a"), [answer])).retryIn.a);
      // Ten draws from [½, 1] of the delay: without jitter they would lie within the few ms the runs take.
      expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(50);
    },
  );

  it("keeps Meta's error on the rows, and its trace id", async () => {
    const out = await run(rows("a"), [RATE_LIMIT]);
    expect(out.errors.a).toEqual({
      code: 613,
      subcode: null,
      message: "Meta says 613",
      fbtraceId: "ErrTrace",
    });
  });

  it("hands the pause Meta's failure, for the merchant's notice", async () => {
    const out = await run(rows("a"), [TOKEN_EXPIRED]);
    const pause = out.steps.find((s) => s.kind === "pause");
    expect(pause?.kind === "pause" && pause.failure).toMatchObject({
      code: 190,
      subcode: 463,
      info: { kind: "token" },
    });
  });
});

describe("bisection: a batch Meta refuses for some of its events", () => {
  const table: Case[] = [
    {
      name: "halves until the bad event stands alone; the others go",
      rows: rows("abcdefgh"),
      meta: refuse("e"),
      fates: {
        a: "sent",
        b: "sent",
        c: "sent",
        d: "sent",
        e: "failed",
        f: "sent",
        g: "sent",
        h: "sent",
      },
      requests: ["abcdefgh", "abcd", "efgh", "ef", "e", "f", "gh"],
    },
    {
      name: "an odd batch with two bad events: the first half is the larger",
      rows: rows("abcde"),
      meta: refuse("b", "e"),
      fates: { a: "sent", b: "failed", c: "sent", d: "sent", e: "failed" },
      requests: ["abcde", "abc", "ab", "a", "b", "c", "de", "d", "e"],
    },
    {
      name: "every event bad: each fails on its own",
      rows: rows("abc"),
      meta: refuse("a", "b", "c"),
      fates: { a: "failed", b: "failed", c: "failed" },
      requests: ["abc", "ab", "a", "b", "c"],
    },
    {
      name: "an event Meta finds too old is isolated and expires",
      rows: rows("abcd"),
      meta: (ids) => (ids.includes("c") ? TOO_OLD : "ok"),
      fates: { a: "sent", b: "sent", c: "expired", d: "sent" },
      requests: ["abcd", "ab", "cd", "c", "d"],
    },
    {
      name: "a half that meets a transient error is retried; the other half still goes",
      rows: rows("abcd"),
      meta: [INVALID, TRANSIENT, INVALID, "ok", INVALID],
      fates: { a: "retry?", b: "retry?", c: "sent", d: "failed" },
      retryIn: [500, 1_000],
      requests: ["abcd", "ab", "cd", "c", "d"],
    },
    {
      name: "a half that meets a pause: the shop pauses and what is left goes back unsent",
      rows: rows("abcdef"),
      meta: [INVALID, INVALID, "ok", TOKEN_EXPIRED],
      fates: {
        a: "sent",
        b: "sent",
        c: "unsent",
        d: "unsent",
        e: "unsent",
        f: "unsent",
      },
      retryIn: [0, 0],
      paused: "token",
      requests: ["abcdef", "abc", "ab", "c"],
    },
    {
      name: "a half that meets a rate limit: it waits counted, the halves not sent yet wait uncounted",
      rows: rows("abcd"),
      meta: [INVALID, RATE_LIMIT],
      fates: { a: "retry", b: "retry", c: "unsent", d: "unsent" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
      requests: ["abcd", "ab"],
    },
    {
      name: "a half that goes through ends the rate-limit streak before the next half's rate limit",
      rows: rows("abcd"),
      meta: [INVALID, "ok", RATE_LIMIT],
      rateLimits: 2,
      fates: { a: "sent", b: "sent", c: "retry", d: "retry" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
      requests: ["abcd", "ab", "cd"],
    },
  ];

  it.each(table)("$name", async (c) => {
    await check(c);
  });

  it("records Meta's refusal on the bad event", async () => {
    const out = await run(rows("ab"), refuse("b"));
    expect(out.errors.b).toMatchObject({ code: 100, subcode: 2804050 });
  });
});

describe("requests of at most 4 MB (decisions 44)", () => {
  // 1.2 MB each: three fit in one request, a fourth would not.
  const big = (ids: string) => rows(ids, { bytes: 1_200_000 });
  const table: Case[] = [
    {
      name: "a batch too large for one request goes in parts",
      rows: big("abcde"),
      meta: ["ok", "ok"],
      fates: { a: "sent", b: "sent", c: "sent", d: "sent", e: "sent" },
      requests: ["abc", "de"],
    },
    {
      name: "a transient error on one part: the next part still goes",
      rows: big("abcde"),
      meta: [TRANSIENT, "ok"],
      fates: { a: "retry?", b: "retry?", c: "retry?", d: "sent", e: "sent" },
      retryIn: [500, 1_000],
      requests: ["abc", "de"],
    },
    {
      name: "a pause on one part: the parts not sent go back unsent",
      rows: big("abcde"),
      meta: [TOKEN_EXPIRED],
      fates: {
        a: "unsent",
        b: "unsent",
        c: "unsent",
        d: "unsent",
        e: "unsent",
      },
      retryIn: [0, 0],
      paused: "token",
      requests: ["abc"],
    },
    {
      name: "a rate limit on one part: the parts not sent wait out the backoff, uncounted",
      rows: big("abcde"),
      meta: [RATE_LIMIT],
      fates: { a: "retry", b: "retry", c: "retry", d: "unsent", e: "unsent" },
      retryIn: [30 * S, 60 * S],
      backoff: [30 * S, 60 * S],
      rateLimitsAfter: 1,
      requests: ["abc"],
    },
    {
      name: "an invalid event in a part is isolated within that part",
      rows: big("abcde"),
      meta: refuse("e"),
      fates: { a: "sent", b: "sent", c: "sent", d: "sent", e: "failed" },
      requests: ["abc", "de", "d", "e"],
    },
  ];

  it.each(table)("$name", async (c) => {
    await check(c);
  });
});

describe("rows past Meta's window", () => {
  const table: Case[] = [
    {
      name: "a website event older than 7 days less an hour expires unsent; the others go",
      rows: [row("a"), row("b", { age: 7 * DAY - 30 * 60_000 }), row("c")],
      meta: ["ok"],
      fates: { a: "sent", b: "expired", c: "sent" },
      requests: ["ac"],
    },
    {
      name: "a store event has 62 days",
      rows: [
        row("a", { age: 30 * DAY, actionSource: "physical_store" }),
        row("b", { age: 62 * DAY, actionSource: "physical_store" }),
      ],
      meta: ["ok"],
      fates: { a: "sent", b: "expired" },
      requests: ["a"],
    },
    {
      name: "a batch of stale rows makes no request",
      rows: rows("ab", { age: 8 * DAY }),
      meta: [],
      fates: { a: "expired", b: "expired" },
      requests: [],
    },
  ];

  it.each(table)("$name", async (c) => {
    await check(c);
  });

  it("says why", async () => {
    const out = await run(rows("a", { age: 8 * DAY }), []);
    expect(out.errors.a).toEqual({
      code: null,
      subcode: null,
      message: STALE_MESSAGE,
      fbtraceId: null,
    });
  });
});

describe("the lease between the requests of one claim (decisions 43)", () => {
  const table: Case[] = [
    {
      name: "a row another dispatcher reclaimed is left out of the next request, and left alone",
      rows: rows("abcd"),
      meta: refuse("d"),
      lose: { 1: ["a"] },
      fates: { a: "left", b: "sent", c: "sent", d: "failed" },
      requests: ["abcd", "b", "cd", "c", "d"],
    },
    {
      name: "a half of which no row is held any more makes no request",
      rows: rows("abcd"),
      meta: refuse("d"),
      lose: { 1: ["a", "b"] },
      fates: { a: "left", b: "left", c: "sent", d: "failed" },
      requests: ["abcd", "cd", "c", "d"],
    },
    {
      name: "a part of which no row is held any more makes no request",
      rows: rows("abcde", { bytes: 1_200_000 }),
      meta: ["ok"],
      lose: { 1: ["d", "e"] },
      fates: { a: "sent", b: "sent", c: "sent", d: "left", e: "left" },
      requests: ["abc"],
    },
  ];

  it.each(table)("$name", async (c) => {
    await check(c);
  });

  it("sends a claim's first request at once, and renews the lease of each later request's rows by leaseMs first", async () => {
    const out = await run(rows("abcd"), refuse("d"));
    expect(out.renewals.map((r) => r.ids.join(""))).toEqual([
      "ab",
      "cd",
      "c",
      "d",
    ]);
    for (const r of out.renewals)
      expectWithin(
        out,
        r.inMs,
        [POLICY.leaseMs - (out.finished - out.started), POLICY.leaseMs],
        "lease renewed until",
      );
    const single = await run(rows("ab"), ["ok"]);
    expect(single.renewals).toEqual([]);
  });
});
