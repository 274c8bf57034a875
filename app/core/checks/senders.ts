import type { Db, Prisma } from "../db";
import type { SendTarget } from "../shops";
import {
  pixelEventCounts,
  type GraphConfig,
  type GraphFailure,
  type StatsSource,
} from "../meta";

// Another sender on the same dataset (decisions 127): per event name and UTC day, what Meta counted from servers
// and from browsers beside what this app sent or saw. A second integration sending the same events shows as Meta
// counting about twice what the app sent.

export const SECOND_SENDER = {
  /** Complete UTC days compared: yesterday and the two before (Meta's stats keep 7 days). */
  days: 3,
  /** Meta counts at least this many times what the app accounts for... */
  ratio: 1.5,
  /** ...and at least this many events more, so that a few stray test events on a quiet day do not warn. */
  minExtra: 10,
} as const;

export interface SenderFlag {
  /** YYYY-MM-DD (UTC). */
  day: string;
  eventName: string;
  source: "server" | "browser";
  /** What Meta counted. */
  meta: number;
  /** What the app sent (server) or saw from the storefront pixel (browser). */
  ours: number;
}

const DAY_MS = 86_400_000;
const SOURCES: [StatsSource, SenderFlag["source"]][] = [
  ["SERVER_ONLY", "server"],
  ["WEB_ONLY", "browser"],
];

/**
 * The (day, event, source) where Meta counted clearly more than the app accounts for, or Meta's refusal.
 * Server: the app's events Meta accepted, by event time. Browser: with the browser pixel on, each event the app
 * handled had at most one browser copy (same event id); with it off, none. Both count the dataset's own rows only
 * (decisions 161).
 */
export async function compareSenders(
  db: Db,
  cfg: GraphConfig,
  shop: {
    shopId: string;
    target: Pick<SendTarget, "id" | "own"> & { pixelId: string };
    browserPixel: boolean;
  },
  token: string,
  now: Date,
): Promise<
  { ok: true; flags: SenderFlag[] } | { ok: false; failure: GraphFailure }
> {
  const { target } = shop;
  // A routed event is a row per dataset; rows not routed yet count as the own dataset's (decisions 131, 135).
  const rows: Prisma.OutboxEventWhereInput = target.own
    ? { OR: [{ destinationId: null }, { destinationId: target.id }] }
    : { destinationId: target.id };
  const end = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const start = new Date(end.getTime() - SECOND_SENDER.days * DAY_MS);
  const flags: SenderFlag[] = [];
  for (const [statsSource, source] of SOURCES) {
    const counted = await pixelEventCounts(cfg, target.pixelId, token, {
      source: statsSource,
      start,
      end,
    });
    if (!counted.ok) return counted;
    const meta = new Map<string, number>();
    for (const c of counted.value) {
      if (c.hour < start || c.hour >= end) continue;
      const key = `${c.hour.toISOString().slice(0, 10)}|${c.eventName}`;
      meta.set(key, (meta.get(key) ?? 0) + c.count);
    }
    for (const [key, metaCount] of meta) {
      const [day, eventName] = key.split("|");
      const dayStart = new Date(`${day}T00:00:00Z`);
      const ours =
        source === "browser" && !shop.browserPixel
          ? 0
          : await db.outboxEvent.count({
              where: {
                shopId: shop.shopId,
                ...rows,
                eventName,
                eventTime: {
                  gte: dayStart,
                  lt: new Date(dayStart.getTime() + DAY_MS),
                },
                status: source === "server" ? "sent" : { not: "suppressed" },
              },
            });
      if (
        metaCount >= ours * SECOND_SENDER.ratio &&
        metaCount - ours >= SECOND_SENDER.minExtra
      )
        flags.push({ day, eventName, source, meta: metaCount, ours });
    }
  }
  flags.sort(
    (a, b) => b.day.localeCompare(a.day) || b.meta - b.ours - (a.meta - a.ours),
  );
  return { ok: true, flags };
}
