import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import {
  SAMPLE_CUSTOMERS_REDACT,
  SAMPLE_DATA_REQUEST,
  SAMPLE_SCOPES_UPDATE,
  SAMPLE_SHOP,
  SAMPLE_SHOP_REDACT,
} from "../fixtures/shopifyWebhooks";
import {
  API_SECRET,
  databaseKinds,
  eventually,
  startApp,
  type TestApp,
} from "../support/app";
import { consent, eventBody, newCheckout } from "../support/checkout";
import { request, upload, type RawResponse } from "../support/rawHttp";
import { signBody } from "../support/shopifyWebhook";

// The webhooks and the pixel endpoint have one route table (app/http/routes.server.ts): the production server
// serves it from the Node request, and under `npm run dev` the Remix routes are its adapters. The same request must
// get the same answer from both, refusals and failures included: the production build, served by scripts/start.mjs
// and as `npm run dev` serves it (test/support/devServer.mjs), on two databases in the same state, is sent the same
// requests in the same order. (What the production server's front does beyond the table, which Remix does not:
// 405 to any /webhooks/… path, a topic's or not, and paths spelled with repeated slashes, is requestLimits.test.ts's.)

const MB = 1024 * 1024;
const SHOP = "parity.myshopify.com";
/** The shop whose tables are dropped at the end, for the error path. */
const FAILING = "parity-failing.myshopify.com";
const KEY = "parity-ingest-key-0123456789";
const SHOPIFY_ID = SAMPLE_SHOP_REDACT.shop_id;

type Json = Record<string, unknown>;

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /**
   * Streamed: `size` bytes, with a Content-Length of `declare` (null: chunked). Sizes are such that the client has
   * sent all it will before the answer: the dev server closes the connection of a client that sent
   * `Connection: close` as soon as it answers, and one still uploading may see a reset instead of the answer.
   */
  upload?: { size: number; declare: number | null };
  status: number;
}

/** What an answer is made of, but for what Node adds on its own (date, connection, length or chunking). */
function answerOf(
  res: Pick<RawResponse, "status" | "headers"> & { text?: string },
) {
  const headers = Object.fromEntries(
    Object.entries(res.headers).filter(
      ([name]) =>
        ![
          "date",
          "connection",
          "keep-alive",
          "content-length",
          "transfer-encoding",
        ].includes(name),
    ),
  );
  const json =
    res.text &&
    String(res.headers["content-type"]).startsWith("application/json");
  return {
    status: res.status,
    headers,
    body: json ? (JSON.parse(res.text!) as Json) : (res.text ?? null),
  };
}

async function send(app: TestApp, c: Case) {
  if (c.upload) {
    const res = await upload(app.url, {
      path: c.path,
      ...c.upload,
      headers: c.headers,
    });
    return answerOf({ status: res.status ?? 0, headers: res.headers });
  }
  return answerOf(
    await request(app.url, {
      method: c.method ?? "POST",
      path: c.path,
      headers: c.headers,
      body: c.body,
    }),
  );
}

function signed(
  topic: string,
  shop: string,
  body: unknown,
  headers: Record<string, string> = {},
): Pick<Case, "path" | "headers" | "body"> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  return {
    path: `/webhooks/${topic}`,
    body: raw,
    headers: {
      "Content-Type": "application/json",
      "X-Shopify-Topic": topic,
      "X-Shopify-Hmac-Sha256": signBody(raw, API_SECRET),
      "X-Shopify-Shop-Domain": shop,
      "X-Shopify-API-Version": "2026-10",
      "X-Shopify-Webhook-Id": randomUUID(),
      "X-Shopify-Triggered-At": new Date().toISOString(),
      ...headers,
    },
  };
}

let orderSeq = 0;
function order(shop: string): Json {
  const id = 7_800_000_000_000 + ++orderSeq;
  return {
    ...makeOrder({ id, admin_graphql_api_id: `gid://shopify/Order/${id}` }),
    order_status_url: `https://${shop}/${SHOPIFY_ID}/orders/x/authenticate?key=k`,
  };
}

/** The requests every route of the table is sent: its other methods, a body past its cap. */
function refusals(path: string, cap: number): Case[] {
  return [
    { name: `GET ${path}`, method: "GET", path, status: 405 },
    { name: `DELETE ${path}`, method: "DELETE", path, status: 405 },
    {
      name: `${path} past its cap, declared`,
      path,
      upload: { size: 1024, declare: cap + 1 },
      status: 413,
    },
    {
      name: `${path} past its cap, chunked`,
      path,
      upload: { size: cap + 1, declare: null },
      status: 413,
    },
  ];
}

