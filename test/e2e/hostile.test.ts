import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refundCreated } from "../fixtures/orderLife";
import { makeOrder } from "../fixtures/order";
import {
  SAMPLE_APP_SUBSCRIPTION,
  SAMPLE_CUSTOMERS_REDACT,
  SAMPLE_DATA_REQUEST,
  SAMPLE_ORDER_JSON,
  SAMPLE_SCOPES_UPDATE,
  SAMPLE_SHOP,
  SAMPLE_SHOP_REDACT,
} from "../fixtures/shopifyWebhooks";
import { API_SECRET, databaseKinds, ROOT } from "../support/app";
import { consent, eventBody, newCheckout } from "../support/checkout";
import {
  DEEP,
  fieldPaths,
  getAt,
  HOSTILE_TEXTS,
  hostileIngestBodies,
  pathSpellings,
  prng,
  setAt,
  toJson,
  withInvalidUtf8,
  wrongValue,
  type Rng,
} from "../support/hostile";
import {
  memoryOf,
  rawExchange,
  rawStatus,
  request,
  upload,
} from "../support/rawHttp";
import {
  connect,
  connectedShop,
  orderWebhook,
  TOKEN,
  type Scenario,
} from "../support/scenario";
import { seedSession } from "../support/shopifyAdmin";
import { signBody } from "../support/shopifyWebhook";

// The generated hostile-input suite: at least 1,000 inputs for each public endpoint (every webhook topic of
// shopify.app.toml, POST /ingest, the login form), from one seeded PRNG, against the production build on each
// database. Never a 5xx, never a crash (the same process answers /healthz throughout), memory bounded, no stack
// trace in the log, and every authentic webhook (correct HMAC, Shopify's headers) recorded: a WebhookReceipt, or
// for the privacy topics the documented outcome. Requests go 16 at a time on kept-alive connections; the heavy
// ones (bodies past a cap, huge arrays) one after the other, so that they never meet the body budget (decisions 26).

const PER_ENDPOINT = 1_000;
const SEED = 0x4057_11e5;
const CONCURRENCY = 16;

type Json = Record<string, unknown>;

interface Authentic {
  webhookId: string;
  topic: string;
}

interface Case {
  name: string;
  endpoint: string;
  /** Statuses this input may get (never a 5xx). null: the connection may end without an answer. */
  allowed: (number | null)[];
  /** One HTTP request on a kept-alive connection. */
  http?: {
    method: string;
    path: string;
    headers: Record<string, string | string[]>;
    body?: Buffer;
  };
  /** A body streamed on a connection of its own (past a cap). */
  upload?: {
    path: string;
    size: number;
    chunked: boolean;
    headers: Record<string, string>;
  };
  /** Raw bytes on a connection of their own. */
  raw?: Buffer | string;
  /** Correct HMAC and every header Shopify sends: the app must record it. */
  authentic?: Authentic;
  /** Sent one after the other, after the concurrent ones. */
  heavy?: boolean;
}

interface Outcome {
  c: Case;
  status: number | null;
  text: string;
  error?: string;
}

const TOML_TOPICS = (() => {
  const config = parseToml(
    readFileSync(path.join(ROOT, "shopify.app.toml"), "utf8"),
  ) as {
    webhooks: {
      subscriptions: { topics?: string[]; compliance_topics?: string[] }[];
    };
  };
  return config.webhooks.subscriptions
    .flatMap((s) => [...(s.topics ?? []), ...(s.compliance_topics ?? [])])
    .sort();
})();

const PRIVACY_TOPICS = new Set([
  "customers/data_request",
  "customers/redact",
  "shop/redact",
]);
/** What the privacy topics answer when authentic (README, Shopify's privacy webhooks). */
const PRIVACY_OUTCOMES = new Set([
  "redacted",
  "nothing_held",
  "rejected",
  "recorded",
  "duplicate_webhook",
]);

const MB = 1024 * 1024;
/** The caps of the production server (app/http/body.server.ts, decisions 25). */
const CAPS = {
  orderWebhook: 25 * MB,
  webhook: 4 * MB,
  ingest: 64 * 1024,
  other: 256 * 1024,
};

/** Header values a Node client can send (no CR, LF or NUL) that are still wrong. */
const ODD_HEADER_VALUES = [
  "",
  " ",
  "a".repeat(8_000),
  "évil.myshopify.com",
  "x, y",
  "../../etc/passwd",
  "\t",
  "null",
  "0",
  "%00",
  "\u00e9\u00ff",
];

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "multipart/form-data",
  "application/xml",
  "application/octet-stream",
  "",
  "*/*",
  "application/json, text/plain",
];

/** Whatever Node's parser or a route answers to them, or nothing (the connection closed): never a 5xx. */
const RAW_ALLOWED = [
  200,
  204,
  302,
  400,
  401,
  403,
  404,
  405,
  408,
  413,
  422,
  431,
  null,
];

