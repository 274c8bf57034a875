import path from "node:path";
import prisma, { sqlStore } from "./db.server";
import type { Shop } from "./capi/db";
import { graphConfigFromEnv } from "./capi/graphClient";
import { loadKeyRing, type KeyRing } from "./capi/tokenCrypto";
import { Dispatcher } from "./capi/dispatcher";
import type { ConnectDeps } from "./capi/shopConfig";
import { notifyPause } from "./capi/pauseNotice";
import { mailerFromEnv } from "./mailer.server";

// Process-wide configuration read once from the environment, shared by the web server, the worker and the ops CLI.

export function intEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min} (got "${raw}")`);
  return n;
}

export const isProduction = process.env.NODE_ENV === "production";

export const config = {
  purchaseHoldSeconds: intEnv("PURCHASE_HOLD_SECONDS", 60),
  trustProxyHops: intEnv("TRUST_PROXY_HOPS", 0),
  dispatcherInProcess: (process.env.DISPATCHER_IN_PROCESS ?? "true") !== "false",
  retryBaseMs: intEnv("RETRY_BASE_MS", 2_000, 1),
  rateLimitBaseMs: intEnv("RATE_LIMIT_BASE_MS", 60_000, 1),
  leaseMs: intEnv("DISPATCHER_LEASE_MS", 60_000, 100),
  batchSize: Math.min(intEnv("DISPATCHER_BATCH_SIZE", 1000, 1), 1000),
  concurrency: intEnv("DISPATCHER_CONCURRENCY", 4, 1),
  appUrl: process.env.SHOPIFY_APP_URL ?? "",
};

let ring: KeyRing | undefined;
/** Loaded lazily so that a missing production key fails the first use with a clear message (and `start` checks it up front). */
export function keyRing(): KeyRing {
  ring ??= loadKeyRing(process.env, {
    production: isProduction,
    devKeyFile: path.resolve(process.env.DEV_KEY_FILE ?? ".data/dev-token-key"),
  });
  return ring;
}

export function graphFor(shop: Pick<Shop, "graphApiVersion">) {
  return graphConfigFromEnv(process.env, { version: shop.graphApiVersion });
}

export function connectDeps(): ConnectDeps {
  return { keyRing: keyRing(), graph: (version) => graphConfigFromEnv(process.env, { version }) };
}

/** The app in the shop's admin (Shopify redirects this address to the embedded app). */
function adminUrl(domain: string): string {
  return `https://${domain}/admin/apps/${process.env.SHOPIFY_API_KEY ?? ""}`;
}

export function createDispatcher(): Dispatcher {
  const mailer = mailerFromEnv(process.env);
  return new Dispatcher({
    db: prisma,
    store: sqlStore(),
    keyRing: keyRing(),
    graph: graphFor,
    retryBaseMs: config.retryBaseMs,
    rateLimitBaseMs: config.rateLimitBaseMs,
    leaseMs: config.leaseMs,
    batchSize: config.batchSize,
    concurrency: config.concurrency,
    // Not awaited: a slow mail server must not hold up the dispatcher's other shops.
    onPause: mailer
      ? (shop, failure) => {
          notifyPause(prisma, mailer, shop, failure, { adminUrl: adminUrl(shop.domain) }).then(
            (outcome) => outcome === "sent" && console.log(`[notice] ${shop.domain}: pause notice e-mailed to the shop`),
            (err: Error) => console.error(`[notice] ${shop.domain}: the pause notice could not be sent: ${err.message}`),
          );
        }
      : undefined,
  });
}

declare global {
  // eslint-disable-next-line no-var
  var capiDispatcher: Dispatcher | undefined;
}

/** The dispatcher of this web process, when it runs one (DISPATCHER_IN_PROCESS, default true). */
export function startInProcessDispatcher(): Dispatcher | null {
  if (!config.dispatcherInProcess) return null;
  global.capiDispatcher ??= createDispatcher();
  global.capiDispatcher.start();
  return global.capiDispatcher;
}

/** Lets a web request's new event skip the dispatcher's poll wait. */
export function wakeDispatcher(): void {
  global.capiDispatcher?.wake();
}