function webhookCases(topic: string, body: unknown, cap: number): Case[] {
  const first = signed(topic, SHOP, body);
  return [
    { name: `${topic}`, ...first, status: 200 },
    { name: `${topic} delivered again`, ...first, status: 200 },
    {
      name: `${topic} with a bad HMAC`,
      ...signed(topic, SHOP, body, {
        "X-Shopify-Hmac-Sha256": signBody("other", API_SECRET),
      }),
      status: 401,
    },
    {
      name: `${topic} without its webhook id`,
      ...withoutHeader(signed(topic, SHOP, body), "X-Shopify-Webhook-Id"),
      status: 400,
    },
    { name: `${topic} not JSON`, ...signed(topic, SHOP, "{nope"), status: 200 },
    ...refusals(`/webhooks/${topic}`, cap),
  ];
}

function withoutHeader<T extends Pick<Case, "headers">>(c: T, name: string): T {
  const headers = { ...c.headers };
  delete headers[name];
  return { ...c, headers };
}

function ingestCase(
  name: string,
  body: unknown,
  status: number,
  headers: Record<string, string> = {},
): Case {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return {
    name,
    path: "/ingest",
    body: text,
    headers: { "Content-Type": "text/plain;charset=UTF-8", ...headers },
    status,
  };
}

