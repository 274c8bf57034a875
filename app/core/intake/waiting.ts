import { isInsideWindow, type Outbox } from "../outbox";
import { parseSettings, type ShopSettings } from "../reference";
import { release } from "./release";
import { linkShopper } from "./shopperLink";

// The release rule (release.ts) for rows already waiting in the outbox: the end of a Purchase's hold, a consent
// policy change, and the orders kept before Connect.

const HELD_PAGE = 1_000;

/**
 * The hold timer: the held rows whose wait for browser context is over are released, with the context that came
 * meanwhile. It finishes an order's intake; the dispatcher runs it among its housekeeping. Each page is read with
 * its contexts in one query and written in one statement (the rule runs per row in memory), page after page until
 * none is due, so releases keep up with intake (decisions 86). Returns how many rows were due.
 */
export async function releaseDueHeld(
  outbox: Outbox,
  now = new Date(),
): Promise<number> {
  const settings = new Map<string, ShopSettings>();
  const settingsOf = (shopId: string, raw: unknown) => {
    let parsed = settings.get(shopId);
    if (!parsed) settings.set(shopId, (parsed = parseSettings(raw)));
    return parsed;
  };
  let due = 0;
  for (;;) {
    // The browsers of the page's released Purchases: linked to their order's shopper once the page is written.
    const released: Parameters<typeof linkShopper>[] = [];
    const page = await outbox.releaseDueHeld(now, HELD_PAGE, (rows) =>
      rows.map(({ row, shopId, context, settings: raw, salesCountry }) => {
        const { update, contextUsed } = release(
          row,
          context,
          settingsOf(shopId, raw),
          now,
          salesCountry,
        );
        released.push([outbox, shopId, context, update!, now]);
        // The status guard keeps a concurrent merge (which releases the row itself) from being overwritten.
        return {
          id: row.id,
          from: row.status,
          update: update!,
          contextId: contextUsed ? context!.id : null,
        };
      }),
    );
    for (const args of released) await linkShopper(...args);
    due += page;
    if (page < HELD_PAGE) return due;
  }
}

const REDECIDE_PAGE = 1_000;

/**
 * Re-decides consent for a shop's rows not yet sent, after the merchant changed the consent policy. Read a page
 * at a time: a paused shop's backlog can be large. Rows in flight at that moment (`sending`) go as decided before.
 */
export async function redecidePending(
  outbox: Outbox,
  shop: { id: string; settings: ShopSettings; salesCountry: string | null },
  now = new Date(),
): Promise<number> {
  let changed = 0;
  for (let after: string | null = null; ;) {
    const rows = await outbox.pendingPage(shop.id, after, REDECIDE_PAGE);
    const releases = rows.flatMap((row) => {
      const { update } = release(
        row,
        null,
        shop.settings,
        now,
        shop.salesCountry,
      );
      return update
        ? [{ id: row.id, from: row.status, update, contextId: null }]
        : [];
    });
    changed += await outbox.applyReleases(releases, now);
    if (rows.length < REDECIDE_PAGE) return changed;
    after = rows[rows.length - 1].id;
  }
}

/** After Connect: orders kept as `not_connected` that are still inside Meta's window can be sent (decisions 9). */
export async function releaseNotConnected(
  outbox: Outbox,
  shop: { id: string; settings: ShopSettings; salesCountry: string | null },
  now = new Date(),
): Promise<number> {
  const rows = (await outbox.keptBeforeConnect(shop.id)).filter((row) =>
    isInsideWindow(row, now),
  );
  const releases = rows.map((row) => ({
    id: row.id,
    from: row.status,
    update: release(row, null, shop.settings, now, shop.salesCountry).update!,
    contextId: null,
  }));
  await outbox.applyReleases(releases, now);
  return releases.filter((r) => r.update.status === "pending").length;
}
