import { describe, expect, it } from "vitest";
import {
  bucketBounds,
  coverageOf,
  reconcile,
  STATUS_GROUPS,
  statusGroup,
  type EventNameCounts,
} from "../../app/core/insights/stats";
import { KEY_LABEL, STATUS_GROUP_LABEL } from "../../app/components/labels";
import {
  errorOf,
  eventWhere,
  KEPT_UNTIL_DELIVERY,
  parseEventFilter,
  payloadAsSent,
  REMOVED_AFTER_DELIVERY,
} from "../../app/core/insights/eventLog";
import { MATCH_KEYS } from "../../app/core/insights/matchQuality";

const h = "a".repeat(64);

function purchases(
  byStatus: Partial<EventNameCounts["byStatus"]>,
  notSentByReason: Record<string, number> = {},
): EventNameCounts {
  const full = {
    held: 0,
    pending: 0,
    sending: 0,
    sent: 0,
    failed: 0,
    expired: 0,
    suppressed: 0,
    ...byStatus,
  };
  return {
    eventName: "Purchase",
    received: Object.values(full).reduce((a, b) => a + b, 0),
    byStatus: full,
    notSentByReason,
    ldu: 0,
  };
}

describe("reconcile", () => {
  it("counts every order once and leaves deliberate skips and waiting orders out of the accepted share", () => {
    const r = reconcile(
      purchases(
        { sent: 45, failed: 3, expired: 1, suppressed: 7, pending: 4 },
        { test_order: 2, no_marketing_consent: 5 },
      ),
      1,
    );
    expect(r).toMatchObject({
      ordersReceived: 61,
      accepted: 45,
      waiting: 4,
      notSent: 7,
      failed: 3,
      expired: 1,
      unreadable: 1,
    });
    expect(r.acceptedShare).toBeCloseTo(45 / 50, 10);
    expect(r.alert).toBe(false);
  });

  it.each([
    ["below 90% with enough orders", { sent: 17, failed: 3 }, 0, true],
    ["exactly 90%", { sent: 18, failed: 2 }, 0, false],
    ["below 90% but under 20 orders", { sent: 15, failed: 4 }, 0, false],
    ["unreadable webhooks count as missed", { sent: 18 }, 2, false],
    ["unreadable webhooks pull the share down", { sent: 18 }, 3, true],
    [
      "many orders skipped on purpose are no failure",
      { sent: 20, suppressed: 500 },
      0,
      false,
    ],
  ])("alert: %s", (_name, byStatus, unreadable, alert) => {
    expect(reconcile(purchases(byStatus), unreadable).alert).toBe(alert);
  });

  it("has no share without orders that should have reached Meta", () => {
    expect(reconcile(undefined, 0)).toMatchObject({
      ordersReceived: 0,
      acceptedShare: null,
      alert: false,
    });
    expect(reconcile(purchases({ suppressed: 3 }), 0).acceptedShare).toBeNull();
  });
});

describe("statusGroup", () => {
  it.each([
    ["sent", "sent"],
    ["suppressed", "notSent"],
    ["failed", "failed"],
    ["expired", "failed"],
    ["held", "waiting"],
    ["pending", "waiting"],
    ["sending", "waiting"],
  ])("%s is %s", (status, group) => expect(statusGroup(status)).toBe(group));
});

