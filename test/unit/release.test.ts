import { describe, expect, it } from "vitest";
import { release, type Release } from "../../app/core/intake/release";
import type {
  IntakeContext,
  ReleaseUpdate,
  Undecided,
} from "../../app/core/outbox";
import { parseSettings } from "../../app/core/reference/settings";
import type { CapiEvent } from "../../app/core/wire/metaEvent";

// The release rule as a table: a row waiting to be sent (and its checkout's browser context) in, the update out.
// Each expected update is written out in full, so a change to any branch of the rule (the merge, the consent
// decision, LDU, the user agent rule, the dedup mark, what a re-decision may touch) fails a row.

const NOW = new Date("2026-11-25T10:01:01.000Z");
const ORDER_UA = "Mozilla/5.0 (Order)";
const BROWSER_UA = "Mozilla/5.0 (Browser)";

/** A Purchase as order intake maps it: the order's own fbp and landing page. */
const EVENT: CapiEvent = {
  event_name: "Purchase",
  event_id: "purchase_1001",
  event_time: 1_795_600_000,
  action_source: "website",
  event_source_url: "https://shop.example/products/a",
  user_data: { em: ["ab".repeat(32)], fbp: "fb.1.1.order" },
  custom_data: { value: 12.5, currency: "USD" },
};

type Region = [country: string | null, province: string | null];
const US_NY: Region = ["US", "NY"];
const US_CA: Region = ["US", "CA"];
const US_TX: Region = ["US", "TX"];
const DE: Region = ["DE", null];

function row(
  status: "held" | "suppressed",
  region: Region,
  over: Partial<Undecided> = {},
): Undecided {
  return {
    status,
    eventId: "purchase_1001",
    payload: EVENT,
    clientIp: "203.0.113.7",
    clientUserAgent: ORDER_UA,
    consent: null,
    countryCode: region[0],
    provinceCode: region[1],
    ...over,
  } as Undecided;
}

function pending(
  region: Region,
  lduApplied: boolean,
  payload: CapiEvent = EVENT,
  consent: unknown = null,
): Undecided {
  return {
    ...row("held", region, { payload, consent }),
    status: "pending",
    lduApplied,
  };
}

/** The browser context of the checkout, as the thank-you page posted it. */
function ctx(over: Partial<IntakeContext> = {}): IntakeContext {
  return {
    id: "ctx-1",
    clientId: "client-1",
    orderId: null,
    fbp: "fb.1.1.browser",
    fbc: "fb.1.2.click",
    clientIp: "198.51.100.9",
    clientUserAgent: BROWSER_UA,
    eventSourceUrl: "https://shop.example/",
    consent: { marketingAllowed: true },
    value: null,
    currency: null,
    ...over,
  };
}

const NO_LDU = { data_processing_options: [] };
const LDU_CA = {
  data_processing_options: ["LDU"],
  data_processing_options_country: 1,
  data_processing_options_state: 1000,
};
const LDU_GEO = {
  data_processing_options: ["LDU"],
  data_processing_options_country: 0,
  data_processing_options_state: 0,
};

/** The order's event as the browser's context changes it: its cookies and page. */
const MERGED: CapiEvent = {
  ...EVENT,
  event_source_url: "https://shop.example/",
  user_data: {
    em: ["ab".repeat(32)],
    fbp: "fb.1.1.browser",
    fbc: "fb.1.2.click",
  },
};

/** A release to `pending`: sent with `payload`, due now, no longer held. */
function sent(
  payload: CapiEvent,
  extra: Partial<ReleaseUpdate> = {},
): ReleaseUpdate {
  return {
    status: "pending",
    suppressReason: null,
    payload,
    actionSource: payload.action_source,
    lduApplied: Boolean(payload.data_processing_options?.length),
    holdUntil: null,
    releasedAt: NOW,
    nextAttemptAt: NOW,
    finalAt: null,
    ...extra,
  };
}

function suppressed(
  reason: string,
  extra: Partial<ReleaseUpdate> = {},
): ReleaseUpdate {
  return {
    status: "suppressed",
    suppressReason: reason,
    holdUntil: null,
    releasedAt: NOW,
    ...extra,
  } as ReleaseUpdate;
}

/** What the browser's context brings into the row (decisions 19, 36-37). */
const JOINED = {
  payload: MERGED,
  consent: { marketingAllowed: true },
  clientIp: "198.51.100.9",
  clientUserAgent: BROWSER_UA,
};