describe.each(databaseKinds())(
  "the Remix routes of npm run dev, against the production server, on %s",
  (kind) => {
    let prod: TestApp;
    let dev: TestApp;
    const answers: {
      name: string;
      prod: Awaited<ReturnType<typeof send>>;
      dev: Awaited<ReturnType<typeof send>>;
    }[] = [];

    /** Sends each case to both servers, in order, and keeps both answers. */
    async function run(cases: Case[]) {
      for (const c of cases) {
        const [p, d] = [await send(prod, c), await send(dev, c)];
        answers.push({ name: c.name, prod: p, dev: d });
        expect(p.status, `${c.name}: ${JSON.stringify(p.body)}`).toBe(c.status);
      }
    }

    beforeAll(async () => {
      const env = { DISPATCHER_IN_PROCESS: "false" };
      [prod, dev] = await Promise.all([
        startApp({ db: kind, graphUrl: "http://127.0.0.1:9", env }),
        startApp({
          db: kind,
          graphUrl: "http://127.0.0.1:9",
          env,
          server: "dev",
        }),
      ]);
      for (const app of [prod, dev]) {
        for (const [domain, ingestKey] of [
          [SHOP, KEY],
          [FAILING, `${KEY}-failing`],
        ]) {
          await app.db.shop.create({
            data: {
              domain,
              ingestKey,
              shopifyId: String(SHOPIFY_ID),
              settings: { consentPolicy: "always" },
              pixelId: "987654321098765",
              tokenCiphertext: "v1:sealed",
            },
          });
        }
      }
    });
    afterAll(async () => {
      await Promise.all([prod?.close(), dev?.close()]);
    });

    it("answers the pixel endpoint the same", async () => {
      const checkout = newCheckout();
      const pageView = eventBody(
        SHOP,
        KEY,
        checkout,
        "PageView",
        consent(true),
      );
      await run([
        ingestCase("a PageView", pageView, 202),
        ingestCase("the PageView again", pageView, 202),
        ingestCase(
          "an event of a browser never seen",
          eventBody(SHOP, KEY, newCheckout(), "AddToCart", consent(true)),
          202,
        ),
        ingestCase("not JSON", "{nope", 400),
        ingestCase("empty", "", 400),
        ingestCase(
          "a forged key",
          eventBody(
            SHOP,
            `${KEY}-forged`,
            newCheckout(),
            "PageView",
            consent(true),
          ),
          403,
        ),
        ingestCase(
          "an unknown shop",
          eventBody(
            "nobody.myshopify.com",
            KEY,
            newCheckout(),
            "PageView",
            consent(true),
          ),
          404,
        ),
        {
          name: "the CORS preflight",
          method: "OPTIONS",
          path: "/ingest",
          headers: { Origin: "null", "Access-Control-Request-Method": "POST" },
          status: 204,
        },
        {
          name: "PUT /ingest",
          method: "PUT",
          path: "/ingest",
          body: "{}",
          status: 405,
        },
        ...refusals("/ingest", 64 * 1024),
      ]);
      expect(await prod.db.outboxEvent.count()).toBe(1);
      expect(await dev.db.outboxEvent.count()).toBe(1);
    });

    it("answers every webhook topic the same", async () => {
      const shopBody = (over: Json = {}) => ({
        ...SAMPLE_SHOP,
        id: SHOPIFY_ID,
        myshopify_domain: SHOP,
        ...over,
      });
      await run([
        ...webhookCases("orders/paid", order(SHOP), 25 * MB),
        ...webhookCases("orders/create", order(SHOP), 25 * MB),
        ...webhookCases("orders/cancelled", order(SHOP), 25 * MB),
        ...webhookCases(
          "customers/data_request",
          { ...SAMPLE_DATA_REQUEST, shop_domain: SHOP },
          4 * MB,
        ),
        ...webhookCases(
          "customers/redact",
          { ...SAMPLE_CUSTOMERS_REDACT, shop_domain: SHOP },
          4 * MB,
        ),
        ...webhookCases("app/scopes_update", SAMPLE_SCOPES_UPDATE, 4 * MB),
        // The path decides the topic (decisions 49): these neither erase nor uninstall the shop (checked below).
        {
          name: "customers/redact named shop/redact",
          ...signed(
            "customers/redact",
            SHOP,
            { ...SAMPLE_CUSTOMERS_REDACT, shop_domain: SHOP },
            { "X-Shopify-Topic": "shop/redact" },
          ),
          status: 200,
        },
        {
          name: "app/scopes_update named app/uninstalled",
          ...signed("app/scopes_update", SHOP, SAMPLE_SCOPES_UPDATE, {
            "X-Shopify-Topic": "app/uninstalled",
          }),
          status: 200,
        },
        ...webhookCases(
          "shop/update",
          shopBody({ domain: "shop.parity.example" }),
          4 * MB,
        ),
      ]);
      for (const app of [prod, dev]) {
        expect(
          await app.db.outboxEvent.count({ where: { eventName: "Purchase" } }),
        ).toBe(1);
        expect(
          await app.db.shop.findUniqueOrThrow({ where: { domain: SHOP } }),
        ).toMatchObject({
          scope: SAMPLE_SCOPES_UPDATE.current.join(","),
          primaryDomain: "shop.parity.example",
          uninstalledAt: null,
        });
      }
      await run([
        ...webhookCases("app/uninstalled", shopBody(), 4 * MB),
        ...webhookCases(
          "shop/redact",
          { ...SAMPLE_SHOP_REDACT, shop_domain: SHOP },
          4 * MB,
        ),
      ]);
      for (const app of [prod, dev])
        expect(await app.db.shop.count({ where: { domain: SHOP } })).toBe(0);
    });

    it("fails the same: 500, logged with its stack", async () => {
      for (const app of [prod, dev]) {
        await app.db.$executeRawUnsafe('DROP TABLE "WebhookReceipt"');
        await app.db.$executeRawUnsafe('DROP TABLE "BrowserClient"');
      }
      const from = { prod: prod.logs.length, dev: dev.logs.length };
      await run([
        {
          name: "an order while the database fails",
          ...signed("orders/paid", FAILING, order(FAILING)),
          status: 500,
        },
        ingestCase(
          "a PageView while the database fails",
          eventBody(
            FAILING,
            `${KEY}-failing`,
            newCheckout(),
            "PageView",
            consent(true),
          ),
          500,
        ),
      ]);
      const failures = [
        /\[http\] POST \/webhooks\/orders\/paid failed:[^]*?\n\s+at /,
        /\[http\] POST \/ingest failed:[^]*?\n\s+at /,
      ];
      // A server writes the line before it answers, but its output pipe may reach this process after the answer.
      await eventually(
        () =>
          [prod.logs.slice(from.prod), dev.logs.slice(from.dev)].every((logs) =>
            failures.every((line) => line.test(logs.join("\n"))),
          ),
        5_000,
        "both failures logged by both servers",
      ).catch(() => undefined);
      for (const [logs, start] of [
        [prod.logs, from.prod],
        [dev.logs, from.dev],
      ] as const) {
        const lines = logs.slice(start).join("\n");
        for (const line of failures) expect(lines).toMatch(line);
      }
    });

    it("gave every request the same answer on both servers", () => {
      expect(answers.length).toBeGreaterThan(80);
      expect(answers.map((a) => ({ request: a.name, answer: a.dev }))).toEqual(
        answers.map((a) => ({ request: a.name, answer: a.prod })),
      );
    });
  },
);