const RAW_JUNK = (path: string, host: string): [string, Buffer | string][] => [
  [
    "conflicting Content-Length",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ],
  [
    "Content-Length and chunked",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ],
  [
    "bad chunk size",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  ],
  [
    "chunk longer than said",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`,
  ],
  [
    "NUL in a header",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Shopify-Topic: orders\u0000paid\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "header without colon",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Shopify-Topic orders/paid\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "folded header",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Shopify-Topic: orders/\r\n paid\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "20 kB header",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"a".repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "space in the path",
    `POST ${path} x HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "HTTP/1.0 without Host",
    `POST ${path} HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  ["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
  [
    "truncated body, then closed",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\n\r\n{"id":`,
  ],
  [
    "truncated headers, then closed",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Le`,
  ],
  [
    "three pipelined requests",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n{}`.repeat(
      3,
    ),
  ],
  [
    "chunk extension garbage",
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n2;${"x".repeat(5000)}\r\n{}\r\n0\r\n\r\n`,
  ],
  [
    "absolute-form target",
    `POST http://attacker.example${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "lower-case method",
    `post ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  [
    "unknown method",
    `FROB ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n{}`,
  ],
  ["CONNECT", `CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
  [
    "invalid UTF-8 in the path",
    Buffer.concat([
      Buffer.from(
        `POST ${path}\xff\xfe HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\n`,
        "latin1",
      ),
      Buffer.from("{}"),
    ]),
  ],
];

describe.each(databaseKinds())("hostile input on %s", (kind) => {
  let s: Scenario;
  /**
   * Installed shops: A gets the orders, pixel events and scopes; B app/uninstalled; C shop/redact; D
   * customers/redact; E customers/data_request (each redaction reads every report of its shop).
   */
  let shops: Shops;
  let ingestKey: string;
  let pid: number;
  const outcomes: Outcome[] = [];
  let memory: {
    before: { rssMB: number; peakMB: number };
    after: { rssMB: number; peakMB: number };
  };

  beforeAll(async () => {
    s = await connectedShop(kind, {
      env: {
        TRUST_PROXY_HOPS: "1",
        // The pixel endpoint's rate limits would answer most of the suite 429 before validating it.
        INGEST_CLIENT_RATE_PER_SEC: "1000000",
        INGEST_CLIENT_BURST: "1000000",
        INGEST_SHOP_RATE_PER_SEC: "1000000",
        INGEST_SHOP_BURST: "1000000",
        HTTP_REQUEST_TIMEOUT_MS: "5000",
      },
    });
    const other = (name: string) =>
      `${name}-${kind.slice(0, 2)}-${randomUUID().slice(0, 8)}.myshopify.com`;
    shops = {
      a: s.shop,
      b: other("uninstalled"),
      c: other("redacted"),
      d: other("redact"),
      e: other("request"),
    };
    for (const domain of [shops.b, shops.c, shops.d, shops.e]) {
      await seedSession(s.app.db, domain);
      await connect(s.app, domain, TOKEN);
    }
    // The customers the privacy webhooks name have orders there: the first redaction deletes something.
    for (const [i, shop] of [
      shops.d,
      shops.d,
      shops.d,
      shops.e,
      shops.e,
      shops.e,
    ].entries()) {
      const id = 7_940_000_000_000 + i;
      const order = makeOrder({
        id,
        admin_graphql_api_id: `gid://shopify/Order/${id}`,
        email: "ines.moreau@example.net",
        checkout_token: `privacy-${i}`,
      });
      expect(
        (await orderWebhook({ app: s.app, shop }, order)).body.outcome,
      ).toBe("accepted");
    }
    ingestKey = (
      await s.app.db.shop.findUniqueOrThrow({ where: { domain: shops.a } })
    ).ingestKey;
    for (const [i, clientId] of SEEN_BROWSERS.entries()) {
      const landed = eventBody(
        shops.a,
        ingestKey,
        { ...newCheckout({ region: "US-NY" }), clientId },
        "PageView",
        consent(true),
      );
      const res = await fetch(`${s.app.url}/ingest`, {
        method: "POST",
        body: JSON.stringify(landed),
        headers: { "X-Forwarded-For": `203.0.113.${1 + (i % 250)}` },
      });
      expect(await res.json()).toMatchObject({ outcome: "accepted" });
    }
    pid = s.app.pid!;
  });
  afterAll(async () => {
    await s?.close();
  });

  it(
    "covers every topic of shopify.app.toml, POST /ingest and the login form with 1,000+ inputs each",
    { timeout: 300_000 },
    async () => {
      const cases = generate(s.app.url, shops, ingestKey);
      const perEndpoint = new Map<string, number>();
      for (const c of cases)
        perEndpoint.set(c.endpoint, (perEndpoint.get(c.endpoint) ?? 0) + 1);
      expect(
        [...perEndpoint.keys()].filter((e) => e.includes("/")).sort(),
      ).toEqual(TOML_TOPICS);
      for (const [endpoint, n] of perEndpoint)
        expect(n, endpoint).toBeGreaterThanOrEqual(PER_ENDPOINT);

      // Warm the server up before the memory baseline: every route once.
      await runAll(
        cases.filter((_, i) => i % 500 === 0),
        [],
      );
      const before = memoryOf(pid);
      const agent = new http.Agent({
        keepAlive: true,
        maxSockets: CONCURRENCY,
      });
      const light = cases.filter((c) => !c.heavy);
      for (let i = 0; i < light.length; i += 2_000) {
        await runAll(light.slice(i, i + 2_000), outcomes, agent);
        expect(
          (await request(s.app.url, { method: "GET", path: "/healthz" }))
            .status,
        ).toBe(200);
      }
      for (const c of cases.filter((c) => c.heavy))
        outcomes.push(await runOne(c, agent));
      agent.destroy();
      memory = { before, after: memoryOf(pid) };
      expect(outcomes.length).toBe(cases.length);
    },
  );

  it("never answered 5xx, and only what each input may get", () => {
    const wrong = outcomes.filter(
      (o) =>
        !o.c.allowed.includes(o.status) ||
        (o.status !== null && o.status >= 500),
    );
    expect(
      wrong
        .map(
          (o) =>
            `${o.c.endpoint} ${o.c.name}: ${o.status ?? o.error} ${o.text.slice(0, 160)}`,
        )
        .slice(0, 40),
      summary(wrong),
    ).toEqual([]);
  });

  it("stayed up in the same process, with bounded memory, and logged no stack trace", async () => {
    expect(s.app.pid).toBe(pid);
    expect(
      (await request(s.app.url, { method: "GET", path: "/healthz" })).status,
    ).toBe(200);
    // What it can grow by: its heap's limit (256 MB), V8's young generation (32 MB), the body budget (32 MB,
    // decisions 26) and what the C allocator keeps of freed body buffers until V8 collects their wrappers (~130 MB
    // of brk and mmap regions at the end of this suite, read from /proc/PID/smaps; 160 allowed). Here: ~290-310 MB,
    // of which ~250 MB is V8's heap at its limit. One 300 MB body used to take it past 1 GB, or down.
    const NATIVE = 160;
    expect(
      memory.after.peakMB - memory.before.rssMB,
      JSON.stringify(memory),
    ).toBeLessThan(256 + 32 + 32 + NATIVE);
    expect(
      memory.after.rssMB - memory.before.rssMB,
      JSON.stringify(memory),
    ).toBeLessThan(256 + 32 + NATIVE);
    const first = s.app.logs.findIndex((l) => /^\s+at /.test(l));
    expect(
      first === -1 ? [] : s.app.logs.slice(Math.max(0, first - 8), first + 4),
    ).toEqual([]);
    expect(s.app.logs.join("\n")).not.toContain(API_SECRET);
  });

  it("recorded every authentic webhook: a receipt, or the privacy topic's documented outcome", async () => {
    const authentic = outcomes.filter((o) => o.c.authentic && o.status === 200);
    expect(authentic.length).toBeGreaterThan(3_000);
    const ids = authentic.map((o) => o.c.authentic!.webhookId);
    const receipts = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await s.app.db.webhookReceipt.findMany({
        where: { webhookId: { in: ids.slice(i, i + 500) } },
        select: { webhookId: true },
      });
      for (const r of rows) receipts.add(r.webhookId);
    }
    const missing: string[] = [];
    for (const o of authentic) {
      const { webhookId, topic } = o.c.authentic!;
      if (receipts.has(webhookId)) continue;
      if (PRIVACY_TOPICS.has(topic)) {
        const answer = JSON.parse(o.text) as {
          outcome?: string;
          requestId?: string;
        };
        if (PRIVACY_OUTCOMES.has(answer.outcome ?? "")) {
          if (answer.outcome !== "recorded") continue;
          const row = await s.app.db.dataRequest.findFirst({
            where: { requestId: answer.requestId },
          });
          if (row) continue;
        }
      }
      missing.push(`${topic} ${o.c.name}: ${o.text.slice(0, 120)}`);
    }
    expect(
      missing.slice(0, 40),
      `${missing.length} authentic webhooks not recorded`,
    ).toEqual([]);
    // Not authentic, not recorded: nothing refused wrote a receipt.
    const refused = outcomes.filter(
      (o) =>
        !o.c.authentic &&
        (o.status === 400 || o.status === 401) &&
        o.c.http?.headers["X-Shopify-Webhook-Id"],
    );
    const refusedIds = refused.map((o) =>
      String(o.c.http!.headers["X-Shopify-Webhook-Id"]),
    );
    expect(
      await s.app.db.webhookReceipt.count({
        where: { webhookId: { in: refusedIds.slice(0, 30_000) } },
      }),
    ).toBe(0);
  });

  it("stored every pixel event it accepted", async () => {
    const accepted = outcomes.filter(
      (o) =>
        o.c.endpoint === "ingest" &&
        o.status === 202 &&
        JSON.parse(o.text).outcome === "accepted",
    );
    expect(accepted.length).toBeGreaterThan(200);
    const eventIds = accepted.map(
      (o) =>
        (
          JSON.parse(o.c.http!.body!.toString("utf8")) as {
            event: { event_id: string };
          }
        ).event.event_id,
    );
    const stored = await s.app.db.outboxEvent.findMany({
      where: { eventId: { in: eventIds } },
      select: { eventId: true },
    });
    const found = new Set(stored.map((r) => r.eventId));
    expect(eventIds.filter((id) => !found.has(id))).toEqual([]);
  });

  it("answers deliveries of one privacy webhook that arrive at once 200, each of them", async () => {
    // Shopify retries what it thinks timed out, so the same delivery can arrive twice at once.
    for (const [topic, body] of [
      ["shop/redact", SAMPLE_SHOP_REDACT],
      ["customers/redact", SAMPLE_CUSTOMERS_REDACT],
    ] as const) {
      const domain = `twice-${kind.slice(0, 2)}-${randomUUID().slice(0, 8)}.myshopify.com`;
      await seedSession(s.app.db, domain);
      await connect(s.app, domain, TOKEN);
      const raw = JSON.stringify({ ...body, shop_domain: domain });
      const headers = shopifyHeaders(topic, domain, raw);
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          request(s.app.url, {
            path: `/webhooks/${topic}`,
            headers,
            body: raw,
          }),
        ),
      );
      expect(
        answers.map((a) => a.status),
        topic,
      ).toEqual(Array(6).fill(200));
    }
  });

  // -------------------------------------------------------------------------------------------------- sending

  async function runAll(cases: Case[], into: Outcome[], agent?: http.Agent) {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length)
          into.push(await runOne(cases[next++], agent));
      }),
    );
  }

  async function runOne(c: Case, agent?: http.Agent): Promise<Outcome> {
    try {
      if (c.raw !== undefined) {
        const answer = await rawExchange(
          s.app.url,
          c.raw,
          1_500,
          c.name.includes("then closed"),
        );
        return { c, status: rawStatus(answer), text: answer.slice(0, 300) };
      }
      if (c.upload) {
        const res = await upload(s.app.url, {
          ...c.upload,
          declare: c.upload.chunked ? null : c.upload.size,
          chunkSize: 256 * 1024,
        });
        return { c, status: res.status, text: "", error: res.error };
      }
      const res = await request(s.app.url, c.http!, agent ?? false, 20_000);
      return { c, status: res.status, text: res.text };
    } catch (err) {
      return { c, status: null, text: "", error: (err as Error).message };
    }
  }
});

