import prisma from "./db.server";
import type { Db, Shop } from "./core/db";
import { parseSettings } from "./core/reference";
import {
  recordWebPixel,
  routes,
  sendTargets,
  type SendTarget,
} from "./core/shops";
import { config } from "./runtime.server";

// Creates or updates the shop's web pixel (webPixelCreate / webPixelUpdate) with the settings the extension's
// [settings] declare. Runs after install, on every settings change, on admin load when stale, and from the ops CLI.

export type AdminGraphql = (
  query: string,
  options?: { variables?: Record<string, unknown> },
) => Promise<Response>;

/**
 * The pixel's settings. `targets`: the shop's datasets (shops' sendTargets); a shop that routes gets their public
 * (dataset id, rule) pairs, never a token (decisions 136).
 */
export function pixelSettings(
  shop: Shop,
  targets: SendTarget[],
): Record<string, string> {
  const s = parseSettings(shop.settings);
  const custom = [
    s.customEvents.collectionViewed && "collection_viewed",
    s.customEvents.cartViewed && "cart_viewed",
  ].filter(Boolean);
  return {
    pixelId: shop.pixelId ?? "",
    datasets: routes(targets)
      ? JSON.stringify(
          targets
            .filter((t) => t.pixelId)
            .map((t) => ({ id: t.pixelId, rule: t.rule })),
        )
      : "",
    ingestUrl: `${config().appUrl.replace(/\/$/, "")}/ingest`,
    shopKey: shop.ingestKey,
    browserPixel: String(s.browserPixel),
    contentIdFormat: s.contentIdFormat,
    catalogCountry: s.catalogCountry,
    valueMode: s.valueMode,
    customEvents: custom.join(","),
  };
}

const CREATE = `#graphql
mutation webPixelCreate($webPixel: WebPixelInput!) {
  webPixelCreate(webPixel: $webPixel) { userErrors { code field message } webPixel { id settings } }
}`;
const UPDATE = `#graphql
mutation webPixelUpdate($id: ID!, $webPixel: WebPixelInput!) {
  webPixelUpdate(id: $id, webPixel: $webPixel) { userErrors { code field message } webPixel { id settings } }
}`;
const QUERY = `#graphql
query { webPixel { id settings } }`;

interface UserError {
  code?: string;
  message: string;
}
interface PixelPayload {
  userErrors: UserError[];
  webPixel: { id: string } | null;
}

/** One Admin GraphQL call; throws with the API's errors when it answers without data. */
export async function adminQuery<T>(
  graphql: AdminGraphql,
  query: string,
  variables?: Record<string, unknown>,
): Promise<T> {
  const res = await graphql(query, variables ? { variables } : undefined);
  const json = (await res.json()) as { data?: T; errors?: unknown };
  if (!json.data)
    throw new Error(
      `Shopify Admin API error: ${JSON.stringify(json.errors ?? "no data").slice(0, 300)}`,
    );
  return json.data;
}

const RECONCILE_EVERY_MS = 6 * 3_600_000;
const RETRY_FAILED_AFTER_MS = 10 * 60_000;
const lastAttempt = new Map<string, number>();

type SyncResult = { ok: boolean; error?: string };
type Synced = { settings: string; result: SyncResult };
/** Each shop's last sync started in this process: the next one waits for it (decisions 183). */
const queue = new Map<string, Promise<Synced>>();

/**
 * Makes the shop's web pixel match its settings; records the outcome on the shop row for the admin. One sync per shop
 * at a time in this process, and one that waited for a successful sync of the same settings takes its result instead
 * of asking Shopify again: an install's sync and the first admin page's reconcile start side by side, and each
 * created the pixel (decisions 183).
 */
export function syncWebPixel(
  shop: Shop,
  graphql: AdminGraphql,
  db: Db = prisma,
): Promise<SyncResult> {
  const before = queue.get(shop.id);
  const run = (async (): Promise<Synced> => {
    const prior = await before?.catch(() => undefined);
    const settings = JSON.stringify(
      pixelSettings(shop, await sendTargets(db, shop)),
    );
    if (prior?.settings === settings && prior.result.ok) return prior;
    return {
      settings,
      result: await pushWebPixel(shop, graphql, db, { settings }),
    };
  })();
  queue.set(shop.id, run);
  const done = () => {
    if (queue.get(shop.id) === run) queue.delete(shop.id);
  };
  run.then(done, done);
  return run.then((r) => r.result);
}

async function pushWebPixel(
  shop: Shop,
  graphql: AdminGraphql,
  db: Db,
  webPixel: { settings: string },
): Promise<SyncResult> {
  try {
    let id = shop.webPixelId;
    let result: PixelPayload | null = null;
    if (id) {
      result = (
        await adminQuery<{ webPixelUpdate: PixelPayload }>(graphql, UPDATE, {
          id,
          webPixel,
        })
      ).webPixelUpdate;
      // The stored id is stale (the pixel was deleted in the admin): "reconnect pixel" must create it again.
      if (result.userErrors.some((e) => e.code === "NOT_FOUND")) {
        id = null;
        result = null;
      }
    }
    if (!result) {
      result = (
        await adminQuery<{ webPixelCreate: PixelPayload }>(graphql, CREATE, {
          webPixel,
        })
      ).webPixelCreate;
      if (result.userErrors.some((e) => e.code === "TAKEN")) {
        // The pixel exists already (a reinstall, or a lost id): find it and update it instead.
        id =
          (
            await adminQuery<{ webPixel: { id: string } | null }>(
              graphql,
              QUERY,
            )
          ).webPixel?.id ?? null;
        if (id)
          result = (
            await adminQuery<{ webPixelUpdate: PixelPayload }>(
              graphql,
              UPDATE,
              { id, webPixel },
            )
          ).webPixelUpdate;
      }
    }
    const error = result.userErrors.map((e) => e.message).join("; ") || null;
    await recordWebPixel(db, shop.id, {
      webPixelId: result.webPixel?.id ?? id,
      webPixelSyncedAt: error ? shop.webPixelSyncedAt : new Date(),
      webPixelError: error,
    });
    return error ? { ok: false, error } : { ok: true };
  } catch (err) {
    const error = (err as Error).message.slice(0, 500);
    await recordWebPixel(db, shop.id, { webPixelError: error });
    return { ok: false, error };
  }
}

/**
 * Called on admin page loads (decisions 18): re-syncs a missing or stale pixel, at most every few minutes per shop
 * and process, so a failing Shopify call never slows every page view.
 */
export async function reconcileWebPixel(
  shop: Shop,
  graphql: AdminGraphql,
): Promise<void> {
  const fresh =
    shop.webPixelId &&
    shop.webPixelSyncedAt &&
    Date.now() - shop.webPixelSyncedAt.getTime() < RECONCILE_EVERY_MS;
  if (
    fresh ||
    Date.now() - (lastAttempt.get(shop.id) ?? 0) < RETRY_FAILED_AFTER_MS
  )
    return;
  lastAttempt.set(shop.id, Date.now());
  await syncWebPixel(shop, graphql);
}