const rows: [
  string,
  Undecided,
  IntakeContext | null,
  Record<string, unknown>,
  Release,
][] = [
  // Held, no browser context: the order's own data; consent by policy (decisions 1, 2).
  [
    "held, no context, no snapshot, outside opt-in and LDU regions: sent",
    row("held", US_NY),
    null,
    {},
    { update: sent({ ...EVENT, ...NO_LDU }), contextUsed: false },
  ],
  [
    "held, no context, California: LDU 1/1000",
    row("held", US_CA),
    null,
    {},
    { update: sent({ ...EVENT, ...LDU_CA }), contextUsed: false },
  ],
  [
    "held, no context, another covered state: LDU 0/0",
    row("held", US_TX),
    null,
    {},
    { update: sent({ ...EVENT, ...LDU_GEO }), contextUsed: false },
  ],
  [
    "held, no context, opt-in region: suppressed",
    row("held", DE),
    null,
    {},
    { update: suppressed("no_consent_opt_in_region"), contextUsed: false },
  ],
  [
    "held, no context, strict policy: suppressed",
    row("held", US_NY),
    null,
    { consentPolicy: "strict" },
    { update: suppressed("no_consent_strict"), contextUsed: false },
  ],
  [
    "held, no context, always: sent in an opt-in region",
    row("held", DE),
    null,
    { consentPolicy: "always" },
    { update: sent({ ...EVENT, ...NO_LDU }), contextUsed: false },
  ],
  [
    "held, the row's own snapshot denies: suppressed even under always",
    row("held", US_NY, { consent: { marketingAllowed: false } }),
    null,
    { consentPolicy: "always" },
    { update: suppressed("no_marketing_consent"), contextUsed: false },
  ],
  // decisions 33: a website event without a user agent goes as `other`; other sources keep theirs.
  [
    "held, no user agent, website: sent as other",
    row("held", US_NY, { clientUserAgent: null }),
    null,
    {},
    {
      update: sent({ ...EVENT, ...NO_LDU, action_source: "other" }),
      contextUsed: false,
    },
  ],
  [
    "held, no user agent, physical_store: stays physical_store",
    row("held", US_NY, {
      clientUserAgent: null,
      payload: { ...EVENT, action_source: "physical_store" },
    }),
    null,
    {},
    {
      update: sent({ ...EVENT, ...NO_LDU, action_source: "physical_store" }),
      contextUsed: false,
    },
  ],
  // Held with the checkout's browser context: merged, then decided on what the row now carries.
  [
    "held, context granting: merged and sent",
    row("held", DE),
    ctx(),
    {},
    {
      update: { ...JOINED, ...sent({ ...MERGED, ...NO_LDU }) },
      contextUsed: true,
    },
  ],
  [
    "held, context of the pixel's own Purchase: counted for the dedup figure",
    row("held", US_NY),
    ctx({ orderId: "1001", value: 25.5, currency: "EUR" }),
    {},
    {
      update: {
        ...JOINED,
        ...sent({ ...MERGED, ...NO_LDU }),
        browserSeenAt: NOW,
        browserValue: 25.5,
        browserCurrency: "EUR",
      },
      contextUsed: true,
    },
  ],
  [
    "held, context of another order's Purchase: not counted",
    row("held", US_NY),
    ctx({ orderId: "1002" }),
    {},
    {
      update: { ...JOINED, ...sent({ ...MERGED, ...NO_LDU }) },
      contextUsed: true,
    },
  ],
  [
    "held, context denying: suppressed, with what the context brought",
    row("held", US_NY),
    ctx({ consent: { marketingAllowed: false } }),
    {},
    {
      update: suppressed("no_marketing_consent", {
        ...JOINED,
        consent: { marketingAllowed: false },
      }),
      contextUsed: true,
    },
  ],
  [
    "held, context with no opinion on the sale of data in California: no LDU",
    row("held", US_CA),
    ctx(),
    {},
    {
      update: { ...JOINED, ...sent({ ...MERGED, ...NO_LDU }) },
      contextUsed: true,
    },
  ],
  [
    "held, context refusing the sale of data in California: LDU 1/1000",
    row("held", US_CA),
    ctx({ consent: { marketingAllowed: true, saleOfDataAllowed: false } }),
    {},
    {
      update: {
        ...JOINED,
        ...sent({ ...MERGED, ...LDU_CA }),
        consent: { marketingAllowed: true, saleOfDataAllowed: false },
      },
      contextUsed: true,
    },
  ],
  [
    "held, context without network data or cookies: the order's stay",
    row("held", US_NY),
    ctx({
      fbp: null,
      fbc: null,
      clientIp: null,
      clientUserAgent: null,
      eventSourceUrl: null,
    }),
    {},
    {
      update: {
        ...sent({ ...EVENT, ...NO_LDU }),
        consent: { marketingAllowed: true },
        clientIp: "203.0.113.7",
        clientUserAgent: ORDER_UA,
      },
      contextUsed: true,
    },
  ],
  [
    "held, no user agent on the order, the context brings one: a website event",
    row("held", US_NY, { clientUserAgent: null }),
    ctx(),
    {},
    {
      update: { ...JOINED, ...sent({ ...MERGED, ...NO_LDU }) },
      contextUsed: true,
    },
  ],
  [
    "held, context without consent: the policy decides, the row's consent stays",
    row("held", DE),
    ctx({ consent: null }),
    {},
    {
      update: suppressed("no_consent_opt_in_region", {
        ...JOINED,
        consent: null,
      }),
      contextUsed: true,
    },
  ],
  // Pending, after a consent policy change (decisions 6): its retry schedule stays; only whether and how it goes.
  [
    "pending, now refused: suppressed",
    pending(US_NY, false),
    null,
    { consentPolicy: "strict" },
    { update: suppressed("no_consent_strict"), contextUsed: false },
  ],
  [
    "pending, a context is never merged",
    pending(US_NY, false),
    ctx({ consent: { marketingAllowed: false } }),
    {},
    { update: null, contextUsed: false },
  ],
  [
    "pending, LDU unchanged: nothing to write",
    pending(US_CA, true, { ...EVENT, ...LDU_CA }),
    null,
    {},
    { update: null, contextUsed: false },
  ],
  [
    "pending, LDU now applies: payload and flag only",
    pending(US_NY, false, { ...EVENT, ...NO_LDU }),
    null,
    { lduStates: ["NY"] },
    {
      update: {
        status: "pending",
        payload: { ...EVENT, ...LDU_GEO },
        lduApplied: true,
      },
      contextUsed: false,
    },
  ],
  [
    "pending, LDU no longer applies: cleared",
    pending(US_TX, true, { ...EVENT, ...LDU_GEO }),
    null,
    { lduStates: ["CA"] },
    {
      update: {
        status: "pending",
        payload: { ...EVENT, ...NO_LDU },
        lduApplied: false,
      },
      contextUsed: false,
    },
  ],
  // Kept before Connect (decisions 9): released like a held row without context; its user agent was erased.
  [
    "kept before Connect: sent as other",
    row("suppressed", US_NY, { clientIp: null, clientUserAgent: null }),
    null,
    {},
    {
      update: sent({ ...EVENT, ...NO_LDU, action_source: "other" }),
      contextUsed: false,
    },
  ],
  [
    "kept before Connect, opt-in region: suppressed for consent",
    row("suppressed", DE, { clientUserAgent: null }),
    null,
    {},
    { update: suppressed("no_consent_opt_in_region"), contextUsed: false },
  ],
  [
    "kept before Connect, a context is never merged",
    row("suppressed", US_NY),
    ctx(),
    {},
    { update: sent({ ...EVENT, ...NO_LDU }), contextUsed: false },
  ],
];