/** How many inputs of each endpoint and kind got which answer. */
function summary(list: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of list) {
    const key = `${o.c.endpoint} ${o.c.name.split(" ")[0]} -> ${o.status ?? o.error}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return `${list.length} unexpected answers:\n${[...counts].map(([k, n]) => `  ${n} × ${k}`).join("\n")}`;
}

// ---------------------------------------------------------------------------------------------- generation

interface Shops {
  a: string;
  b: string;
  c: string;
  d: string;
  e: string;
}

let webhookSeq = 0;
let orderSeq = 0;

/** Every case of the suite, in a fixed order from SEED. */
function generate(base: string, shops: Shops, ingestKey: string): Case[] {
  const rng = prng(SEED);
  const host = new URL(base).host;
  return [
    ...TOML_TOPICS.flatMap((topic) => webhookCases(topic, rng, shops, host)),
    ...ingestCases(rng, shops.a, ingestKey, host),
    ...loginCases(rng, host),
  ];
}

type TextField = string | [string, (text: string) => unknown];

/** Puts a hostile text into a field (creating the objects on its path); returns the field's path. */
function putText(p: Json, field: TextField, text: string): string {
  const [path, wrap] =
    typeof field === "string" ? [field, (t: string) => t] : field;
  const keys = path.split(".");
  let o = p as Record<string, unknown>;
  for (const k of keys.slice(0, -1))
    o = (o[k] as Record<string, unknown> | null) ??= {};
  o[keys.at(-1)!] = wrap(text);
  return path;
}

interface Topic {
  shop: string;
  /** A fresh payload in the documented shape, with its own ids. */
  payload(rng: Rng): Json;
  /** Fields a shopper (or a merchant) types, where hostile texts go: a path, or a path and the value around the text. */
  texts: TextField[];
  /** A payload with a huge array, within the topic's cap. */
  huge(rng: Rng): Json;
}

function topicOf(topic: string, shops: Shops): Topic {
  const order = (rng: Rng): Json => {
    const id = 7_950_000_000_000 + ++orderSeq;
    // Shopify's test notification (cancelled, test, ids past 2^53) or a realistic paid order, in turn.
    const o =
      rng.next() < 0.5
        ? (JSON.parse(SAMPLE_ORDER_JSON) as Json)
        : (makeOrder() as unknown as Json);
    Object.assign(o, {
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      name: `#H${orderSeq}`,
    });
    if (rng.next() < 0.5)
      Object.assign(o, {
        test: false,
        cancelled_at: null,
        cancel_reason: null,
        checkout_token: `ck${id}`,
        created_at: new Date().toISOString(),
        processed_at: new Date().toISOString(),
      });
    return o;
  };
  switch (topic) {
    case "orders/paid":
    case "orders/create":
    case "orders/updated":
    case "orders/cancelled":
      return {
        shop: shops.a,
        payload: order,
        texts: [
          "email",
          "contact_email",
          "phone",
          "note",
          ["landing_site", (t) => `/products/tee?fbclid=${t}`],
          "landing_site",
          "referring_site",
          [
            "note_attributes",
            (t) => [
              { name: "_fbp", value: t },
              { name: t, value: "gift" },
            ],
          ],
          [
            "client_details",
            (t) => ({
              browser_ip: "203.0.113.7",
              user_agent: t,
              accept_language: t,
            }),
          ],
          "browser_ip",
          [
            "discount_codes",
            (t) => [{ code: t, amount: "5.00", type: "fixed_amount" }],
          ],
          "customer.email",
          "customer.phone",
          "customer.first_name",
          "customer.last_name",
          "billing_address.first_name",
          "billing_address.last_name",
          "billing_address.city",
          "billing_address.zip",
          "billing_address.phone",
          "billing_address.province_code",
          "billing_address.country_code",
          "shipping_address.address1",
          "shipping_address.city",
          "shipping_address.zip",
          ["line_items.0.properties", (t) => [{ name: "Engraving", value: t }]],
          "line_items.0.title",
        ],
        huge: (rng) => {
          const o = order(rng);
          const line = (o.line_items as Json[])[0];
          // Shopify's carts stop far below this.
          o.line_items = Array.from(
            { length: 2_000 + rng.int(2_000) },
            (_, i) => ({
              ...line,
              id: 9e12 + i,
              variant_id: 4e13 + i,
              product_id: 7e12 + (i % 700),
            }),
          );
          o.note_attributes = Array.from({ length: 2_000 }, (_, i) => ({
            name: `k${i}`,
            value: "v",
          }));
          return o;
        },
      };
    case "refunds/create":
      // A refund names its order, not its shop; its note and line items are the merchant's text.
      return {
        shop: shops.a,
        payload: () =>
          refundCreated(
            7_950_000_000_000 + ++orderSeq,
            8_100_000 + ++orderSeq,
            "12.50",
          ) as unknown as Json,
        texts: [
          "note",
          "refund_line_items.0.line_item.title",
          [
            "transactions",
            (t) => [
              { kind: "refund", status: "success", amount: t, currency: "USD" },
            ],
          ],
          "transactions.0.currency",
        ],
        huge: () => {
          const r = refundCreated(
            7_950_000_000_000 + ++orderSeq,
            8_100_000 + ++orderSeq,
            "1.00",
          );
          return {
            ...r,
            refund_line_items: Array.from(
              { length: 5_000 },
              () => r.refund_line_items[0],
            ),
          } as unknown as Json;
        },
      };
    case "app/uninstalled":
      return {
        shop: shops.b,
        payload: () => ({
          ...structuredClone(SAMPLE_SHOP),
          domain: shops.b,
          myshopify_domain: shops.b,
        }),
        texts: ["name", "email", "shop_owner", "address1", "city"],
        huge: () => ({
          ...structuredClone(SAMPLE_SHOP),
          enabled_presentment_currencies: Array.from(
            { length: 200_000 },
            (_, i) => `C${i % 1000}`,
          ),
        }),
      };
    case "shop/update":
      // The shop object again; its `domain` is the primary domain the app keeps (decisions 34).
      return {
        shop: shops.a,
        payload: () => ({
          ...structuredClone(SAMPLE_SHOP),
          domain: "shop.hostile-test.example",
          myshopify_domain: shops.a,
        }),
        texts: ["domain", "name", "email", "city"],
        huge: () => ({
          ...structuredClone(SAMPLE_SHOP),
          myshopify_domain: shops.a,
          enabled_presentment_currencies: Array.from(
            { length: 200_000 },
            (_, i) => `C${i % 1000}`,
          ),
        }),
      };
    case "app/scopes_update":
      return {
        shop: shops.a,
        payload: () => structuredClone(SAMPLE_SCOPES_UPDATE),
        texts: [],
        huge: () => ({
          ...structuredClone(SAMPLE_SCOPES_UPDATE),
          current: Array.from(
            { length: 200_000 },
            (_, i) => `read_scope_${i % 50}`,
          ),
        }),
      };
    case "app_subscriptions/update": {
      // Each delivery a subscription of its own, in any of Shopify's statuses; its name is the merchant's plan.
      const subscription = (rng: Rng): Json => {
        const s = structuredClone(SAMPLE_APP_SUBSCRIPTION);
        Object.assign(s.app_subscription, {
          admin_graphql_api_id: `gid://shopify/AppSubscription/${5_000_000 + ++webhookSeq}`,
          status: ["ACTIVE", "CANCELLED", "DECLINED", "FROZEN", "EXPIRED"][
            rng.int(5)
          ],
          updated_at: new Date(
            Date.UTC(2026, 10, 2) + webhookSeq,
          ).toISOString(),
        });
        return s as unknown as Json;
      };
      return {
        shop: shops.a,
        payload: subscription,
        texts: [
          "app_subscription.name",
          "app_subscription.status",
          "app_subscription.updated_at",
          "app_subscription.admin_graphql_api_id",
          "app_subscription.admin_graphql_api_shop_id",
        ],
        huge: (rng) => ({
          ...(subscription(rng) as Record<string, Json>),
          // ~3.3 MB, within the 4 MB cap of the topic.
          line_items: Array.from({ length: 60_000 }, (_, i) => ({
            id: `gid://shopify/AppSubscriptionLineItem/${i}`,
          })),
        }),
      };
    }
    case "customers/data_request": {
      const request = (): Json => ({
        ...structuredClone(SAMPLE_DATA_REQUEST),
        shop_domain: shops.e,
        data_request: { id: 900_000 + ++webhookSeq },
      });
      return {
        shop: shops.e,
        payload: request,
        texts: ["customer.email", "customer.phone"],
        // Past SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
        huge: () => ({
          ...request(),
          orders_requested: Array.from(
            { length: 70_000 },
            (_, i) => 3_000_000 + i,
          ),
        }),
      };
    }
    case "customers/redact":
      return {
        shop: shops.d,
        payload: () => ({
          ...structuredClone(SAMPLE_CUSTOMERS_REDACT),
          shop_domain: shops.d,
        }),
        texts: ["customer.email", "customer.phone"],
        // Tens of thousands of orders: a customer with a long history.
        huge: () => ({
          ...structuredClone(SAMPLE_CUSTOMERS_REDACT),
          shop_domain: shops.d,
          orders_to_redact: Array.from(
            { length: 70_000 },
            (_, i) => 3_000_000 + i,
          ),
        }),
      };
    case "shop/redact":
      return {
        shop: shops.c,
        payload: () => ({
          ...structuredClone(SAMPLE_SHOP_REDACT),
          shop_domain: shops.c,
        }),
        texts: [],
        huge: () => ({
          ...structuredClone(SAMPLE_SHOP_REDACT),
          shop_domain: shops.c,
          extra: Array.from({ length: 300_000 }, (_, i) => i),
        }),
      };
    default:
      throw new Error(`no hostile inputs for the topic ${topic}: add it here`);
  }
}

