import { describe, expect, it } from "vitest";
import {
  applyLdu,
  decideConsent,
  type ConsentDecision,
} from "../../app/core/intake/consent";
import {
  CONSENT_POLICIES,
  DEFAULT_OPT_IN_REGIONS,
  type ConsentPolicy,
} from "../../app/core/reference/settings";
import {
  DEFAULT_LDU_STATES,
  LDU_SOURCE_DATE,
  LDU_SOURCE_URL,
} from "../../app/core/reference/ldu";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import type { ConsentSnapshot } from "../../app/core/wire/ingestBody";

const SEND: ConsentDecision = { send: true, ldu: null };
const LDU_CA: ConsentDecision = {
  send: true,
  ldu: { country: 1, state: 1000 },
};
const LDU_GEO: ConsentDecision = { send: true, ldu: { country: 0, state: 0 } };
const DENIED: ConsentDecision = { send: false, reason: "no_marketing_consent" };
const STRICT: ConsentDecision = { send: false, reason: "no_consent_strict" };
const OPT_IN: ConsentDecision = {
  send: false,
  reason: "no_consent_opt_in_region",
};

const SNAPSHOTS = {
  none: null,
  deny: { marketingAllowed: false },
  denySaleTrue: { marketingAllowed: false, saleOfDataAllowed: true },
  denySaleFalse: { marketingAllowed: false, saleOfDataAllowed: false },
  allow: { marketingAllowed: true },
  allowSaleTrue: { marketingAllowed: true, saleOfDataAllowed: true },
  allowSaleFalse: { marketingAllowed: true, saleOfDataAllowed: false },
} satisfies Record<string, ConsentSnapshot | null>;
type SnapshotName = keyof typeof SNAPSHOTS;

const REGIONS = {
  DE: ["DE", null],
  GB: ["GB", "ENG"],
  "US-CA": ["US", "CA"],
  "US-NY": ["US", "NY"],
  "US-TX": ["US", "TX"],
  BR: ["BR", "SP"],
  unknown: [null, null],
} satisfies Record<string, [string | null, string | null]>;
type RegionName = keyof typeof REGIONS;

function decide(
  snapshot: SnapshotName,
  country: string | null,
  province: string | null,
  policy: ConsentPolicy,
  lists: { optInRegions?: string[]; lduStates?: string[] } = {},
): ConsentDecision {
  return decideConsent({
    snapshot: SNAPSHOTS[snapshot],
    region: () => ({ countryCode: country, provinceCode: province }),
    policy,
    optInRegions: lists.optInRegions ?? DEFAULT_OPT_IN_REGIONS,
    lduStates: lists.lduStates ?? DEFAULT_LDU_STATES,
  });
}

describe("decideConsent: representative rows", () => {
  const rows: Array<
    [SnapshotName, string | null, string | null, ConsentPolicy, ConsentDecision]
  > = [
    // A denial wins everywhere, whatever the policy and the sale-of-data answer.
    ["deny", "DE", null, "shopify_rules", DENIED],
    ["deny", "US", "CA", "shopify_rules", DENIED],
    ["deny", "BR", "SP", "always", DENIED],
    ["deny", "US", "NY", "always", DENIED],
    ["deny", null, null, "strict", DENIED],
    ["denySaleTrue", "US", "TX", "always", DENIED],
    ["denySaleFalse", "US", "CA", "always", DENIED],
    ["denySaleFalse", "GB", "ENG", "strict", DENIED],
    // Marketing allowed: sent in every policy and region; LDU only on an explicit sale-of-data opt-out.
    ["allow", "DE", null, "strict", SEND],
    ["allow", "DE", null, "shopify_rules", SEND],
    ["allow", "US", "CA", "shopify_rules", SEND],
    ["allow", "US", "TX", "always", SEND],
    ["allowSaleTrue", "US", "CA", "strict", SEND],
    ["allowSaleTrue", "GB", "ENG", "shopify_rules", SEND],
    ["allowSaleTrue", null, null, "always", SEND],
    ["allowSaleFalse", "US", "CA", "shopify_rules", LDU_CA],
    ["allowSaleFalse", "US", "CA", "strict", LDU_CA],
    ["allowSaleFalse", "US", "CA", "always", LDU_CA],
    ["allowSaleFalse", "US", "NY", "shopify_rules", LDU_GEO],
    ["allowSaleFalse", "US", "TX", "strict", LDU_GEO],
    ["allowSaleFalse", "DE", null, "shopify_rules", LDU_GEO],
    ["allowSaleFalse", "BR", "SP", "always", LDU_GEO],
    ["allowSaleFalse", null, null, "shopify_rules", LDU_GEO],
    ["allowSaleFalse", null, "CA", "strict", LDU_GEO],
    // No snapshot, strict: never sent.
    ["none", "US", "NY", "strict", STRICT],
    ["none", "US", "CA", "strict", STRICT],
    ["none", "BR", "SP", "strict", STRICT],
    ["none", null, null, "strict", STRICT],
    // No snapshot, Shopify rules: opt-in regions held back, covered US states limited, the rest sent.
    ["none", "DE", null, "shopify_rules", OPT_IN],
    ["none", "GB", "ENG", "shopify_rules", OPT_IN],
    ["none", "CH", null, "shopify_rules", OPT_IN],
    ["none", "US", "CA", "shopify_rules", LDU_CA],
    ["none", "US", "TX", "shopify_rules", LDU_GEO],
    ["none", "US", "CO", "shopify_rules", LDU_GEO],
    ["none", "US", "NY", "shopify_rules", SEND],
    ["none", "US", null, "shopify_rules", SEND],
    ["none", "BR", "SP", "shopify_rules", SEND],
    ["none", null, null, "shopify_rules", OPT_IN], // no address: could be an opt-in region
    // Canada's "CA" is a country, not California.
    ["none", "CA", "QC", "shopify_rules", SEND],
    // No snapshot, always: sent, still limited in covered US states.
    ["none", "DE", null, "always", SEND],
    ["none", "US", "CA", "always", LDU_CA],
    ["none", "US", "FL", "always", LDU_GEO],
    ["none", "US", "NY", "always", SEND],
    ["none", null, null, "always", SEND],
    // Codes in any case and with stray spaces.
    ["none", "de", null, "shopify_rules", OPT_IN],
    ["none", " us ", "ca", "shopify_rules", LDU_CA],
    ["allowSaleFalse", "Us", "Ca", "strict", LDU_CA],
    ["none", "us", "tx", "always", LDU_GEO],
  ];

  it.each(rows)(
    "%s in %s-%s under %s",
    (snapshot, country, province, policy, expected) => {
      expect(decide(snapshot, country, province, policy)).toEqual(expected);
    },
  );
});

