import { describe, expect, it } from "vitest";
import {
  matchesRule,
  route,
  type RouteFacts,
  type RoutingRule,
} from "../../app/core/wire";
import { parseRoutingRule, routingRuleSchema } from "../../app/core/reference";
import { routeFacts } from "../../app/core/delivery/routeFacts";

// A destination's routing rule (decisions 130): the matcher the dispatcher and the web pixel share, the schema the
// admin and the ops CLI check a rule with, and what an outbox row says of itself.

const facts = (f: Partial<RouteFacts>): RouteFacts => ({
  market: null,
  country: null,
  currency: null,
  channel: "online_store",
  ...f,
});

const canada: RoutingRule = {
  kind: "market",
  values: ["canada"],
  countries: ["CA"],
};

const TABLE: [string, RoutingRule, RouteFacts, boolean][] = [
  ["all orders: anything", { kind: "all" }, facts({}), true],
  [
    "market by handle",
    canada,
    facts({ market: "canada", country: "US" }),
    true,
  ],
  [
    "another market's handle wins over the country",
    canada,
    facts({ market: "usa", country: "CA" }),
    false,
  ],
  [
    "market by its countries when the event does not say",
    canada,
    facts({ country: "CA" }),
    true,
  ],
  ["market: another country", canada, facts({ country: "FR" }), false],
  ["market: nothing known", canada, facts({}), false],
  [
    "country listed",
    { kind: "country", values: ["DE", "AT"] },
    facts({ country: "AT" }),
    true,
  ],
  [
    "country not listed",
    { kind: "country", values: ["DE", "AT"] },
    facts({ country: "CH" }),
    false,
  ],
  ["country unknown", { kind: "country", values: ["DE"] }, facts({}), false],
  [
    "currency listed",
    { kind: "currency", values: ["EUR"] },
    facts({ currency: "EUR" }),
    true,
  ],
  [
    "currency not listed",
    { kind: "currency", values: ["EUR"] },
    facts({ currency: "CAD" }),
    false,
  ],
  ["currency unknown", { kind: "currency", values: ["EUR"] }, facts({}), false],
  [
    "channel: online store",
    { kind: "channel", values: ["online_store"] },
    facts({}),
    true,
  ],
  [
    "channel: POS only",
    { kind: "channel", values: ["pos"] },
    facts({ channel: "online_store" }),
    false,
  ],
  [
    "channel: POS and drafts",
    { kind: "channel", values: ["pos", "draft"] },
    facts({ channel: "draft" }),
    true,
  ],
];

describe("routing rules", () => {
  it.each(TABLE)("%s", (_, rule, f, expected) => {
    expect(matchesRule(rule, f)).toBe(expected);
  });

  it("routes to every matching destination, in order", () => {
    const destinations = [
      { id: "eu", rule: { kind: "country", values: ["DE"] } as RoutingRule },
      { id: "all", rule: { kind: "all" } as RoutingRule },
      { id: "ca", rule: canada },
    ];
    expect(
      route(destinations, facts({ country: "DE" })).map((d) => d.id),
    ).toEqual(["eu", "all"]);
    expect(
      route(destinations, facts({ country: "CA" })).map((d) => d.id),
    ).toEqual(["all", "ca"]);
    expect(route(destinations.slice(0, 1), facts({ country: "US" }))).toEqual(
      [],
    );
  });

  it("checks a rule at the edge: codes upper-cased, lists not empty, kinds known", () => {
    expect(
      routingRuleSchema.parse({ kind: "country", values: ["de", "at", "DE"] }),
    ).toEqual({
      kind: "country",
      values: ["DE", "AT"],
    });
    expect(
      routingRuleSchema.safeParse({ kind: "country", values: [] }).success,
    ).toBe(false);
    expect(
      routingRuleSchema.safeParse({ kind: "currency", values: ["EURO"] })
        .success,
    ).toBe(false);
    expect(
      routingRuleSchema.safeParse({ kind: "channel", values: ["web"] }).success,
    ).toBe(false);
    expect(
      routingRuleSchema.safeParse({ kind: "region", values: ["EU"] }).success,
    ).toBe(false);
    expect(
      routingRuleSchema.parse({
        kind: "market",
        values: ["canada"],
        countries: ["ca"],
      }),
    ).toEqual(canada);
  });

  it("reads a stored rule: none is all orders, an unreadable one matches nothing", () => {
    expect(parseRoutingRule(null)).toEqual({ kind: "all" });
    const unreadable = parseRoutingRule({ kind: "planet", values: ["mars"] });
    expect(
      matchesRule(unreadable, facts({ country: "DE", currency: "EUR" })),
    ).toBe(false);
  });

  it("reads an outbox row's facts: POS and draft orders by their source, the rest online", () => {
    const row = { countryCode: "DE", currency: "EUR", orderSource: null };
    expect(routeFacts(row)).toEqual(facts({ country: "DE", currency: "EUR" }));
    expect(routeFacts({ ...row, orderSource: "pos" }).channel).toBe("pos");
    expect(routeFacts({ ...row, orderSource: "draft" }).channel).toBe("draft");
    expect(routeFacts({ ...row, orderSource: "subscription" }).channel).toBe(
      "online_store",
    );
  });
});
