// npm run demo: the whole pipeline on this machine, without any account.
//
//   npm run demo                     a local stand-in for Meta's Graph API (test/support/fakeGraph.ts) on 127.0.0.1
//   npm run demo -- --pixel-id P --access-token T|- --test-event-code C
//                                    the same journey to the real Graph API (META_GRAPH_API_URL, default
//                                    https://graph.facebook.com): it shows in Events Manager › Test events
//
// It migrates a fresh SQLite database in a temporary directory, builds the production server if build/ is missing
// (BUILD_PATH points at another build), starts it, connects a demo shop through the same connectShop as the Connect
// page, runs a storefront journey through the real web pixel bundle (in the strict-sandbox harness) and posts what
// the pixel posts to /ingest, sends a signed orders/paid webhook for the order of that checkout, waits until the
// dispatcher has delivered everything, prints what Meta received, then stops everything.
// Exit codes: 0 done, 1 something failed (the reason is printed), 2 bad arguments.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT, runPrisma } from "./db";
import prisma, { disconnect } from "../app/db.server";
import { connectDeps } from "../app/runtime.server";
import { matchKeysOf } from "../app/core/insights";
import { connectShop, sendTargets } from "../app/core/shops";
import { numericId } from "../app/core/wire";
import { pixelSettings } from "../app/webPixel.server";
import { freePort } from "../test/support/app";
import { startFakeGraph, type FakeGraph } from "../test/support/fakeGraph";
import { startPixel } from "../test/support/pixelSandbox";
import { sendWebhook } from "../test/support/shopifyWebhook";
import { makeOrder } from "../test/fixtures/order";
import {
  FIXTURE_EMAIL_NORMALISED,
  FIXTURE_PHONE,
  FIXTURE_SHOP,
  FIXTURE_URLS,
  FIXTURE_USER_AGENT,
  FIXTURE_VARIANTS,
  fixtureInit,
  purchaseJourney,
} from "../test/fixtures/pixelEvents";

const USAGE = `Usage: npm run demo [-- --pixel-id P --access-token T|- --test-event-code C]

  Without options: a local stand-in for Meta's Graph API, nothing leaves this machine.
  --pixel-id, --access-token, --test-event-code (all three): the same journey to the real Graph API
  (META_GRAPH_API_URL, default https://graph.facebook.com); see it in Events Manager › Test events.
  --access-token - reads the token from stdin (keeps it out of your shell history).`;

const DEMO_PIXEL = "1234567890123456";
const DEMO_TOKEN = "EAADemoLocalStandInToken0123456789";
/** A documentation address (RFC 5737): the visitor, as the load balancer reports it in X-Forwarded-For. */
const VISITOR_IP = "203.0.113.42";
const FBCLID = "IwAR1demoClickId_fromAnAd";

class UsageError extends Error {}
class DemoError extends Error {}

interface Options {
  real: { pixelId: string; accessToken: string; testEventCode: string } | null;
}

function readOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        "pixel-id": { type: "string" },
        "access-token": { type: "string" },
        "test-event-code": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const given = (
    ["pixel-id", "access-token", "test-event-code"] as const
  ).filter((k) => values[k] !== undefined);
  if (given.length === 0) return { real: null };
  const missing = (
    ["pixel-id", "access-token", "test-event-code"] as const
  ).filter((k) => !values[k]?.trim());
  if (missing.length) {
    throw new UsageError(
      `${missing.map((k) => `--${k}`).join(" and ")} ${missing.length > 1 ? "are" : "is"} missing: sending to Meta needs --pixel-id, --access-token and --test-event-code together (the test code keeps the demo in Events Manager › Test events)`,
    );
  }
  const accessToken =
    values["access-token"] === "-"
      ? readFileSync(0, "utf8").trim()
      : values["access-token"]!.trim();
  if (!accessToken)
    throw new UsageError("--access-token -: nothing was read from stdin");
  return {
    real: {
      pixelId: values["pixel-id"]!.trim(),
      accessToken,
      testEventCode: values["test-event-code"]!.trim(),
    },
  };
}