function shopifyHeaders(
  topic: string,
  shop: string,
  body: Buffer | string,
  webhookId = `hostile-${++webhookSeq}`,
): Record<string, string> {
  return {
    "Content-Type": "application/json",
    "User-Agent": "Shopify-Captain-Hook",
    "X-Shopify-Topic": topic,
    "X-Shopify-Hmac-Sha256": signBody(body, API_SECRET),
    "X-Shopify-Shop-Domain": shop,
    "X-Shopify-API-Version": "2026-10",
    "X-Shopify-Webhook-Id": webhookId,
    "X-Shopify-Event-Id": randomUUID(),
    "X-Shopify-Triggered-At": new Date().toISOString(),
  };
}

function webhookCases(
  topic: string,
  rng: Rng,
  shops: Shops,
  host: string,
): Case[] {
  const t = topicOf(topic, shops);
  const route = `/webhooks/${topic}`;
  // Refunds carry line items as orders do, under the same cap (app/http/routes.server.ts).
  const cap =
    topic.startsWith("orders/") || topic === "refunds/create"
      ? CAPS.orderWebhook
      : CAPS.webhook;
  const out: Case[] = [];
  const signed = (
    name: string,
    body: Buffer | string,
    opts: {
      path?: string;
      headers?: Record<string, string>;
      allowed?: (number | null)[];
      heavy?: boolean;
    } = {},
  ): Case => {
    const headers = { ...shopifyHeaders(topic, t.shop, body), ...opts.headers };
    return {
      name,
      endpoint: topic,
      http: {
        method: "POST",
        path: opts.path ?? route,
        headers,
        body: Buffer.isBuffer(body) ? body : Buffer.from(body),
      },
      authentic: { webhookId: headers["X-Shopify-Webhook-Id"], topic },
      allowed: opts.allowed ?? [200],
      heavy: opts.heavy,
    };
  };
  const add = (n: number, make: (i: number) => Case) => {
    for (let i = 0; i < n; i++) out.push(make(i));
  };

  // Hostile texts in every field a person types (or, for topics without one, more wrong types below).
  // A redaction names its customer by these texts: unique ones, so that it never matches another case's order.
  const unique = (text: string) =>
    topic === "customers/redact" ? `${text} r${++webhookSeq}` : text;
  add(t.texts.length ? 300 : 0, (i) => {
    const p = t.payload(rng);
    const text = unique(HOSTILE_TEXTS[i % HOSTILE_TEXTS.length]);
    const field = putText(p, rng.pick(t.texts), text);
    return signed(
      `text ${field} ${JSON.stringify(text.slice(0, 16))}`,
      toJson(p, rng),
    );
  });
  // Wrong types, anywhere in the documented shape (deep nesting among them).
  add(t.texts.length ? 300 : 600, () => {
    const p = t.payload(rng);
    const paths = fieldPaths(p);
    const steps: string[] = [];
    for (let m = 1 + rng.int(3); m > 0; m--) {
      const at = rng.pick(paths);
      const parent = getAt(p, at.slice(0, -1));
      if (parent === null || typeof parent !== "object") continue; // an earlier step replaced it
      const value = wrongValue(rng, getAt(p, at));
      setAt(p, at, value);
      steps.push(
        `${at.join(".")}=${value === DEEP ? "deep" : JSON.stringify(value)?.slice(0, 16)}`,
      );
    }
    return signed(`types ${steps.join(" ")}`, toJson(p, rng));
  });
  // Not JSON, not an object, truncated, invalid UTF-8 (all signed: Shopify never sends them, the app must cope).
  const valid = () => toJson(t.payload(rng), rng);
  const notJson = [
    "",
    "null",
    "[]",
    '"order"',
    "1e999",
    "true",
    "{",
    "}",
    "\ufeff{}",
    "<xml/>",
    "shop=x",
    "NaN",
    '{"id":1}{"id":2}',
  ];
  add(notJson.length, (i) =>
    signed(`body ${JSON.stringify(notJson[i])}`, notJson[i]),
  );
  add(40, () => {
    const text = valid();
    return signed("truncated JSON", text.slice(0, rng.int(text.length)));
  });
  add(40, () => signed("invalid UTF-8", withInvalidUtf8(valid(), rng)));
  add(20, () =>
    signed("deeply nested", `{"id": ${toJson(DEEP, rng)}, "x": ${valid()}}`),
  );
  // Headers: content types, extra and repeated ones; still authentic.
  add(CONTENT_TYPES.length * 3, (i) =>
    signed(`Content-Type ${CONTENT_TYPES[i % CONTENT_TYPES.length]}`, valid(), {
      headers: { "Content-Type": CONTENT_TYPES[i % CONTENT_TYPES.length] },
    }),
  );
  add(20, (i) =>
    signed("extra headers", valid(), {
      headers: {
        "X-Shopify-Test": "true",
        "X-Forwarded-For": rng.pick(ODD_HEADER_VALUES),
        Cookie: "a=".padEnd(2000, "b"),
        [`X-Extra-${i}`]: "1",
      },
    }),
  );
  // Odd spellings of the path: served by the same capped handler, or refused; recorded when served.
  add(60, (i) =>
    signed(`path spelling`, valid(), {
      path: pathSpellings(route, rng)[i % 12],
      allowed: [200, 404],
    }),
  );
  // Not authentic: wrong, missing or repeated signature; missing Shopify headers (a signed body alone is not a delivery).
  add(40, (i) => {
    const body = valid();
    const hmacs = [
      "",
      "AAAA",
      "not base64!",
      signBody(body, `${API_SECRET}-old`),
      signBody(`${body} `, API_SECRET),
      "x".repeat(8_000),
      signBody(body, API_SECRET).toLowerCase(),
    ];
    return {
      ...unsigned(topic, route, t.shop, body, {
        "X-Shopify-Hmac-Sha256": hmacs[i % hmacs.length],
      }),
      name: `bad HMAC #${i % hmacs.length}`,
    };
  });
  add(10, () => {
    const body = valid();
    return {
      ...unsigned(topic, route, t.shop, body, {}, ["X-Shopify-Hmac-Sha256"]),
      name: "no HMAC",
    };
  });
  add(10, () => {
    const body = valid();
    const sig = signBody(body, API_SECRET);
    return {
      ...unsigned(topic, route, t.shop, body, {
        "X-Shopify-Hmac-Sha256": [sig, sig],
      }),
      name: "HMAC twice",
    };
  });
  const required = [
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-Webhook-Id",
    "X-Shopify-API-Version",
  ];
  add(20, (i) => {
    const body = valid();
    return {
      ...unsigned(
        topic,
        route,
        t.shop,
        body,
        { "X-Shopify-Hmac-Sha256": signBody(body, API_SECRET) },
        [required[i % required.length]],
      ),
      name: `signed, no ${required[i % required.length]}`,
    };
  });
  add(20, (i) => {
    const body = valid();
    const name = required[i % required.length];
    return {
      ...unsigned(topic, route, t.shop, body, {
        "X-Shopify-Hmac-Sha256": signBody(body, API_SECRET),
        [name]: rng.pick(ODD_HEADER_VALUES),
      }),
      name: `signed, odd ${name}`,
      allowed: [200, 400],
    };
  });
  // Other methods.
  add(30, (i) => {
    const method = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"][i % 6];
    return {
      name: method,
      endpoint: topic,
      http: {
        method,
        path: i % 2 ? route : pathSpellings(route, rng)[i % 12],
        headers: shopifyHeaders(topic, t.shop, ""),
      },
      allowed: [405],
    };
  });
  // Past the cap: declared (refused at once, not read) and chunked (cut off as it streams in).
  add(10, (i) => ({
    name: "declared past the cap",
    endpoint: topic,
    upload: {
      path: route,
      size: cap + 1 + i,
      chunked: false,
      headers: shopifyHeaders(topic, t.shop, ""),
    },
    allowed: [413],
    heavy: true,
  }));
  add(1, () => ({
    name: "chunked past the cap",
    endpoint: topic,
    upload: {
      path: route,
      size: cap + MB,
      chunked: true,
      headers: shopifyHeaders(topic, t.shop, ""),
    },
    allowed: [413],
    heavy: true,
  }));
  // Huge arrays, authentic and within the cap.
  add(2, () =>
    signed("huge arrays", toJson(t.huge(rng), rng), { heavy: true }),
  );
  for (const [name, bytes] of RAW_JUNK(route, host))
    out.push({
      name: `raw: ${name}`,
      endpoint: topic,
      raw: bytes,
      allowed: RAW_ALLOWED,
    });
  // Fill up to PER_ENDPOINT with more of the first two kinds.
  while (out.length < PER_ENDPOINT) {
    const p = t.payload(rng);
    let name: string;
    if (t.texts.length) {
      const text = unique(rng.pick(HOSTILE_TEXTS));
      name = `text ${putText(p, rng.pick(t.texts), text)} ${JSON.stringify(text.slice(0, 16))}`;
    } else {
      const at = rng.pick(fieldPaths(p));
      setAt(p, at, wrongValue(rng, getAt(p, at)));
      name = `types ${at.join(".")}`;
    }
    out.push(signed(name, toJson(p, rng)));
  }
  return out;
}

