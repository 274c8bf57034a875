import { execFileSync } from "node:child_process";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { API_KEY, API_SECRET } from "./app";

// A fake Shopify for the calls the app makes to a shop: token exchange (POST /admin/oauth/access_token) and the
// Admin GraphQL API, on a real HTTPS server on 127.0.0.1. Its orders (`orders` with an updated_at filter, cursor
// pagination and `first`, `ordersCount` with an updated_at or created_at filter, an order's further line items) cost
// points from a leaky bucket per shop, as Shopify's do: a query the bucket cannot pay is answered THROTTLED; tests can
// script an HTTP 429 or a bad page. The app reaches https://<shop>.myshopify.com through an HTTP proxy that tunnels
// every CONNECT to that server (Node's NODE_USE_ENV_PROXY + HTTPS_PROXY), and trusts its certificate for
// *.myshopify.com, made here with openssl, through NODE_EXTRA_CA_CERTS. Nothing in the app is changed for it: pass
// `env` to startApp / runOps.

export interface AdminCall {
  shop: string;
  operation: string;
  /** The X-Shopify-Access-Token header as received. */
  accessToken: string | null;
  status: number;
  /** When the request arrived (ms since the epoch). */
  at: number;
  variables: Record<string, unknown>;
}

/** A GraphQL order as the fake serves it (see `graphqlOrderOf`). */
export type GraphqlOrder = Record<string, unknown> & {
  id: string;
  updatedAt: string;
};

/** Shopify's leaky bucket: points available now, the most it holds, points restored per second. */
export interface Bucket {
  maximumAvailable: number;
  currentlyAvailable: number;
  restoreRate: number;
}

/** "throttled" empties the shop's bucket as the query arrives, so that it is answered THROTTLED. */
export type ScriptedFailure =
  "ok" | "429" | "throttled" | "bad-page" | "not-json";

/** An AppSubscription as the Admin GraphQL API returns it (the fields the billing fragment asks for). */
export interface FakeSubscription {
  id: string;
  shop: string;
  name: string;
  test: boolean;
  /** PENDING until the merchant approves it on the confirmation page (confirm), then ACTIVE; CANCELLED at the end. */
  status: "PENDING" | "ACTIVE" | "DECLINED" | "CANCELLED";
  trialDays: number;
  createdAt: string;
  currentPeriodEnd: string | null;
  returnUrl: string;
  lineItems: unknown[];
}

export interface FakeShopify {
  /** Environment for the app and the ops CLI. */
  env: Record<string, string>;
  /** Offline tokens issued per shop, oldest first; each stays valid. */
  tokens: Map<string, string[]>;
  exchanges: { shop: string; requestedTokenType: string }[];
  adminCalls: AdminCall[];
  /** The shop's orders, as the Admin API lists them. */
  orders: Map<string, GraphqlOrder[]>;
  /** The shop's bucket (Shopify's defaults until a test sets it). */
  bucket(shop: string): Bucket;
  /** The next `orders` queries of the shop fail like this, one each, in order. */
  failures: Map<string, ScriptedFailure[]>;
  /** Every subscription appSubscriptionCreate made, oldest first. */
  subscriptions: FakeSubscription[];
  /**
   * The merchant approves a subscription on its confirmation page: it becomes ACTIVE and replaces the shop's other
   * active one (a shop has one recurring app subscription); returns the return URL Shopify redirects to.
   */
  confirm(subscriptionId: string): string;
  close(): Promise<void>;
}

const INVALID_TOKEN = {
  errors:
    "[API] Invalid API key or access token (unrecognized login or wrong password)",
};

