import type { RoutedRow } from "../outbox";
import type { RouteChannel, RouteFacts } from "../wire";

// What an outbox row says of itself for routing (decisions 130). A row does not know its Shopify Market: a market
// rule matches it by the market's countries.

const CHANNELS: Record<string, RouteChannel> = {
  pos: "pos",
  draft: "draft",
};

export function routeFacts(row: RoutedRow): RouteFacts {
  return {
    market: null,
    country: row.countryCode,
    currency: row.currency,
    // Storefront events, online orders and subscription renewals are the online store's.
    channel: (row.orderSource && CHANNELS[row.orderSource]) || "online_store",
  };
}