function unsigned(
  topic: string,
  path: string,
  shop: string,
  body: string,
  headers: Record<string, string | string[]>,
  omit: string[] = [],
): Case {
  const all: Record<string, string | string[]> = {
    ...shopifyHeaders(topic, shop, body),
    ...headers,
  };
  for (const name of omit) delete all[name];
  return {
    name: "",
    endpoint: topic,
    http: { method: "POST", path, headers: all, body: Buffer.from(body) },
    allowed: [400, 401],
  };
}

/** Browsers whose page view the app has seen, enough that none of them passes its own rate limit here. */
const SEEN_BROWSERS = Array.from(
  { length: 200 },
  (_, i) => `hostile-browser-${i}`,
);

function ingestCases(
  rng: Rng,
  shop: string,
  key: string,
  host: string,
): Case[] {
  const out: Case[] = [];
  const ACCEPTS = [202, 400, 422];
  const ip = () => `198.51.${100 + rng.int(100)}.${1 + rng.int(250)}`;
  const valid = (): Json => {
    // A browser that posted a page view before: the others' events are not taken (decisions 39).
    const c = {
      ...newCheckout({ region: "US-NY" }),
      clientId: rng.pick(SEEN_BROWSERS),
    };
    const name = rng.pick([
      "PageView",
      "ViewContent",
      "AddToCart",
      "InitiateCheckout",
      "AddPaymentInfo",
      "Search",
      "Purchase",
    ] as const);
    return eventBody(shop, key, c, name, consent(true)) as unknown as Json;
  };
  const post = (
    name: string,
    body: Buffer | string,
    allowed: number[],
    opts: {
      path?: string;
      headers?: Record<string, string | string[]>;
      method?: string;
    } = {},
  ): Case => ({
    name,
    endpoint: "ingest",
    http: {
      method: opts.method ?? "POST",
      path: opts.path ?? "/ingest",
      headers: {
        "Content-Type": "text/plain;charset=UTF-8",
        "User-Agent": "Mozilla/5.0",
        "X-Forwarded-For": ip(),
        ...opts.headers,
      },
      body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    },
    allowed,
  });
  // Invalid by construction (the pixel endpoint's own generator): every one refused with a 4xx.
  for (const c of hostileIngestBodies(valid(), SEED, 300))
    out.push(post(c.name, c.text, [400, 403, 404, 409, 413, 422]));
  // Valid events carrying hostile texts where a storefront puts text (pages, referrers, searches, ids).
  const fields: ((e: Json, t: string) => void)[] = [
    (e, t) => (e.event_source_url = `https://shop.example/search?q=${t}`),
    (e, t) => (e.referrer_url = `https://ref.example/${t}`),
    (e, t) =>
      (e.custom_data = {
        ...((e.custom_data as Json) ?? {}),
        search_string: t,
      }),
    (e, t) => (e.client_id = t),
    (e, t) => (e.event_id = `sh-${t}`),
    (e, t) =>
      (e.custom_data = {
        ...((e.custom_data as Json) ?? {}),
        content_ids: [t],
      }),
  ];
  for (let i = 0; i < 300; i++) {
    const body = valid();
    const text = HOSTILE_TEXTS[i % HOSTILE_TEXTS.length];
    rng.pick(fields)(body.event as Json, text);
    out.push(
      post(
        `text ${JSON.stringify(text.slice(0, 16))}`,
        JSON.stringify(body),
        ACCEPTS,
      ),
    );
  }
  // Wrong types anywhere.
  for (let i = 0; i < 150; i++) {
    const body = valid();
    const at = rng.pick(fieldPaths(body));
    setAt(body, at, wrongValue(rng, getAt(body, at)));
    out.push(
      post(
        `types ${at.join(".")}`,
        toJson(body, rng),
        [202, 400, 403, 404, 409, 422],
      ),
    );
  }
  for (let i = 0; i < 40; i++)
    out.push(
      post(
        "invalid UTF-8",
        withInvalidUtf8(JSON.stringify(valid()), rng),
        [202, 400, 422],
      ),
    );
  // Headers: content types, client addresses, user agents.
  for (let i = 0; i < 60; i++) {
    out.push(
      post("headers", JSON.stringify(valid()), ACCEPTS, {
        headers: {
          "Content-Type": CONTENT_TYPES[i % CONTENT_TYPES.length],
          "X-Forwarded-For": [
            rng.pick(ODD_HEADER_VALUES),
            `${ip()}, ${rng.pick(ODD_HEADER_VALUES)}`,
            "::1",
            "2001:db8::1",
            `${"1.2.3.4, ".repeat(500)}5.6.7.8`,
          ][i % 5],
          "User-Agent": rng.pick(ODD_HEADER_VALUES),
        },
      }),
    );
  }
  for (let i = 0; i < 60; i++)
    out.push(
      post("path spelling", JSON.stringify(valid()), [...ACCEPTS, 404], {
        path: pathSpellings("/ingest", rng)[i % 12],
      }),
    );
  for (let i = 0; i < 30; i++) {
    const method = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"][i % 6];
    out.push(post(method, "", [204, 405], { method }));
  }
  for (let i = 0; i < 10; i++)
    out.push({
      name: "declared past the cap",
      endpoint: "ingest",
      upload: {
        path: "/ingest",
        size: CAPS.ingest + 1 + i * 1000,
        chunked: false,
        headers: {},
      },
      allowed: [413],
      heavy: true,
    });
  for (let i = 0; i < 2; i++)
    out.push({
      name: "chunked past the cap",
      endpoint: "ingest",
      upload: { path: "/ingest", size: 2 * MB, chunked: true, headers: {} },
      allowed: [413],
      heavy: true,
    });
  for (const [name, bytes] of RAW_JUNK("/ingest", host))
    out.push({
      name: `raw: ${name}`,
      endpoint: "ingest",
      raw: bytes,
      allowed: RAW_ALLOWED,
    });
  while (out.length < PER_ENDPOINT) {
    const body = valid();
    rng.pick(fields)(body.event as Json, rng.pick(HOSTILE_TEXTS));
    out.push(post("mixed", JSON.stringify(body), ACCEPTS));
  }
  return out;
}