describe("release: what an event waiting to be sent becomes", () => {
  it.each(rows)("%s", (_name, input, context, settings, expected) => {
    expect(release(input, context, parseSettings(settings), NOW, null)).toEqual(
      expected,
    );
  });
});

// decisions 66: an order without an address. The IP addresses are real ones whose country GeoLite2 has long known
// (81.2.69.142 is MaxMind's own GB test address); the documentation ranges above (RFC 5737) geolocate to nothing.
const GB_IP = "81.2.69.142";
const US_IP = "8.8.8.8";
const NO_REGION: Region = [null, null];

describe("release: the region of an order without an address (decisions 66)", () => {
  const settings = parseSettings({});
  const decide = (
    input: Undecided,
    context: IntakeContext | null,
    shopCountry: string | null,
  ) => release(input, context, settings, NOW, shopCountry).update;

  it("no address, no IP, no sales country: unknown region, kept back", () => {
    expect(
      decide(row("held", NO_REGION, { clientIp: null }), null, null),
    ).toEqual(suppressed("no_consent_opt_in_region"));
  });
  it("the order's browser_ip outside the opt-in regions: sent", () => {
    expect(
      decide(row("held", NO_REGION, { clientIp: US_IP }), null, null)?.status,
    ).toBe("pending");
  });
  it("the order's browser_ip in an opt-in region: kept back", () => {
    expect(
      decide(row("held", NO_REGION, { clientIp: GB_IP }), null, "US")
        ?.suppressReason,
    ).toBe("no_consent_opt_in_region");
  });
  it("the browser context's IP comes before the order's", () => {
    const input = row("held", NO_REGION, { clientIp: US_IP });
    const fromGb = ctx({ clientIp: GB_IP, consent: null });
    expect(decide(input, fromGb, null)?.suppressReason).toBe(
      "no_consent_opt_in_region",
    );
    const fromUs = ctx({ clientIp: US_IP, consent: null });
    expect(
      decide(row("held", NO_REGION, { clientIp: GB_IP }), fromUs, null)?.status,
    ).toBe("pending");
  });
  it("no IP at all (a staff member's order): the shop's one sales country", () => {
    const staff = row("held", NO_REGION, { clientIp: null });
    expect(decide(staff, null, "US")?.status).toBe("pending");
    expect(decide(staff, null, "DE")?.suppressReason).toBe(
      "no_consent_opt_in_region",
    );
  });
  it("an address wins over every IP and the sales country", () => {
    expect(
      decide(row("held", US_NY, { clientIp: GB_IP }), null, "DE")?.status,
    ).toBe("pending");
    expect(
      decide(row("held", DE, { clientIp: US_IP }), null, "US")?.suppressReason,
    ).toBe("no_consent_opt_in_region");
  });
  it("a pending row re-decided after a policy change keeps its IP's region", () => {
    const input = pending(NO_REGION, false);
    expect(
      release({ ...input, clientIp: US_IP }, null, settings, NOW, null).update,
    ).toBeNull();
    expect(
      release({ ...input, clientIp: GB_IP }, null, settings, NOW, null).update
        ?.suppressReason,
    ).toBe("no_consent_opt_in_region");
  });
});
