import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LDU_STATES } from "../../app/core/reference/ldu";
import type { ConsentPolicy } from "../../app/core/reference/settings";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import type { ConsentSnapshot } from "../../app/core/wire/ingestBody";
import type { SuppressReason } from "../../app/core/outbox/statuses";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import {
  databaseKinds,
  eventually,
  startApp,
  type DbKind,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { seedSession } from "../support/shopifyAdmin";
import { connect, orderWebhook, PIXEL, TOKEN } from "../support/scenario";
import { setSettings } from "../support/opsCli";
import {
  consent,
  consentBody,
  eventBody,
  ingestKeyOf,
  newCheckout,
  postIngest,
  type Checkout,
  type Region,
  VISITOR_IP,
} from "../support/checkout";

// Issue 5 end to end: the consent policy, the browser's consent snapshot and the order's region decide whether an
// order's Purchase reaches Meta, and with which Limited Data Use flags, checked at the fake Graph API.
// Orders are held for their browser context (PURCHASE_HOLD_SECONDS=600); a test "lets the hold run out" by moving
// holdUntil into the past, and the running dispatcher then releases them as it would after ten minutes.

const PAUSE_PIXEL = "111222333444555";
const PAUSE_TOKEN = "EAAGpausedSHOPtoken0123456789abcdefXYZ";

/**
 * How a snapshot reaches the app: a consent update, the pixel's Purchase, or a checkout step (each carries the
 * checkout token and the consent in force).
 */
interface Snap {
  via: "consent" | "purchase" | "step";
  when: "before" | "after";
  consent: ConsentSnapshot;
}
const granted = (
  via: Snap["via"],
  when: Snap["when"],
  saleOfDataAllowed = true,
): Snap => ({ via, when, consent: consent(true, saleOfDataAllowed) });
const denied = (via: Snap["via"], when: Snap["when"]): Snap => ({
  via,
  when,
  consent: consent(false, false),
});

interface Case {
  policy: ConsentPolicy;
  region: Region;
  snaps: Snap[];
  /** "sent", "sent LDU <country>/<state>", or "not sent: <reason>". */
  expect: string;
}

const NOT = (reason: SuppressReason) => `not sent: ${reason}`;

// A representative subset of snapshot (none / granted / denied / sale of data refused, posted before or after the
// webhook) × region × policy; test/unit/consent.test.ts has the full matrix of the decision function.
const MATRIX: Record<string, Case> = {
  "rules DE no snapshot": {
    policy: "shopify_rules",
    region: "DE",
    snaps: [],
    expect: NOT("no_consent_opt_in_region"),
  },
  "rules GB no snapshot": {
    policy: "shopify_rules",
    region: "GB",
    snaps: [],
    expect: NOT("no_consent_opt_in_region"),
  },
  "rules no address no snapshot": {
    policy: "shopify_rules",
    region: null,
    snaps: [],
    expect: NOT("no_consent_opt_in_region"),
  },
  "rules US-CA no snapshot": {
    policy: "shopify_rules",
    region: "US-CA",
    snaps: [],
    expect: "sent LDU 1/1000",
  },
  "rules US-TX no snapshot": {
    policy: "shopify_rules",
    region: "US-TX",
    snaps: [],
    expect: "sent LDU 0/0",
  },
  "rules US-NY no snapshot": {
    policy: "shopify_rules",
    region: "US-NY",
    snaps: [],
    expect: "sent",
  },
  "rules BR no snapshot": {
    policy: "shopify_rules",
    region: "BR",
    snaps: [],
    expect: "sent",
  },
  "rules DE granted (consent before)": {
    policy: "shopify_rules",
    region: "DE",
    snaps: [granted("consent", "before")],
    expect: "sent",
  },
  "rules GB granted (purchase after)": {
    policy: "shopify_rules",
    region: "GB",
    snaps: [granted("purchase", "after")],
    expect: "sent",
  },
  "rules DE denied (consent before)": {
    policy: "shopify_rules",
    region: "DE",
    snaps: [denied("consent", "before")],
    expect: NOT("no_marketing_consent"),
  },
  "rules US-NY denied (purchase before)": {
    policy: "shopify_rules",
    region: "US-NY",
    snaps: [denied("purchase", "before")],
    expect: NOT("no_marketing_consent"),
  },
  "rules US-CA sale refused (consent before)": {
    policy: "shopify_rules",
    region: "US-CA",
    snaps: [granted("consent", "before", false)],
    expect: "sent LDU 1/1000",
  },
  "rules US-CA sale allowed (purchase after)": {
    policy: "shopify_rules",
    region: "US-CA",
    snaps: [granted("purchase", "after")],
    expect: "sent",
  },
  "rules US-NY sale refused (consent after)": {
    policy: "shopify_rules",
    region: "US-NY",
    snaps: [granted("consent", "after", false)],
    expect: "sent LDU 0/0",
  },
  "rules BR sale refused (purchase before)": {
    policy: "shopify_rules",
    region: "BR",
    snaps: [granted("purchase", "before", false)],
    expect: "sent LDU 0/0",
  },
  "rules GB sale refused (consent before)": {
    policy: "shopify_rules",
    region: "GB",
    snaps: [granted("consent", "before", false)],
    expect: "sent LDU 0/0",
  },
  "rules DE granted (checkout step after)": {
    policy: "shopify_rules",
    region: "DE",
    snaps: [granted("step", "after")],
    expect: "sent",
  },
  "rules US-NY sale refused (checkout step before)": {
    policy: "shopify_rules",
    region: "US-NY",
    snaps: [granted("step", "before", false)],
    expect: "sent LDU 0/0",
  },
  "rules DE granted then denied": {
    policy: "shopify_rules",
    region: "DE",
    snaps: [granted("consent", "before"), denied("consent", "before")],
    expect: NOT("no_marketing_consent"),
  },
  "strict US-NY no snapshot": {
    policy: "strict",
    region: "US-NY",
    snaps: [],
    expect: NOT("no_consent_strict"),
  },
  "strict BR no snapshot": {
    policy: "strict",
    region: "BR",
    snaps: [],
    expect: NOT("no_consent_strict"),
  },
  "strict no address no snapshot": {
    policy: "strict",
    region: null,
    snaps: [],
    expect: NOT("no_consent_strict"),
  },
  "strict DE granted (purchase after)": {
    policy: "strict",
    region: "DE",
    snaps: [granted("purchase", "after")],
    expect: "sent",
  },
  "strict BR granted (checkout step after)": {
    policy: "strict",
    region: "BR",
    snaps: [granted("step", "after")],
    expect: "sent",
  },
  "strict US-TX sale refused (consent before)": {
    policy: "strict",
    region: "US-TX",
    snaps: [granted("consent", "before", false)],
    expect: "sent LDU 0/0",
  },
  "strict US-CA denied (consent after)": {
    policy: "strict",
    region: "US-CA",
    snaps: [denied("consent", "after")],
    expect: NOT("no_marketing_consent"),
  },
  "always DE no snapshot": {
    policy: "always",
    region: "DE",
    snaps: [],
    expect: "sent",
  },
  "always GB no snapshot": {
    policy: "always",
    region: "GB",
    snaps: [],
    expect: "sent",
  },
  "always no address no snapshot": {
    policy: "always",
    region: null,
    snaps: [],
    expect: "sent",
  },
  "always US-CA no snapshot": {
    policy: "always",
    region: "US-CA",
    snaps: [],
    expect: "sent LDU 1/1000",
  },
  "always US-TX no snapshot": {
    policy: "always",
    region: "US-TX",
    snaps: [],
    expect: "sent LDU 0/0",
  },
  "always DE denied (consent before)": {
    policy: "always",
    region: "DE",
    snaps: [denied("consent", "before")],
    expect: NOT("no_marketing_consent"),
  },
  "always BR denied (purchase after)": {
    policy: "always",
    region: "BR",
    snaps: [denied("purchase", "after")],
    expect: NOT("no_marketing_consent"),
  },
  "always US-NY denied (consent after)": {
    policy: "always",
    region: "US-NY",
    snaps: [denied("consent", "after")],
    expect: NOT("no_marketing_consent"),
  },
  "always DE denied (checkout step after)": {
    policy: "always",
    region: "DE",
    snaps: [denied("step", "after")],
    expect: NOT("no_marketing_consent"),
  },
  "always BR denied then granted": {
    policy: "always",
    region: "BR",
    snaps: [denied("consent", "before"), granted("consent", "before")],
    expect: "sent",
  },
};

describe.each(databaseKinds())("consent end to end on %s", (kind: DbKind) => {
  let graph: FakeGraph;
  let app: TestApp;
  let seq = 0;

  async function newShop(
    opts: { policy?: ConsentPolicy; pixel?: string; token?: string } = {},
  ): Promise<string> {
    const shop = `consent-${kind.slice(0, 2)}-${++seq}-${Date.now().toString(36)}.myshopify.com`;
    await seedSession(app.db, shop);
    await connect(app, shop, opts.token ?? TOKEN, "", opts.pixel ?? PIXEL);
    if (opts.policy && opts.policy !== "shopify_rules") {
      expect(
        (await setSettings(app, shop, { consentPolicy: opts.policy })).settings
          .consentPolicy,
      ).toBe(opts.policy);
    }
    return shop;
  }

  async function sendSnap(
    shop: string,
    c: Checkout,
    snap: Snap,
  ): Promise<void> {
    const key = await ingestKeyOf(app, shop);
    const body =
      snap.via === "consent"
        ? consentBody(shop, key, c, snap.consent)
        : eventBody(
            shop,
            key,
            c,
            snap.via === "purchase" ? "Purchase" : "AddPaymentInfo",
            snap.consent,
          );
    const res = await postIngest(app, body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  }

  /** Lets the shop's held orders reach the end of their wait for browser context. */
  async function endHolds(shops: string[]): Promise<number> {
    const res = await app.db.outboxEvent.updateMany({
      where: { shop: { domain: { in: shops } }, status: "held" },
      data: { holdUntil: new Date(Date.now() - 1000) },
    });
    return res.count;
  }

  async function finalRows(eventIds: string[]) {
    return eventually(
      async () => {
        const rows = await app.db.outboxEvent.findMany({
          where: { eventId: { in: eventIds } },
        });
        return rows.length === eventIds.length &&
          rows.every((r) => r.status === "sent" || r.status === "suppressed")
          ? rows
          : null;
      },
      30_000,
      `${eventIds.length} events sent or suppressed`,
    );
  }

  /** What became of each event: at the fake Graph API, or not sent and why. */
  async function outcomes(eventIds: string[]): Promise<Map<string, string>> {
    const rows = await finalRows(eventIds);
    const sent = new Map<string, CapiEvent>();
    for (const e of graph.eventsReceived()) sent.set(e.event_id, e);
    const out = new Map<string, string>();
    for (const row of rows) {
      const event = sent.get(row.eventId);
      if (row.status === "suppressed") {
        out.set(
          row.eventId,
          event
            ? `suppressed but SENT: ${row.suppressReason}`
            : NOT(row.suppressReason as SuppressReason),
        );
      } else if (!event) {
        out.set(row.eventId, "sent status but never reached Meta");
      } else {
        out.set(row.eventId, describeSent(event));
      }
    }
    return out;
  }

  beforeAll(async () => {
    graph = await startFakeGraph();
    graph.addPixel(PIXEL, { name: "Consent Pixel", token: TOKEN });
    graph.addPixel(PAUSE_PIXEL, { name: "Paused Pixel", token: PAUSE_TOKEN });
    app = await startApp({
      db: kind,
      graphUrl: graph.url,
      env: {
        PURCHASE_HOLD_SECONDS: "600",
        INGEST_CLIENT_BURST: "1000",
        TRUST_PROXY_HOPS: "1",
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    await graph?.close();
  });

  it("decides every order of the matrix as the policy, the snapshot and the region require", async () => {
    const shops = {
      shopify_rules: await newShop(),
      strict: await newShop({ policy: "strict" }),
      always: await newShop({ policy: "always" }),
    };
    const cases = Object.entries(MATRIX).map(([name, c]) => ({
      name,
      ...c,
      shop: shops[c.policy],
      checkout: newCheckout({ region: c.region }),
    }));

    for (const c of cases)
      for (const snap of c.snaps.filter((s) => s.when === "before"))
        await sendSnap(c.shop, c.checkout, snap);
    const answers = await Promise.all(
      cases.map((c) => orderWebhook({ app, shop: c.shop }, c.checkout.order)),
    );
    answers.forEach((res, i) => {
      expect(res.status).toBe(200);
      const c = cases[i];
      // Without browser context the order waits for it; with it, consent is decided at once.
      const decidedNow = c.snaps.some((s) => s.when === "before");
      const status = !decidedNow
        ? "held"
        : c.expect.startsWith("sent")
          ? "pending"
          : "suppressed";
      expect(res.body, c.name).toMatchObject({ outcome: "accepted", status });
    });
    for (const c of cases)
      for (const snap of c.snaps.filter((s) => s.when === "after"))
        await sendSnap(c.shop, c.checkout, snap);
    await endHolds(Object.values(shops));

    const got = await outcomes(cases.map((c) => c.checkout.eventId));
    const actual = Object.fromEntries(
      cases.map((c) => [c.name, got.get(c.checkout.eventId)]),
    );
    expect(actual).toEqual(
      Object.fromEntries(cases.map((c) => [c.name, c.expect])),
    );

    const received = new Map(
      graph.eventsReceived().map((e) => [e.event_id, e]),
    );
    for (const c of cases.filter((x) => x.expect.startsWith("sent"))) {
      const e = received.get(c.checkout.eventId)!;
      // The order's own country, hashed; none for an order without an address.
      const country = c.region
        ? [normalizeAndHash("country", c.region.slice(0, 2))]
        : undefined;
      expect(e.user_data.country, c.name).toEqual(country);
      // LDU needs the IP for Meta's geolocation (0/0): the browser's when a pixel event came with it, else the order's.
      const ip = c.snaps.some((s) => s.via !== "consent")
        ? VISITOR_IP
        : "203.0.113.42";
      if (e.data_processing_options?.length)
        expect(e.user_data.client_ip_address, c.name).toBe(ip);
    }
    const rows = await app.db.outboxEvent.findMany({
      where: { eventId: { in: cases.map((c) => c.checkout.eventId) } },
    });
    for (const row of rows) {
      expect(row.clientIp, `${row.eventId} keeps no IP once final`).toBeNull();
      expect(row.lduApplied).toBe(
        received.get(row.eventId)?.data_processing_options?.[0] === "LDU",
      );
    }
  });

  it("sends browser events by their own snapshot: LDU when the sale of data is refused, nothing without marketing consent", async () => {
    const shop = await newShop({ policy: "strict" });
    const key = await ingestKeyOf(app, shop);
    const c = newCheckout({ region: "DE" });
    const bodies = {
      granted: eventBody(shop, key, c, "PageView", consent(true)),
      saleRefused: eventBody(shop, key, c, "AddToCart", consent(true, false)),
      denied: eventBody(shop, key, c, "ViewContent", consent(false, false)),
    };
    const answers: Record<string, unknown> = {};
    for (const [name, body] of Object.entries(bodies))
      answers[name] = (await postIngest(app, body)).body;
    expect(answers).toEqual({
      granted: { outcome: "accepted", status: "pending" },
      saleRefused: { outcome: "accepted", status: "pending" },
      denied: { outcome: "accepted", status: "suppressed" },
    });
    const ids = Object.fromEntries(
      Object.entries(bodies).map(([name, b]) => [
        name,
        (b as { event: { event_id: string } }).event.event_id,
      ]),
    );
    const got = await outcomes(Object.values(ids));
    expect(
      Object.fromEntries(
        Object.entries(ids).map(([name, id]) => [name, got.get(id)]),
      ),
    ).toEqual({
      granted: "sent",
      saleRefused: "sent LDU 0/0",
      denied: NOT("no_marketing_consent"),
    });
    const ldu = graph
      .eventsReceived()
      .find((e) => e.event_id === ids.saleRefused)!;
    expect(ldu.user_data.client_ip_address).toBe(VISITOR_IP);
  });

  it("decides held orders at release under the policy in force then", async () => {
    const toAlways = await newShop();
    const toStrict = await newShop({ policy: "always" });
    const a = {
      de: newCheckout({ region: "DE" }),
      br: newCheckout({ region: "BR" }),
      tx: newCheckout({ region: "US-TX" }),
    };
    const s = {
      br: newCheckout({ region: "BR" }),
      brGranted: newCheckout({ region: "BR" }),
    };
    for (const c of Object.values(a))
      expect(
        (await orderWebhook({ app, shop: toAlways }, c.order)).body.status,
      ).toBe("held");
    for (const c of Object.values(s))
      expect(
        (await orderWebhook({ app, shop: toStrict }, c.order)).body.status,
      ).toBe("held");
    await sendSnap(toStrict, s.brGranted, granted("consent", "after"));

    // Held rows are not re-decided by the change itself: they are decided when they leave `held`.
    expect(
      (await setSettings(app, toAlways, { consentPolicy: "always" }))
        .eventsRedecided,
    ).toBe(0);
    expect(
      (await setSettings(app, toStrict, { consentPolicy: "strict" }))
        .eventsRedecided,
    ).toBe(0);
    const ids = [...Object.values(a), ...Object.values(s)].map(
      (c) => c.eventId,
    );
    expect(
      await app.db.outboxEvent.count({
        where: { eventId: { in: ids }, status: "held" },
      }),
    ).toBe(5);
    expect(await endHolds([toAlways, toStrict])).toBe(5);

    const got = await outcomes(ids);
    expect({
      "DE, now always": got.get(a.de.eventId),
      "BR, now always": got.get(a.br.eventId),
      "US-TX, now always": got.get(a.tx.eventId),
      "BR, now strict": got.get(s.br.eventId),
      "BR granted, now strict": got.get(s.brGranted.eventId),
    }).toEqual({
      "DE, now always": "sent",
      "BR, now always": "sent",
      "US-TX, now always": "sent LDU 0/0",
      "BR, now strict": NOT("no_consent_strict"),
      "BR granted, now strict": "sent",
    });
  });

  it("re-decides orders still pending (a paused shop) when the consent settings change", async () => {
    const shop = await newShop({
      policy: "always",
      pixel: PAUSE_PIXEL,
      token: PAUSE_TOKEN,
    });
    const stopFailing = graph.failOn((req) => req.pixelId === PAUSE_PIXEL, {
      status: 400,
      code: 190,
      subcode: 463,
      message: "Session has expired",
    });
    const c = {
      de: newCheckout({ region: "DE" }),
      ny: newCheckout({ region: "US-NY" }),
      deGranted: newCheckout({ region: "DE" }),
    };
    await sendSnap(shop, c.deGranted, granted("consent", "before"));
    for (const x of Object.values(c))
      await orderWebhook({ app, shop }, x.order);
    await endHolds([shop]);
    const ids = Object.values(c).map((x) => x.eventId);
    await eventually(
      async () => {
        const row = await app.db.shop.findUnique({ where: { domain: shop } });
        const pending = await app.db.outboxEvent.count({
          where: { eventId: { in: ids }, status: "pending" },
        });
        return row?.pausedReason === "token" && pending === 3;
      },
      15_000,
      "the shop paused with its three orders pending",
    );

    const res = await setSettings(app, shop, {
      consentPolicy: "shopify_rules",
      lduStates: [...DEFAULT_LDU_STATES, "NY"],
    });
    expect(res.eventsRedecided).toBe(2);
    const de = await app.db.outboxEvent.findFirstOrThrow({
      where: { eventId: c.de.eventId },
    });
    expect(de).toMatchObject({
      status: "suppressed",
      suppressReason: "no_consent_opt_in_region",
      clientIp: null,
      clientUserAgent: null,
    });
    expect(
      await app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: c.ny.eventId },
      }),
    ).toMatchObject({ status: "pending", lduApplied: true });

    stopFailing();
    await connect(app, shop, PAUSE_TOKEN, "", PAUSE_PIXEL);
    const got = await outcomes(ids);
    expect({
      de: got.get(c.de.eventId),
      ny: got.get(c.ny.eventId),
      deGranted: got.get(c.deGranted.eventId),
    }).toEqual({
      de: NOT("no_consent_opt_in_region"),
      ny: "sent LDU 0/0",
      deGranted: "sent",
    });
  });
});

function describeSent(e: CapiEvent): string {
  const options = e.data_processing_options;
  if (!Array.isArray(options)) return "sent without data_processing_options";
  if (options.length === 0) {
    // LDU off is [] alone: a country or state without it would be a malformed event.
    return e.data_processing_options_country === undefined &&
      e.data_processing_options_state === undefined
      ? "sent"
      : "sent with stray LDU country/state";
  }
  return `sent ${options.join(",")} ${e.data_processing_options_country}/${e.data_processing_options_state}`;
}