describe("coverageOf", () => {
  const row = {
    lduApplied: false,
    missingKeys: null,
    consent: null,
    checkoutToken: null,
  };
  it("counts the keys each event went out with, IP and user agent from the delivery flags", () => {
    const { shares } = coverageOf([
      {
        ...row,
        payload: {
          user_data: { em: [h], ph: [h], fbp: "fb.1.1700000000000.1" },
        },
        sentWithIp: true,
        sentWithUserAgent: true,
      },
      {
        ...row,
        payload: { user_data: { em: [h], fbc: "fb.1.1700000000000.abc" } },
        sentWithIp: true,
        sentWithUserAgent: false,
      },
      {
        ...row,
        payload: { user_data: { em: [""], external_id: [h] } },
        sentWithIp: false,
        sentWithUserAgent: false,
      },
      { ...row, payload: null, sentWithIp: false, sentWithUserAgent: false },
    ]);
    expect(shares).toMatchObject({
      em: 0.5,
      ph: 0.25,
      fbp: 0.25,
      fbc: 0.25,
      external_id: 0.25,
      client_ip_address: 0.5,
      client_user_agent: 0.25,
      ct: 0,
    });
    expect(Object.keys(shares).sort()).toEqual([...MATCH_KEYS].sort());
  });

  it("counts why the events without a key lacked it (decisions 150)", () => {
    const sent = { sentWithIp: true, sentWithUserAgent: true };
    const { missing, ldu } = coverageOf([
      // An order whose checkout the pixel never reported: its browser keys lacked consent.
      {
        ...row,
        ...sent,
        checkoutToken: "t1",
        payload: { user_data: { em: [h], ph: [h] } },
        missingKeys: "fn=redacted,zp=invalid,fbp=absent,fbc=absent",
      },
      // The pixel reported this one (a consent snapshot): the browser had no ad click, as intake found.
      {
        ...row,
        ...sent,
        checkoutToken: "t2",
        consent: { marketingAllowed: true },
        lduApplied: true,
        payload: { user_data: { em: [h], fbp: "fb.1.1700000000000.1" } },
        missingKeys: "ph=absent,fbc=absent",
      },
      // A point-of-sale order, and one recorded before the app kept reasons.
      {
        ...row,
        sentWithIp: false,
        sentWithUserAgent: false,
        payload: { user_data: { em: [h], ph: [h] } },
        missingKeys:
          "fbp=no_browser,fbc=no_browser,client_ip_address=no_browser,client_user_agent=no_browser",
      },
      { ...row, ...sent, payload: { user_data: { em: [h], ph: [h] } } },
    ]);
    expect(ldu).toBe(1);
    expect(missing.em).toBeUndefined();
    expect(missing.ph).toEqual({ absent: 1 });
    expect(missing.fbp).toEqual({ no_consent: 1, no_browser: 1, unknown: 1 });
    expect(missing.fbc).toEqual({
      no_consent: 1,
      absent: 1,
      no_browser: 1,
      unknown: 1,
    });
    expect(missing.client_ip_address).toEqual({ no_browser: 1 });
    // Stored reasons of keys that are not browser keys stay as intake found them, whatever the consent.
    expect(missing.fn).toEqual({ redacted: 1, unknown: 3 });
    expect(missing.zp).toEqual({ invalid: 1, unknown: 3 });
  });

  it("is all zeros without events", () => {
    const { shares, missing, ldu } = coverageOf([]);
    expect(Object.values(shares).every((v) => v === 0)).toBe(true);
    expect(missing).toEqual({});
    expect(ldu).toBe(0);
  });
});

describe("bucketBounds", () => {
  const now = new Date("2026-11-25T15:44:10Z");

  it("cuts 7 days at UTC midnights, from the window's start to now", () => {
    const b = bucketBounds("7d", now).map((d) => d.toISOString());
    expect(b[0]).toBe("2026-11-18T15:44:10.000Z");
    expect(b[1]).toBe("2026-11-19T00:00:00.000Z");
    expect(b.at(-2)).toBe("2026-11-25T00:00:00.000Z");
    expect(b.at(-1)).toBe(now.toISOString());
    expect(b).toHaveLength(9); // 8 buckets: a partial first and last day
  });

  it("cuts 24 hours at UTC 3-hour slots", () => {
    const b = bucketBounds("24h", now).map((d) => d.toISOString());
    expect(b.slice(0, 3)).toEqual([
      "2026-11-24T15:44:10.000Z",
      "2026-11-24T18:00:00.000Z",
      "2026-11-24T21:00:00.000Z",
    ]);
    expect(b.at(-2)).toBe("2026-11-25T15:00:00.000Z");
    expect(b).toHaveLength(10);
  });

  it("has no empty bucket when now falls on a boundary", () => {
    const midnight = new Date("2026-11-25T00:00:00Z");
    const b = bucketBounds("7d", midnight);
    for (let i = 1; i < b.length; i++)
      expect(b[i].getTime()).toBeGreaterThan(b[i - 1].getTime());
    expect(b).toHaveLength(8);
  });
});