function loginCases(rng: Rng, host: string): Case[] {
  const out: Case[] = [];
  // The login page, its errors, or the redirect to Shopify for a valid shop.
  const PAGE = [200, 302];
  const form = (fields: [string, string][]) =>
    new URLSearchParams(fields).toString();
  const post = (
    name: string,
    body: Buffer | string,
    allowed: number[],
    opts: {
      path?: string;
      headers?: Record<string, string>;
      method?: string;
    } = {},
  ): Case => ({
    name,
    endpoint: "login",
    http: {
      method: opts.method ?? "POST",
      path: opts.path ?? "/auth/login",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        ...opts.headers,
      },
      body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    },
    allowed,
  });
  const shops = [
    "shop-one",
    "shop-one.myshopify.com",
    "https://shop-one.myshopify.com/",
    "SHOP-ONE.MYSHOPIFY.COM",
    "shop_one",
    "shop.one.example",
    "admin.shopify.com/store/shop-one",
    "-shop",
    "shop-",
  ];
  for (let i = 0; i < 400; i++) {
    const value =
      i % 3 === 0
        ? rng.pick(shops)
        : HOSTILE_TEXTS[i % HOSTILE_TEXTS.length] +
          (i % 2 ? rng.pick(shops) : "");
    out.push(
      post(
        `shop ${JSON.stringify(value.slice(0, 16))}`,
        form([["shop", value]]),
        PAGE,
      ),
    );
  }
  for (let i = 0; i < 100; i++) {
    const value = rng.pick(shops);
    const bodies: [string, string, string][] = [
      [
        "multipart",
        `--x\r\nContent-Disposition: form-data; name="shop"\r\n\r\n${value}\r\n--x--\r\n`,
        "multipart/form-data; boundary=x",
      ],
      [
        "multipart file",
        `--x\r\nContent-Disposition: form-data; name="shop"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n${value}\r\n--x--\r\n`,
        "multipart/form-data; boundary=x",
      ],
      [
        "multipart, no boundary",
        `--x\r\nContent-Disposition: form-data; name="shop"\r\n\r\n${value}\r\n--x--\r\n`,
        "multipart/form-data",
      ],
      [
        "broken multipart",
        `--x\r\nContent-Disposition: form-data; name="shop"\r\n\r\n${value}`,
        "multipart/form-data; boundary=x",
      ],
      ["JSON", JSON.stringify({ shop: value }), "application/json"],
      ["deep JSON", toJson({ shop: DEEP }, rng), "application/json"],
      ["text", `shop=${value}`, "text/plain"],
      ["no type", `shop=${value}`, ""],
    ];
    const [name, body, type] = bodies[i % bodies.length];
    out.push(
      post(name, body, [...PAGE, 400, 415], {
        headers: { "Content-Type": type },
      }),
    );
  }
  const encodings = [
    "shop=%zz",
    "shop=%",
    "shop=%E0%A4%A",
    "&&&=&",
    "shop",
    "=x",
    "shop=a&shop=b",
    "shop=%00",
    "shop=%ED%A0%80",
    `shop=${"%41".repeat(20_000)}`,
  ];
  for (let i = 0; i < 60; i++)
    out.push(
      post(
        `encoding ${encodings[i % encodings.length].slice(0, 20)}`,
        encodings[i % encodings.length],
        [...PAGE, 400],
      ),
    );
  for (let i = 0; i < 40; i++)
    out.push(
      post(
        "invalid UTF-8",
        Buffer.concat([
          Buffer.from("shop="),
          Buffer.from(rng.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80]])),
          Buffer.from(rng.pick(shops)),
        ]),
        [...PAGE, 400],
      ),
    );
  for (let i = 0; i < 50; i++) {
    const fields: [string, string][] = Array.from(
      { length: 500 + rng.int(2_000) },
      (_, n) => [n % 7 ? `f${n}` : "shop", rng.pick(shops)],
    );
    out.push(post("many fields", form(fields), [...PAGE, 400]));
  }
  for (let i = 0; i < 100; i++) {
    const value = i % 2 ? rng.pick(shops) : rng.pick(HOSTILE_TEXTS);
    // 431: past 16 kB, the request line is refused before it reaches the app.
    out.push(
      post("GET ?shop", "", [...PAGE, 431], {
        method: "GET",
        path: `/auth/login?${form([["shop", value]])}`,
      }),
    );
  }
  for (let i = 0; i < 80; i++)
    out.push(
      post("path spelling", form([["shop", rng.pick(shops)]]), [...PAGE, 404], {
        path: pathSpellings("/auth/login", rng)[i % 12],
      }),
    );
  for (let i = 0; i < 30; i++) {
    const method = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"][i % 6];
    out.push(post(method, "", [...PAGE, 400, 405], { method }));
  }
  for (let i = 0; i < 10; i++)
    out.push({
      name: "declared past the cap",
      endpoint: "login",
      upload: {
        path: "/auth/login",
        size: CAPS.other + 1 + i,
        chunked: false,
        headers: {},
      },
      allowed: [413],
      heavy: true,
    });
  for (let i = 0; i < 2; i++)
    out.push({
      name: "chunked past the cap",
      endpoint: "login",
      upload: { path: "/auth/login", size: 2 * MB, chunked: true, headers: {} },
      allowed: [413],
      heavy: true,
    });
  for (const [name, bytes] of RAW_JUNK("/auth/login", host))
    out.push({
      name: `raw: ${name}`,
      endpoint: "login",
      raw: bytes,
      allowed: RAW_ALLOWED,
    });
  while (out.length < PER_ENDPOINT)
    out.push(
      post(
        "mixed",
        form([["shop", rng.pick(HOSTILE_TEXTS) + rng.pick(shops)]]),
        PAGE,
      ),
    );
  return out;
}