/** The order of the demo checkout, as Shopify's orders/paid webhook carries it (the fixture order, made to match). */
function demoOrder(orderId: string, checkoutToken: string) {
  const now = new Date().toISOString();
  const eur = (amount: string) => ({
    shop_money: { amount, currency_code: "EUR" },
    presentment_money: { amount, currency_code: "EUR" },
  });
  const address = {
    first_name: "Jane",
    last_name: "Doe",
    name: "Jane Doe",
    company: null,
    address1: "12 Rue de Rivoli",
    address2: null,
    city: "Paris",
    province: null,
    province_code: null,
    zip: "75004",
    country: "France",
    country_code: "FR",
    phone: FIXTURE_PHONE,
  };
  const line = (
    n: number,
    v: (typeof FIXTURE_VARIANTS)["tee"],
    quantity: number,
    price: string,
  ) => ({
    id: 15_000_000_000_000 + n,
    product_id: Number(numericId(v.product.id)),
    variant_id: Number(numericId(v.id)),
    sku: v.sku,
    title: v.product.title,
    quantity,
    price,
    price_set: eur(price),
  });
  return makeOrder({
    id: Number(orderId),
    admin_graphql_api_id: `gid://shopify/Order/${orderId}`,
    name: "#1001",
    checkout_token: checkoutToken,
    created_at: now,
    processed_at: now,
    landing_site: `/?fbclid=${FBCLID}`,
    referring_site: FIXTURE_URLS.googleReferrer,
    email: FIXTURE_EMAIL_NORMALISED,
    contact_email: FIXTURE_EMAIL_NORMALISED,
    phone: FIXTURE_PHONE,
    browser_ip: VISITOR_IP,
    client_details: {
      browser_ip: VISITOR_IP,
      user_agent: FIXTURE_USER_AGENT,
      accept_language: "fr-FR,fr;q=0.9",
    },
    note_attributes: [],
    currency: "EUR",
    presentment_currency: "EUR",
    subtotal_price: "109.90",
    total_price: "114.80",
    total_tax: "19.13",
    subtotal_price_set: eur("109.90"),
    total_price_set: eur("114.80"),
    total_tax_set: eur("19.13"),
    customer: {
      id: 7001,
      admin_graphql_api_id: "gid://shopify/Customer/7001",
      email: FIXTURE_EMAIL_NORMALISED,
      phone: FIXTURE_PHONE,
      first_name: "Jane",
      last_name: "Doe",
      default_address: address,
    },
    billing_address: address,
    shipping_address: address,
    line_items: [
      line(1, FIXTURE_VARIANTS.tee, 2, "25.00"),
      line(2, FIXTURE_VARIANTS.linen, 1, "59.90"),
    ],
    shipping_lines: [
      {
        code: "Standard",
        title: "Standard",
        price: "4.90",
        price_set: eur("4.90"),
      },
    ],
  });
}

function ensureBuild(): string {
  if (process.env.BUILD_PATH) return path.resolve(process.env.BUILD_PATH);
  const buildPath = path.join(ROOT, "build/server/index.js");
  if (!existsSync(buildPath)) {
    console.log("Building the production server (first run only, ~10 s)…");
    execFileSync(
      process.execPath,
      [
        path.join(ROOT, "node_modules/@remix-run/dev/dist/cli.js"),
        "vite:build",
      ],
      {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
  return buildPath;
}

async function waitReady(
  url: string,
  server: ChildProcess,
  logs: string[],
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null)
      throw new DemoError(
        `the server exited (${server.exitCode}):\n${logs.join("\n")}`,
      );
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DemoError(
    `the server did not start within 30 s:\n${logs.join("\n")}`,
  );
}

const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s.padEnd(n));

async function main(argv: string[]): Promise<void> {
  const options = readOptions(argv);
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await Promise.resolve(fn()).catch(() => undefined);
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    await run(options, cleanups);
  } finally {
    await cleanup();
  }
}

