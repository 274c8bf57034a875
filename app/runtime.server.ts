import path from "node:path";
import prisma, { outbox, workSignal } from "./db.server";
import type { Shop } from "./core/db";
import { graphConfigFromEnv } from "./core/meta";
import { loadKeyRing, type ConnectDeps, type KeyRing } from "./core/shops";
import { Dispatcher, notifyPause } from "./core/delivery";
import { releaseDueHeld } from "./core/intake";
import { runDueChecks, type CheckDeps } from "./core/checks";
import { mailerFromEnv } from "./mailer.server";

// Process-wide configuration read once from the environment, shared by the web server, the worker and the ops CLI.
// Read on first use, not at import: the production server and the worker read it as they start, so a bad value
// still stops them with its message.

export function intEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be a whole number ≥ ${min} (got "${raw}")`);
  return n;
}

function readConfig() {
  return {
    purchaseHoldSeconds: intEnv("PURCHASE_HOLD_SECONDS", 60),
    trustProxyHops: intEnv("TRUST_PROXY_HOPS", 0),
    dispatcherInProcess:
      (process.env.DISPATCHER_IN_PROCESS ?? "true") !== "false",
    retryBaseMs: intEnv("RETRY_BASE_MS", 2_000, 1),
    rateLimitBaseMs: intEnv("RATE_LIMIT_BASE_MS", 60_000, 1),
    leaseMs: intEnv("DISPATCHER_LEASE_MS", 60_000, 100),
    batchSize: Math.min(intEnv("DISPATCHER_BATCH_SIZE", 1000, 1), 1000),
    concurrency: intEnv("DISPATCHER_CONCURRENCY", 4, 1),
    pollMs: intEnv("DISPATCHER_POLL_MS", 250, 10),
    appUrl: process.env.SHOPIFY_APP_URL ?? "",
    // decisions 76: every connected shop's orders are read back from Shopify this often.
    reconcileIntervalSeconds: intEnv("RECONCILE_INTERVAL_SECONDS", 900),
    // How often due dataset checks are looked for; each dataset is checked once a day (decisions 126).
    datasetCheckPollMs: intEnv("DATASET_CHECK_POLL_MS", 10 * 60_000, 100),
  };
}

let settings: ReturnType<typeof readConfig> | undefined;
export function config(): ReturnType<typeof readConfig> {
  return (settings ??= readConfig());
}

let ring: KeyRing | undefined;
/** Loaded lazily so that a missing production key fails the first use with a clear message (and `start` checks it up front). */
export function keyRing(): KeyRing {
  ring ??= loadKeyRing(process.env, {
    production: process.env.NODE_ENV === "production",
    devKeyFile: path.resolve(process.env.DEV_KEY_FILE ?? ".data/dev-token-key"),
  });
  return ring;
}

function graphFor(shop: Pick<Shop, "graphApiVersion">) {
  return graphConfigFromEnv(process.env, { version: shop.graphApiVersion });
}

export function connectDeps(): ConnectDeps {
  return {
    keyRing: keyRing(),
    graph: (version) => graphConfigFromEnv(process.env, { version }),
  };
}

/** The app in the shop's admin (Shopify redirects this address to the embedded app). */
function adminUrl(domain: string): string {
  return `https://${domain}/admin/apps/${process.env.SHOPIFY_API_KEY ?? ""}`;
}

export function createDispatcher(): Dispatcher {
  const { retryBaseMs, rateLimitBaseMs, leaseMs, batchSize, concurrency } =
    config();
  const signal = workSignal();
  const mailer = mailerFromEnv(process.env);
  return new Dispatcher({
    db: prisma,
    outbox: outbox(),
    releaseHeld: (now) => releaseDueHeld(outbox(), now),
    keyRing: keyRing(),
    graph: graphFor,
    retryBaseMs,
    rateLimitBaseMs,
    leaseMs,
    batchSize,
    concurrency,
    pollMs: config().pollMs,
    listenForWork: signal
      ? (wake) => signal.listen(wake, (line) => console.error(line))
      : undefined,
    // Not awaited: a slow mail server must not hold up the dispatcher's other shops.
    onPause: mailer
      ? (shop, target, failure) => {
          const who = target.own
            ? shop.domain
            : `${shop.domain} (dataset ${target.pixelId})`;
          notifyPause(prisma, mailer, shop, target, failure, {
            adminUrl: adminUrl(shop.domain),
          }).then(
            (outcome) =>
              outcome === "sent" &&
              console.log(`[notice] ${who}: pause notice e-mailed to the shop`),
            (err: Error) =>
              console.error(
                `[notice] ${who}: the pause notice could not be sent: ${err.message}`,
              ),
          );
        }
      : undefined,
  });
}

/** What the dataset checks (daily and the admin's "Check now") run with. */
export function checkDeps(): CheckDeps {
  return {
    db: prisma,
    keyRing: keyRing(),
    graph: (version) => graphConfigFromEnv(process.env, { version }),
    mailer: mailerFromEnv(process.env),
    adminUrl,
    log: (line) => console.log(line),
  };
}

/**
 * Runs the due dataset checks every DATASET_CHECK_POLL_MS in the processes that send; returns its stop. Not at
 * start: a restart (a deploy, several at once) does not add Graph requests to the backlog's first minutes.
 */
export function startDatasetChecks(): () => void {
  const deps = checkDeps();
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    runDueChecks(deps)
      .catch((err: Error) => console.error(`[checks] ${err.message}`))
      .finally(() => (running = false));
  };
  const timer = setInterval(tick, config().datasetCheckPollMs);
  timer.unref();
  return () => clearInterval(timer);
}

declare global {
  var capiDispatcher: Dispatcher | undefined;
}

/** The dispatcher of this web process, when it runs one (DISPATCHER_IN_PROCESS, default true). */
export function startInProcessDispatcher(): Dispatcher | null {
  if (!config().dispatcherInProcess) return null;
  global.capiDispatcher ??= createDispatcher();
  global.capiDispatcher.start();
  return global.capiDispatcher;
}

/** Lets a web request's new event skip the poll wait of this process's dispatcher, and of every other's (decisions 88). */
export function wakeDispatcher(): void {
  global.capiDispatcher?.wake();
  workSignal()?.notify();
}