describe("decideConsent: the shop's lists", () => {
  it("uses the shop's opt-in regions, case-insensitively", () => {
    expect(
      decide("none", "BR", "SP", "shopify_rules", { optInRegions: ["br"] }),
    ).toEqual(OPT_IN);
    expect(
      decide("none", "DE", null, "shopify_rules", { optInRegions: ["BR"] }),
    ).toEqual(SEND);
  });

  it("uses the shop's LDU states, case-insensitively", () => {
    expect(
      decide("none", "US", "NY", "shopify_rules", { lduStates: ["ny"] }),
    ).toEqual(LDU_GEO);
    expect(
      decide("none", "US", "CA", "shopify_rules", { lduStates: ["TX"] }),
    ).toEqual(SEND);
    expect(decide("none", "US", "TX", "always", { lduStates: [] })).toEqual(
      SEND,
    );
  });

  it("keeps California's codes for a sale-of-data opt-out even when the shop dropped CA from its list", () => {
    expect(
      decide("allowSaleFalse", "US", "CA", "shopify_rules", { lduStates: [] }),
    ).toEqual(LDU_CA);
  });
});

describe("the default LDU states: Meta's list, with its source and date", () => {
  it("are California, Colorado, Connecticut, Florida, Montana, Oregon and Texas", () => {
    expect([...DEFAULT_LDU_STATES].sort()).toEqual(
      ["CA", "CO", "CT", "FL", "MT", "OR", "TX"].sort(),
    );
    expect(LDU_SOURCE_URL).toMatch(
      /^https:\/\/developers\.facebook\.com\/.*data-processing-options$/,
    );
    expect(LDU_SOURCE_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("send a Montana order without a recorded choice with Limited Data Use", () => {
    expect(decide("none", "US", "MT", "shopify_rules")).toEqual(LDU_GEO);
    expect(decide("none", "US", "MT", "always")).toEqual(LDU_GEO);
  });
});

describe("decideConsent: full matrix", () => {
  // An independent statement of decisions 1 and 2, as tables.
  const WITHOUT_SNAPSHOT: Record<
    RegionName,
    Record<ConsentPolicy, ConsentDecision>
  > = {
    DE: { shopify_rules: OPT_IN, strict: STRICT, always: SEND },
    GB: { shopify_rules: OPT_IN, strict: STRICT, always: SEND },
    "US-CA": { shopify_rules: LDU_CA, strict: STRICT, always: LDU_CA },
    "US-NY": { shopify_rules: SEND, strict: STRICT, always: SEND },
    "US-TX": { shopify_rules: LDU_GEO, strict: STRICT, always: LDU_GEO },
    BR: { shopify_rules: SEND, strict: STRICT, always: SEND },
    unknown: { shopify_rules: OPT_IN, strict: STRICT, always: SEND },
  };
  /** With marketing allowed and the sale of data refused (the policy plays no part). */
  const SALE_REFUSED: Record<RegionName, ConsentDecision> = {
    DE: LDU_GEO,
    GB: LDU_GEO,
    "US-CA": LDU_CA,
    "US-NY": LDU_GEO,
    "US-TX": LDU_GEO,
    BR: LDU_GEO,
    unknown: LDU_GEO,
  };

  function expected(
    snapshot: ConsentSnapshot | null,
    region: RegionName,
    policy: ConsentPolicy,
  ): ConsentDecision {
    if (!snapshot) return WITHOUT_SNAPSHOT[region][policy];
    if (!snapshot.marketingAllowed) return DENIED;
    return snapshot.saleOfDataAllowed === false ? SALE_REFUSED[region] : SEND;
  }

  const snapshots: Array<ConsentSnapshot | null> = [null];
  for (const marketingAllowed of [true, false]) {
    for (const saleOfDataAllowed of [true, false, undefined]) {
      snapshots.push(
        saleOfDataAllowed === undefined
          ? { marketingAllowed }
          : { marketingAllowed, saleOfDataAllowed },
      );
    }
  }
  const cases = snapshots.flatMap((snapshot) =>
    (Object.keys(REGIONS) as RegionName[]).flatMap((region) =>
      CONSENT_POLICIES.map((policy) => ({ snapshot, region, policy })),
    ),
  );
  const decided = cases.map((c) => {
    const [countryCode, provinceCode] = REGIONS[c.region];
    const decision = decideConsent({
      snapshot: c.snapshot,
      region: () => ({ countryCode, provinceCode }),
      policy: c.policy,
      optInRegions: DEFAULT_OPT_IN_REGIONS,
      lduStates: DEFAULT_LDU_STATES,
    });
    return { ...c, decision };
  });

  it("covers every combination", () => {
    expect(decided).toHaveLength(7 * 7 * 3);
  });

  it("reads the region only when the decision depends on it (an IP lookup may be behind it)", () => {
    for (const { snapshot, policy } of cases) {
      let reads = 0;
      decideConsent({
        snapshot,
        region: () => {
          reads++;
          return { countryCode: "US", provinceCode: "CA" };
        },
        policy,
        optInRegions: DEFAULT_OPT_IN_REGIONS,
        lduStates: DEFAULT_LDU_STATES,
      });
      const needed = snapshot
        ? snapshot.marketingAllowed && snapshot.saleOfDataAllowed === false
        : policy !== "strict";
      expect(reads, JSON.stringify({ snapshot, policy })).toBe(needed ? 1 : 0);
    }
  });

  it("matches the tables exactly", () => {
    for (const { snapshot, region, policy, decision } of decided) {
      expect(decision, JSON.stringify({ snapshot, region, policy })).toEqual(
        expected(snapshot, region, policy),
      );
    }
  });

  it("never sends after a denial", () => {
    const denied = decided.filter(
      (d) => d.snapshot?.marketingAllowed === false,
    );
    expect(denied).toHaveLength(3 * 7 * 3);
    for (const d of denied) expect(d.decision).toEqual(DENIED);
  });

  it("never sends without a snapshot under the strict policy", () => {
    for (const d of decided.filter((d) => !d.snapshot && d.policy === "strict"))
      expect(d.decision.send).toBe(false);
  });

  it("sends every event whose snapshot allows marketing", () => {
    for (const d of decided.filter((d) => d.snapshot?.marketingAllowed))
      expect(d.decision.send).toBe(true);
  });

  it("uses only Meta's two LDU code pairs, and California's only for US-CA", () => {
    for (const { region, decision } of decided) {
      if (!decision.send || !decision.ldu) continue;
      expect([LDU_CA.ldu, LDU_GEO.ldu]).toContainEqual(decision.ldu);
      if (decision.ldu.country === 1) expect(region).toBe("US-CA");
    }
  });

  it("suppresses only with a reason from the shared enum", () => {
    for (const { decision } of decided) {
      if (!decision.send)
        expect([
          "no_marketing_consent",
          "no_consent_strict",
          "no_consent_opt_in_region",
        ]).toContain(decision.reason);
    }
  });
});

describe("applyLdu", () => {
  const event: CapiEvent = {
    event_name: "Purchase",
    event_time: 1_780_000_000,
    event_id: "purchase_1",
    action_source: "website",
    user_data: { em: ["a".repeat(64)] },
  };

  it("adds LDU with California's codes", () => {
    expect(applyLdu(event, LDU_CA)).toEqual({
      ...event,
      data_processing_options: ["LDU"],
      data_processing_options_country: 1,
      data_processing_options_state: 1000,
    });
  });

  it("adds LDU with geolocation codes", () => {
    const limited = applyLdu(event, LDU_GEO);
    expect(limited.data_processing_options).toEqual(["LDU"]);
    expect(limited.data_processing_options_country).toBe(0);
    expect(limited.data_processing_options_state).toBe(0);
  });

  it("clears an earlier LDU when the decision has none", () => {
    const cleared = applyLdu(applyLdu(event, LDU_CA), SEND);
    expect(cleared).toEqual({ ...event, data_processing_options: [] });
    expect(cleared).not.toHaveProperty("data_processing_options_country");
    expect(cleared).not.toHaveProperty("data_processing_options_state");
  });

  it("clears LDU for a decision not to send", () => {
    expect(applyLdu(applyLdu(event, LDU_GEO), DENIED)).toEqual({
      ...event,
      data_processing_options: [],
    });
  });

  it("leaves the given event untouched", () => {
    const before = structuredClone(event);
    applyLdu(event, LDU_CA);
    expect(event).toEqual(before);
  });
});