async function run(
  options: Options,
  cleanups: (() => Promise<unknown> | unknown)[],
): Promise<void> {
  const buildPath = ensureBuild();
  const dir = mkdtempSync(path.join(os.tmpdir(), "capi-demo-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const databaseUrl = `file:${path.join(dir, "demo.sqlite")}`;
  const migrated = await runPrisma(["migrate", "deploy"], databaseUrl);
  if (migrated.code !== 0)
    throw new DemoError(
      `prisma migrate deploy failed:\n${migrated.stderr || migrated.stdout}`,
    );

  let graph: FakeGraph | null = null;
  if (!options.real) {
    graph = await startFakeGraph();
    graph.addPixel(DEMO_PIXEL, {
      name: "Demo dataset (local stand-in)",
      token: DEMO_TOKEN,
    });
    cleanups.push(() => graph!.close());
  }
  const metaUrl =
    graph?.url ??
    (process.env.META_GRAPH_API_URL?.trim() || "https://graph.facebook.com");
  const apiSecret = randomBytes(24).toString("hex");

  // The app reads its configuration from the environment on first use: set it first.
  Object.assign(process.env, {
    DATABASE_URL: databaseUrl,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    META_GRAPH_API_URL: metaUrl,
  });
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  process.env.SHOPIFY_APP_URL = appUrl;
  cleanups.push(disconnect);

  console.log(`Starting the app on ${appUrl} (SQLite in ${dir})…`);
  const logs: string[] = [];
  const server = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? os.tmpdir(),
      NODE_ENV: "production",
      PORT: String(port),
      HOST_BIND: "127.0.0.1",
      BUILD_PATH: buildPath,
      DATABASE_URL: databaseUrl,
      SHOPIFY_API_KEY: "demo-api-key",
      SHOPIFY_API_SECRET: apiSecret,
      SHOPIFY_APP_URL: appUrl,
      SCOPES: "read_orders,write_pixels,read_customer_events",
      TOKEN_ENCRYPTION_KEY: process.env.TOKEN_ENCRYPTION_KEY!,
      META_GRAPH_API_URL: metaUrl,
      ...(process.env.META_GRAPH_API_VERSION
        ? { META_GRAPH_API_VERSION: process.env.META_GRAPH_API_VERSION }
        : {}),
      // The demo posts like a storefront behind one load balancer, which reports the visitor in X-Forwarded-For.
      TRUST_PROXY_HOPS: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const capture = (chunk: Buffer) =>
    logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
  server.stdout!.on("data", capture);
  server.stderr!.on("data", capture);
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (server.exitCode !== null) return resolve();
        server.once("exit", () => resolve());
        server.kill("SIGTERM");
      }),
  );
  await waitReady(appUrl, server, logs);

  // 1. Connect, exactly as the Connect page does: Meta checks the pixel and the token first.
  const pixelId = options.real?.pixelId ?? DEMO_PIXEL;
  const connected = await connectShop(prisma, connectDeps(), FIXTURE_SHOP, {
    pixelId,
    accessToken: options.real?.accessToken ?? DEMO_TOKEN,
    testEventCode: options.real?.testEventCode ?? "",
  });
  if (!connected.ok) {
    if ("fieldErrors" in connected)
      throw new UsageError(Object.values(connected.fieldErrors).join("\n"));
    const e = connected.error;
    if (e.code === null) {
      // No answer from Meta at all (network, DNS, timeout): the app's own hint is about queued events, not this.
      throw new DemoError(
        `${e.title}: no answer from ${metaUrl}. Check this machine's internet access (or META_GRAPH_API_URL); \`npm run demo\` without options runs offline.`,
      );
    }
    throw new DemoError(
      `Meta did not accept the connection (${metaUrl}): ${e.title}\n${e.fix}${e.fbtraceId ? `\nMeta reference (fbtrace_id): ${e.fbtraceId}` : ""}`,
    );
  }
  console.log(
    `Connected ${FIXTURE_SHOP} to dataset ${pixelId}${connected.pixelName ? ` ("${connected.pixelName}")` : ""} at ${metaUrl}.`,
  );

  // 2. The storefront: the real pixel bundle sees a visitor from an ad click go from the home page to the thank-you page.
  const shop = await prisma.shop.findUniqueOrThrow({
    where: { domain: FIXTURE_SHOP },
  });
  const orderId = String(Date.now());
  const checkoutToken = randomBytes(16).toString("hex");
  const landingHref = `${FIXTURE_URLS.home}?fbclid=${FBCLID}`;
  const pixel = await startPixel({
    settings: pixelSettings(shop, await sendTargets(prisma, shop)),
    init: fixtureInit({ href: landingHref }),
  });
  for (const step of purchaseJourney({
    landingHref,
    token: checkoutToken,
    orderId: `gid://shopify/OrderIdentity/${orderId}`,
  })) {
    await pixel.publish(step.name, step.event);
  }
  console.log(
    `\nStorefront journey (web pixel, consent granted): ${pixel.appPosts().length} posts to ${appUrl}/ingest`,
  );
  for (const post of pixel.appPosts()) {
    const res = await fetch(post.url, {
      method: "POST",
      body: post.body,
      headers: {
        "Content-Type": "text/plain;charset=UTF-8",
        "User-Agent": FIXTURE_USER_AGENT,
        "X-Forwarded-For": VISITOR_IP,
      },
    });
    const answer = (await res.json()) as { outcome?: string; error?: string };
    const sent = JSON.parse(post.body) as { event?: { event_name: string } };
    console.log(
      `  ${pad(sent.event?.event_name ?? "consent", 18)} → ${res.status} ${answer.outcome ?? answer.error}`,
    );
    if (res.status !== 202)
      throw new DemoError(
        `the app refused a pixel post: ${res.status} ${answer.error}`,
      );
  }
  const browser = pixel.metaRequests().map((r) => ({
    ev: r.params.get("ev") ?? "",
    eid: r.params.get("eid") ?? "",
  }));

  // 3. Shopify: the order of that checkout is paid.
  const res = await sendWebhook(appUrl, {
    topic: "orders/paid",
    shop: FIXTURE_SHOP,
    body: demoOrder(orderId, checkoutToken),
    secret: apiSecret,
  });
  const answer = (await res.json()) as {
    outcome: string;
    status: string | null;
    reason: string | null;
  };
  console.log(
    `\nSigned orders/paid webhook for order ${orderId} → ${res.status} ${answer.outcome}${answer.status ? ` (${answer.status})` : ""}`,
  );
  if (res.status !== 200 || answer.outcome !== "accepted")
    throw new DemoError(
      `the order was not accepted: ${JSON.stringify(answer)}`,
    );

  // 4. The dispatcher sends everything; wait until no event of the shop is left to send.
  const deadline = Date.now() + (options.real ? 90_000 : 30_000);
  for (;;) {
    const open = await prisma.outboxEvent.count({
      where: {
        shopId: shop.id,
        status: { in: ["held", "pending", "sending"] },
      },
    });
    const current = await prisma.shop.findUniqueOrThrow({
      where: { id: shop.id },
    });
    if (current.pausedReason)
      throw new DemoError(
        `sending was paused: ${current.pausedDetail ?? current.pausedReason}`,
      );
    if (open === 0) break;
    if (Date.now() > deadline)
      throw new DemoError(
        `${open} event(s) still waiting to be sent after ${options.real ? 90 : 30} s`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  const rows = await prisma.outboxEvent.findMany({
    where: { shopId: shop.id },
    orderBy: { eventTime: "asc" },
  });
  const notSent = rows.filter((r) => r.status !== "sent");

  // 5. What Meta received: the stand-in's record, or what Meta acknowledged.
  const received = graph
    ? graph.eventsReceived(pixelId).map((e) => ({
        name: e.event_name,
        id: e.event_id,
        keys: matchKeysOf(e.user_data),
        extra:
          e.custom_data?.value !== undefined
            ? `${e.custom_data.value} ${e.custom_data.currency}`
            : "",
      }))
    : rows
        .filter((r) => r.status === "sent")
        .map((r) => {
          const e = r.payload as unknown as {
            event_name: string;
            event_id: string;
            user_data: Parameters<typeof matchKeysOf>[0];
            custom_data?: { value?: number; currency?: string };
          };
          const keys = matchKeysOf(e.user_data);
          if (r.sentWithIp) keys.push("client_ip_address");
          if (r.sentWithUserAgent) keys.push("client_user_agent");
          return {
            name: e.event_name,
            id: e.event_id,
            keys,
            extra:
              e.custom_data?.value !== undefined
                ? `${e.custom_data.value} ${e.custom_data.currency}`
                : "",
          };
        });
  const where = graph
    ? `the local Meta stand-in (${graph.url})`
    : `Meta (${metaUrl}, test_event_code ${options.real!.testEventCode})`;
  console.log(
    `\nWhat ${where} received for dataset ${pixelId}: ${received.length} server event(s)`,
  );
  console.log(
    `  ${pad("event", 18)}${pad("event_id (server)", 44)}${pad("browser eid", 10)}match keys`,
  );
  let paired = 0;
  for (const e of received) {
    const dedup = browser.some((b) => b.ev === e.name && b.eid === e.id);
    if (dedup) paired++;
    console.log(
      `  ${pad(e.name, 18)}${pad(e.id, 44)}${pad(dedup ? "= same" : "none", 10)}${e.keys.join(" ")}${e.extra ? `  [${e.extra}]` : ""}`,
    );
  }
  console.log(
    `\nDeduplication: ${paired} of ${received.length} server events have a browser pixel event (image pixel \`eid\`) with the same event name and id:`,
  );
  for (const b of browser)
    console.log(
      `  browser ${pad(b.ev, 18)} eid=${pad(b.eid, 44)} ↔ server event_id ${received.some((e) => e.name === b.ev && e.id === b.eid) ? b.eid : "(none)"}`,
    );
  if (!graph) {
    const acks = [
      ...new Set(
        rows.filter((r) => r.lastFbtraceId).map((r) => r.lastFbtraceId),
      ),
    ];
    console.log(
      `\nOpen Events Manager › your dataset › Test events (code ${options.real!.testEventCode}). Meta's fbtrace_id(s): ${acks.join(", ")}`,
    );
    console.log(
      "The browser pixel requests above are what the storefront would send; this demo sends only the server events.",
    );
  }
  if (notSent.length) {
    throw new DemoError(
      `${notSent.length} event(s) were not sent:\n${notSent.map((r) => `  ${r.eventName} ${r.eventId}: ${r.status}${r.suppressReason ? ` (${r.suppressReason})` : ""}${r.lastErrorMessage ? ` ${r.lastErrorMessage}` : ""}`).join("\n")}`,
    );
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(
      `demo failed: ${err instanceof DemoError ? err.message : ((err as Error).stack ?? String(err))}`,
    );
    process.exit(1);
  },
);
