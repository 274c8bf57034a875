// Which of a shop's Meta datasets an event goes to (decisions 130). Shared by the server, which routes each event
// when it is sent, and the web pixel, which sends its browser copy to the same datasets: one copy of the rule.

export const ROUTE_KINDS = [
  "all",
  "market",
  "country",
  "currency",
  "channel",
] as const;

export const ROUTE_CHANNELS = ["online_store", "pos", "draft"] as const;
export type RouteChannel = (typeof ROUTE_CHANNELS)[number];

/**
 * All orders, or those of some Shopify Markets (by handle; `countries` are the markets' countries when the rule
 * was saved, for an event that does not say its market), countries (ISO 3166 alpha-2), currencies (ISO 4217) or
 * sales channels. Codes are upper case, market handles as Shopify writes them.
 */
export type RoutingRule =
  | { kind: "all" }
  | { kind: "market"; values: string[]; countries: string[] }
  | { kind: "country" | "currency"; values: string[] }
  | { kind: "channel"; values: RouteChannel[] };

/** What an event says of itself for routing; null where it does not know. */
export interface RouteFacts {
  market: string | null;
  country: string | null;
  currency: string | null;
  channel: RouteChannel;
}

export const ALL_ORDERS: RoutingRule = { kind: "all" };

/** Whether an event with these facts goes to the dataset with this rule. An unknown fact matches no list. */
export function matchesRule(rule: RoutingRule, facts: RouteFacts): boolean {
  switch (rule.kind) {
    case "all":
      return true;
    case "market":
      return facts.market !== null
        ? rule.values.includes(facts.market)
        : facts.country !== null && rule.countries.includes(facts.country);
    case "country":
      return facts.country !== null && rule.values.includes(facts.country);
    case "currency":
      return facts.currency !== null && rule.values.includes(facts.currency);
    case "channel":
      return rule.values.includes(facts.channel);
  }
}

/** The destinations an event goes to, in the order given. */
export function route<T extends { id: string; rule: RoutingRule }>(
  destinations: readonly T[],
  facts: RouteFacts,
): T[] {
  return destinations.filter((d) => matchesRule(d.rule, facts));
}