export async function startFakeShopify(): Promise<FakeShopify> {
  const dir = mkdtempSync(path.join(tmpdir(), "fake-shopify-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=fake-shopify",
      "-addext",
      "subjectAltName=DNS:*.myshopify.com",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );

  const tokens = new Map<string, string[]>();
  const exchanges: FakeShopify["exchanges"] = [];
  const adminCalls: AdminCall[] = [];
  const orders = new Map<string, GraphqlOrder[]>();
  const failures = new Map<string, ScriptedFailure[]>();
  const buckets = new Map<string, Bucket & { at: number }>();
  const subscriptions: FakeSubscription[] = [];
  let pixelSeq = 0;
  let subscriptionSeq = 0;

  function bucket(shop: string): Bucket & { at: number } {
    let b = buckets.get(shop);
    if (!b) {
      b = {
        maximumAvailable: 2000,
        currentlyAvailable: 2000,
        restoreRate: 100,
        at: Date.now(),
      };
      buckets.set(shop, b);
    }
    // Leaks back in continuously, as Shopify's does.
    const now = Date.now();
    b.currentlyAvailable = Math.min(
      b.maximumAvailable,
      b.currentlyAvailable + ((now - b.at) / 1000) * b.restoreRate,
    );
    b.at = now;
    return b;
  }

  const server = https.createServer(
    { key: readFileSync(keyFile), cert: readFileSync(certFile) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const shop = (req.headers.host ?? "").split(":")[0];
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { "Content-Type": "application/json" });
          res.end(JSON.stringify(body));
        };
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        } catch {
          return reply(400, { errors: "invalid JSON" });
        }
        if (req.method === "POST" && req.url === "/admin/oauth/access_token")
          return reply(...exchange(shop, body));
        if (
          req.method === "POST" &&
          /^\/admin\/api\/[^/]+\/graphql\.json$/.test(req.url ?? "")
        ) {
          const [status, answer, headers] = graphql(
            shop,
            req.headers["x-shopify-access-token"] as string | undefined,
            body,
          );
          if (typeof answer === "string") {
            res.writeHead(status, headers ?? {});
            return res.end(answer);
          }
          res.writeHead(status, {
            "Content-Type": "application/json",
            ...headers,
          });
          return res.end(JSON.stringify(answer));
        }
        reply(404, { errors: "Not Found" });
      });
    },
  );

  function exchange(
    shop: string,
    body: Record<string, unknown>,
  ): [number, unknown] {
    if (body.client_id !== API_KEY || body.client_secret !== API_SECRET)
      return [401, { error: "invalid_client" }];
    if (!validIdToken(String(body.subject_token ?? ""), shop))
      return [400, { error: "invalid_subject_token" }];
    const requestedTokenType = String(body.requested_token_type);
    exchanges.push({ shop, requestedTokenType });
    if (!requestedTokenType.endsWith("offline-access-token"))
      return [400, { error: "unsupported_token_type" }];
    const token = `shpat_${randomBytes(16).toString("hex")}`;
    tokens.set(shop, [...(tokens.get(shop) ?? []), token]);
    return [
      200,
      {
        access_token: token,
        scope: "read_orders,write_pixels,read_customer_events",
      },
    ];
  }

  function graphql(
    shop: string,
    accessToken: string | undefined,
    body: Record<string, unknown>,
  ): [number, unknown, Record<string, string>?] {
    const query = String(body.query ?? "");
    const operation =
      /\b(webPixelCreate|webPixelUpdate|appSubscriptionCreate|appSubscriptionCancel|ordersCount|orders|order)\(/.exec(
        query,
      )?.[1] ??
      (/\bshop\s*\{/.test(query)
        ? "shop"
        : /\bwebPixel\s*\{/.test(query)
          ? "webPixel"
          : /\bcurrentAppInstallation\s*\{/.test(query)
            ? "currentAppInstallation"
            : "unknown");
    const valid = Boolean(
      accessToken && tokens.get(shop)?.includes(accessToken),
    );
    adminCalls.push({
      shop,
      operation,
      accessToken: accessToken ?? null,
      status: valid ? 200 : 401,
      at: Date.now(),
      variables: (body.variables ?? {}) as Record<string, unknown>,
    });
    if (!valid) return [401, INVALID_TOKEN];
    if (["orders", "ordersCount", "order"].includes(operation))
      return readOrders(shop, operation, query, body.variables);
    const variables = (body.variables ?? {}) as {
      id?: string;
      webPixel?: { settings?: string };
      name?: string;
      returnUrl?: string;
      test?: boolean | null;
      trialDays?: number | null;
      lineItems?: unknown[];
    };
    switch (operation) {
      case "shop":
        return [200, { data: { shop: { email: `owner@${shop}` } } }];
      case "webPixelCreate":
      case "webPixelUpdate": {
        const id =
          operation === "webPixelCreate"
            ? `gid://shopify/WebPixel/${++pixelSeq}`
            : variables.id;
        return [
          200,
          {
            data: {
              [operation]: {
                userErrors: [],
                webPixel: { id, settings: variables.webPixel?.settings },
              },
            },
          },
        ];
      }
      case "appSubscriptionCreate": {
        const userErrors = [
          !variables.name && {
            field: ["name"],
            message: "Name can't be blank",
          },
          !variables.returnUrl?.startsWith("https://") && {
            field: ["returnUrl"],
            message: "Return url is invalid",
          },
          !variables.lineItems?.length && {
            field: ["lineItems"],
            message: "Line items can't be blank",
          },
        ].filter(Boolean);
        if (userErrors.length)
          return [
            200,
            {
              data: {
                appSubscriptionCreate: {
                  appSubscription: null,
                  confirmationUrl: null,
                  userErrors,
                },
              },
            },
          ];
        const n = ++subscriptionSeq;
        const subscription: FakeSubscription = {
          id: `gid://shopify/AppSubscription/${n}`,
          shop,
          name: variables.name!,
          test: Boolean(variables.test),
          status: "PENDING",
          trialDays: variables.trialDays ?? 0,
          createdAt: new Date().toISOString(),
          currentPeriodEnd: null,
          returnUrl: variables.returnUrl!,
          lineItems: variables.lineItems!.map((item, i) => ({
            id: `gid://shopify/AppSubscriptionLineItem/${n}-${i}`,
            plan: { pricingDetails: pricingDetailsOf(item) },
          })),
        };
        subscriptions.push(subscription);
        return [
          200,
          {
            data: {
              appSubscriptionCreate: {
                appSubscription: asGraphql(subscription),
                confirmationUrl: `https://${shop}/admin/charges/${API_KEY}/${n}/RecurringApplicationCharge/confirm_recurring_application_charge?signature=${randomBytes(8).toString("hex")}`,
                userErrors: [],
              },
            },
          },
        ];
      }
      case "currentAppInstallation":
        return [
          200,
          {
            data: {
              currentAppInstallation: {
                activeSubscriptions: subscriptions
                  .filter((s) => s.shop === shop && s.status === "ACTIVE")
                  .map(asGraphql),
                oneTimePurchases: {
                  edges: [],
                  pageInfo: { hasNextPage: false, endCursor: null },
                },
              },
            },
          },
        ];
      case "appSubscriptionCancel": {
        const subscription = subscriptions.find(
          (s) => s.shop === shop && s.id === variables.id,
        );
        if (!subscription || subscription.status !== "ACTIVE")
          return [
            200,
            {
              data: {
                appSubscriptionCancel: {
                  appSubscription: null,
                  userErrors: [
                    {
                      field: ["id"],
                      message: subscription
                        ? "Cannot cancel a subscription that is not active"
                        : "Subscription not found",
                    },
                  ],
                },
              },
            },
          ];
        subscription.status = "CANCELLED";
        return [
          200,
          {
            data: {
              appSubscriptionCancel: {
                appSubscription: asGraphql(subscription),
                userErrors: [],
              },
            },
          },
        ];
      }
      default:
        return [
          200,
          {
            errors: [
              { message: `the fake Shopify does not answer ${operation}` },
            ],
          },
        ];
    }
  }

  /** The orders queries, each paid from the shop's bucket (requested cost up front, actual cost after). */
  function readOrders(
    shop: string,
    operation: string,
    query: string,
    rawVariables: unknown,
  ): [number, unknown, Record<string, string>?] {
    const variables = (rawVariables ?? {}) as {
      first?: number;
      after?: string | null;
      query?: string;
      id?: string;
    };
    const failure =
      operation === "orders" ? failures.get(shop)?.shift() : undefined;
    if (operation === "orders") {
      const call = adminCalls.at(-1)!;
      if (failure === "429") {
        call.status = 429;
        return [
          429,
          { errors: "Exceeded 2 calls per second" },
          { "Retry-After": "1" },
        ];
      }
      if (failure === "not-json") return [200, "<html>Bad gateway</html>"];
      if (failure === "bad-page")
        return [200, { data: { orders: { nodes: "not a list" } } }];
    }
    const b = bucket(shop);
    if (failure === "throttled") b.currentlyAvailable = 0;
    const lines = Number(/lineItems\(first: (\d+)/.exec(query)?.[1] ?? 0);
    const first = Math.min(variables.first ?? 250, 250);
    const requested =
      operation === "orders"
        ? 2 + first * (10 + 3 * lines)
        : operation === "order"
          ? 2 + 3 * lines
          : 1;
    const status = () => ({
      maximumAvailable: b.maximumAvailable,
      currentlyAvailable: Math.floor(b.currentlyAvailable),
      restoreRate: b.restoreRate,
    });
    if (b.currentlyAvailable < requested) {
      adminCalls.at(-1)!.status = 429;
      return [
        200,
        {
          errors: [
            {
              message: "Throttled",
              extensions: {
                code: "THROTTLED",
                documentation: "https://shopify.dev/api/usage/rate-limits",
              },
            },
          ],
          extensions: {
            cost: {
              requestedQueryCost: requested,
              actualQueryCost: null,
              throttleStatus: status(),
            },
          },
        },
      ];
    }
    const since = /updated_at:>='([^']+)'/.exec(variables.query ?? "")?.[1];
    const created = /created_at:>='([^']+)'/.exec(variables.query ?? "")?.[1];
    const matching = (orders.get(shop) ?? [])
      .filter((o) => !since || o.updatedAt >= since)
      .filter(
        (o) =>
          !created || Date.parse(String(o.createdAt)) >= Date.parse(created),
      )
      .sort((a, c) =>
        a.updatedAt === c.updatedAt
          ? a.id.localeCompare(c.id)
          : a.updatedAt.localeCompare(c.updatedAt),
      );
    let data: unknown;
    let actual = 1;
    if (operation === "ordersCount") {
      data = { ordersCount: { count: matching.length, precision: "EXACT" } };
    } else if (operation === "orders") {
      const start = variables.after ? Number(variables.after) : 0;
      const page = matching.slice(start, start + first);
      const end = start + page.length;
      data = {
        orders: {
          pageInfo: {
            hasNextPage: end < matching.length,
            endCursor: page.length ? String(end) : null,
          },
          nodes: page.map((o) => withLines(o, 0, lines)),
        },
      };
      actual = 2 + page.length * 10;
    } else {
      const order = (orders.get(shop) ?? []).find((o) => o.id === variables.id);
      const start = variables.after ? Number(variables.after) : 0;
      data = {
        order: order
          ? { lineItems: withLines(order, start, lines).lineItems }
          : null,
      };
    }
    b.currentlyAvailable -= actual;
    return [
      200,
      {
        data,
        extensions: {
          cost: {
            requestedQueryCost: requested,
            actualQueryCost: actual,
            throttleStatus: status(),
          },
        },
      },
    ];
  }

  // An HTTP proxy that tunnels to the fake for Shopify's hosts and refuses everything else.
  const proxy = http.createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  proxy.on(
    "connect",
    (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (!/^[a-z0-9-]+\.myshopify\.com:443$/.test(req.url ?? "")) {
        socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
        return;
      }
      const upstream = net.connect(
        (server.address() as net.AddressInfo).port,
        "127.0.0.1",
        () => {
          socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          upstream.write(head);
          upstream.pipe(socket);
          socket.pipe(upstream);
        },
      );
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
    },
  );

  await Promise.all(
    [server, proxy].map(
      (s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve)),
    ),
  );
  return {
    env: {
      NODE_USE_ENV_PROXY: "1",
      HTTPS_PROXY: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
      NO_PROXY: "127.0.0.1,localhost",
      NODE_EXTRA_CA_CERTS: certFile,
    },
    tokens,
    exchanges,
    adminCalls,
    orders,
    failures,
    bucket,
    subscriptions,
    confirm(subscriptionId) {
      const subscription = subscriptions.find((s) => s.id === subscriptionId);
      if (!subscription || subscription.status !== "PENDING")
        throw new Error(`no pending subscription ${subscriptionId}`);
      for (const other of subscriptions)
        if (other.shop === subscription.shop && other.status === "ACTIVE")
          other.status = "CANCELLED";
      subscription.status = "ACTIVE";
      subscription.currentPeriodEnd = new Date(
        Date.now() + 30 * 86_400_000,
      ).toISOString();
      const back = new URL(subscription.returnUrl);
      back.searchParams.set("charge_id", subscriptionId.split("/").pop()!);
      return back.toString();
    },
    async close() {
      server.closeAllConnections();
      proxy.closeAllConnections();
      await Promise.all(
        [server, proxy].map((s) => new Promise((resolve) => s.close(resolve))),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A recurring line item's input (the app's plans are recurring) as the API answers it: amounts are decimal strings. */
function pricingDetailsOf(item: unknown) {
  const { interval, price } = (
    item as {
      plan: {
        appRecurringPricingDetails: {
          interval: string;
          price: { amount: number; currencyCode: string };
        };
      };
    }
  ).plan.appRecurringPricingDetails;
  return {
    interval,
    price: { amount: String(price.amount), currencyCode: price.currencyCode },
    discount: null,
  };
}

/** A subscription as the API answers it: the fields the app's billing fragment selects. */
function asGraphql({ shop: _shop, ...subscription }: FakeSubscription) {
  return subscription;
}

/** The session token Shopify's admin gives the app (HS256 with the app's secret) for this shop. */
function validIdToken(jwt: string, shop: string): boolean {
  const [header, payload, signature] = jwt.split(".");
  if (!header || !payload || !signature) return false;
  const expected = createHmac("sha256", API_SECRET)
    .update(`${header}.${payload}`)
    .digest();
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return false;
  const claims = JSON.parse(
    Buffer.from(payload, "base64url").toString("utf8"),
  ) as { dest?: string };
  return claims.dest === `https://${shop}`;
}

/** The order with `count` of its lines from `start`, as a connection with its cursor. */
function withLines(order: GraphqlOrder, start: number, count: number) {
  const all = (order.lineItems as unknown[] | undefined) ?? [];
  const nodes = all.slice(start, start + count);
  const end = start + nodes.length;
  return {
    ...order,
    lineItems: {
      pageInfo: { hasNextPage: end < all.length, endCursor: String(end) },
      nodes,
    },
  };
}

type Rest = Record<string, unknown>;
const money = (amount: unknown, currency: unknown) => ({
  amount: String(amount),
  currencyCode: currency,
});

/**
 * The order of a REST webhook body as the Admin GraphQL API shows it: camelCase names, gids, money sets, the cart's
 * attributes as customAttributes, the landing page in the customer journey. What GraphQL does not have (checkout
 * token, user agent, staff member) is left out. `lineItems` is the full list; the fake pages it.
 */
export function graphqlOrderOf(
  rest: Rest,
  opts: { updatedAt?: string; financialStatus?: string } = {},
): GraphqlOrder {
  const r = rest as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const set = (s: Rest | null | undefined, plain: unknown) => {
    const m = s as Record<string, any> | null | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
    return m
      ? {
          shopMoney: money(m.shop_money.amount, m.shop_money.currency_code),
          presentmentMoney: money(
            m.presentment_money.amount,
            m.presentment_money.currency_code,
          ),
        }
      : plain == null
        ? null
        : {
            shopMoney: money(plain, r.currency),
            presentmentMoney: money(plain, r.currency),
          };
  };
  const address = (a: Rest | null | undefined) =>
    a
      ? {
          firstName: a.first_name,
          lastName: a.last_name,
          city: a.city,
          provinceCode: a.province_code,
          zip: a.zip,
          country: a.country,
          countryCodeV2: a.country_code,
          phone: a.phone,
        }
      : null;
  const c = r.customer as Rest | null;
  return {
    id: `gid://shopify/Order/${r.id}`,
    name: r.name,
    email: r.email,
    phone: r.phone,
    test: r.test,
    cancelledAt: r.cancelled_at ?? null,
    createdAt: r.created_at,
    processedAt: r.processed_at,
    updatedAt: opts.updatedAt ?? new Date().toISOString(),
    sourceName: r.source_name,
    clientIp: r.browser_ip ?? r.client_details?.browser_ip ?? null,
    statusPageUrl: r.order_status_url ?? null,
    displayFinancialStatus: opts.financialStatus ?? "PAID",
    currencyCode: r.currency,
    presentmentCurrencyCode: r.presentment_currency,
    totalPriceSet: set(r.total_price_set, r.total_price),
    subtotalPriceSet: set(r.subtotal_price_set, r.subtotal_price),
    customer: c
      ? {
          id: `gid://shopify/Customer/${c.id}`,
          email: c.email,
          phone: c.phone,
          firstName: c.first_name,
          lastName: c.last_name,
          defaultAddress: address(c.default_address as Rest | null),
        }
      : null,
    billingAddress: address(r.billing_address),
    shippingAddress: address(r.shipping_address),
    customAttributes: (r.note_attributes ?? []).map(
      (a: { name: string; value: string }) => ({ key: a.name, value: a.value }),
    ),
    customerJourneySummary: r.landing_site
      ? { firstVisit: { landingPage: r.landing_site } }
      : null,
    paymentTerms: null,
    lineItems:
      (r.line_items as Rest[] | undefined)?.map((l) => ({
        quantity: l.quantity,
        sku: l.sku,
        variant: l.variant_id
          ? { id: `gid://shopify/ProductVariant/${l.variant_id}` }
          : null,
        product: l.product_id
          ? { id: `gid://shopify/Product/${l.product_id}` }
          : null,
        originalUnitPriceSet: set(l.price_set as Rest | null, l.price),
      })) ?? [],
  };
}