describe("parseEventFilter", () => {
  it("takes the known filters", () => {
    const { filter, invalid } = parseEventFilter(
      new URLSearchParams(
        "status=waiting&event=Purchase&from=2026-11-01&to=2026-11-30&order=%231001&reason=test_order",
      ),
    );
    expect(invalid).toEqual([]);
    expect(filter).toEqual({
      status: "waiting",
      eventName: "Purchase",
      from: "2026-11-01",
      to: "2026-11-30",
      order: "#1001",
      reason: "test_order",
    });
  });

  it.each([
    ["status=lost", "status"],
    ["from=2026-02-30", "from"],
    ["to=yesterday", "to"],
    ["event=Drop%20table", "eventName"],
    [`order=${"9".repeat(65)}`, "order"],
    ["from=2026-11-20&to=2026-11-01", "to"],
  ])("reports %s as invalid and does not apply it", (query, field) => {
    const { filter, invalid } = parseEventFilter(new URLSearchParams(query));
    expect(invalid.map((i) => i.field)).toEqual([field]);
    expect(invalid[0].message.length).toBeGreaterThan(5);
    expect((filter as Record<string, unknown>)[field]).toBeUndefined();
  });
});

describe("eventWhere", () => {
  it("always starts from the shop, and matches an order by name with or without # or by id", () => {
    expect(eventWhere("shop1", {})).toEqual({ shopId: "shop1" });
    expect(
      eventWhere("shop1", {
        order: "1001",
        status: "waiting",
        to: "2026-11-30",
      }),
    ).toEqual({
      shopId: "shop1",
      status: { in: ["held", "pending", "sending"] },
      receivedAt: { lt: new Date("2026-12-01T00:00:00Z") },
      OR: [{ orderName: "1001" }, { orderName: "#1001" }, { orderId: "1001" }],
    });
  });
});

describe("payloadAsSent", () => {
  const payload = {
    event_name: "Purchase",
    event_id: "purchase_1",
    user_data: { em: [h] },
  };
  const row = {
    payload,
    clientIp: null,
    clientUserAgent: null,
    sentWithIp: false,
    sentWithUserAgent: false,
  };

  it("never shows the raw IP or user agent", () => {
    const pending = payloadAsSent({
      ...row,
      status: "pending",
      clientIp: "203.0.113.9",
      clientUserAgent: "Mozilla/5.0",
    });
    expect(pending.user_data).toEqual({
      em: [h],
      client_ip_address: KEPT_UNTIL_DELIVERY,
      client_user_agent: KEPT_UNTIL_DELIVERY,
    });
    expect(JSON.stringify(pending)).not.toContain("203.0.113.9");
  });

  it("names what a delivered event carried, and nothing it did not", () => {
    expect(
      payloadAsSent({ ...row, status: "sent", sentWithIp: true }).user_data,
    ).toEqual({ em: [h], client_ip_address: REMOVED_AFTER_DELIVERY });
    expect(payloadAsSent({ ...row, status: "sent" }).user_data).toEqual({
      em: [h],
    });
    expect(payloadAsSent({ ...row, status: "failed" }).user_data).toMatchObject(
      { client_ip_address: REMOVED_AFTER_DELIVERY },
    );
  });
});

describe("errorOf", () => {
  const base = {
    lastErrorCode: null,
    lastErrorSubcode: null,
    lastErrorMessage: null,
    lastFbtraceId: null,
  };
  it("explains Meta's error with the fix from the error table", () => {
    const e = errorOf({
      ...base,
      status: "failed",
      lastErrorCode: 190,
      lastErrorSubcode: 463,
      lastErrorMessage: "expired",
      lastFbtraceId: "T1",
    });
    expect(e).toMatchObject({
      code: 190,
      subcode: 463,
      fbtraceId: "T1",
      explanation: { kind: "token" },
    });
    expect(e!.explanation.fix).toMatch(/Connect page/);
  });
  it("explains an expired event as too old, and has nothing for a clean one", () => {
    expect(errorOf({ ...base, status: "expired" })!.explanation.kind).toBe(
      "event_too_old",
    );
    expect(errorOf({ ...base, status: "pending" })).toBeNull();
    expect(errorOf({ ...base, status: "sent", lastErrorCode: 2 })).toBeNull();
  });
});

describe("the admin's label tables", () => {
  // The charts take their series in the order of the label tables (the core stays out of the browser bundle).
  it("list the status groups and match keys in the core's order", () => {
    expect(Object.keys(STATUS_GROUP_LABEL)).toEqual(STATUS_GROUPS);
    expect(Object.keys(KEY_LABEL)).toEqual([...MATCH_KEYS]);
  });
});
