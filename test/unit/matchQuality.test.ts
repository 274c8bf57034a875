import { describe, expect, it } from "vitest";
import {
  estimateMatchQuality,
  MATCH_KEYS,
  matchKeysOf,
  type MatchKey,
} from "../../app/core/insights/matchQuality";

const all = (share: number) =>
  Object.fromEntries(MATCH_KEYS.map((k) => [k, share])) as Record<
    MatchKey,
    number
  >;
const only = (keys: MatchKey[], share = 1) => ({
  ...all(0),
  ...Object.fromEntries(keys.map((k) => [k, share])),
});

// Weights by hand: em 3, ph 2, external_id 1.2, fbp 1, fbc 0.9, ip+ua pair 0.8, address group 0.7, names 0.4.
describe("estimateMatchQuality", () => {
  it.each<[string, Partial<Record<MatchKey, number>>, number, string]>([
    ["every key on every event", all(1), 10, "great"],
    ["nothing", all(0), 0, "poor"],
    ["an empty record", {}, 0, "poor"],
    ["email only", only(["em"]), 3, "poor"],
    ["email and phone", only(["em", "ph"]), 5, "ok"],
    [
      "fbp, IP and user agent only",
      only(["fbp", "client_ip_address", "client_user_agent"]),
      1.8,
      "poor",
    ],
    [
      "IP without user agent counts nothing",
      only(["client_ip_address"]),
      0,
      "poor",
    ],
    [
      "user agent without IP counts nothing",
      only(["client_user_agent"]),
      0,
      "poor",
    ],
    // 3 + 2 + 1 = 6.0: the lower edge of good.
    ["email, phone and fbp", only(["em", "ph", "fbp"]), 6, "good"],
    // 3 + 2 + 0.9 = 5.9.
    ["email, phone and fbc", only(["em", "ph", "fbc"]), 5.9, "ok"],
    // 3 + 2 + 1.2 + 1 + 0.8 = 8.0: the lower edge of great.
    [
      "email, phone, customer id, fbp, IP and UA",
      only([
        "em",
        "ph",
        "external_id",
        "fbp",
        "client_ip_address",
        "client_user_agent",
      ]),
      8,
      "great",
    ],
    // A typical web order without an ad click: 10 - 0.9.
    ["everything but fbc", { ...all(1), fbc: 0 }, 9.1, "great"],
    // 0.7 + 0.4 = 1.1.
    [
      "names and address only",
      only(["fn", "ln", "ct", "st", "zp", "country"]),
      1.1,
      "poor",
    ],
    // 3 + 0.7 * 1/4 = 3.175, shown as 3.2.
    ["email and country", only(["em", "country"]), 3.2, "poor"],
    // 0.4 * 1/2 = 0.2.
    ["first name only", only(["fn"]), 0.2, "poor"],
    // Orders without customer data access: 1.2 + 1 + 0.8 + 0.9 * 0.3 = 3.27.
    [
      "redacted orders",
      {
        ...only([
          "external_id",
          "fbp",
          "client_ip_address",
          "client_user_agent",
        ]),
        fbc: 0.3,
      },
      3.3,
      "poor",
    ],
    // 3 * 0.5 + 2 * 0.5 + 1.2 + 1 + 0.8 = 5.5.
    [
      "half the orders with email and phone",
      {
        ...only([
          "external_id",
          "fbp",
          "client_ip_address",
          "client_user_agent",
        ]),
        em: 0.5,
        ph: 0.5,
      },
      5.5,
      "ok",
    ],
    // The pair takes the smaller share: 0.8 * 0.5 = 0.4.
    [
      "IP on all, UA on half",
      { client_ip_address: 1, client_user_agent: 0.5 },
      0.4,
      "poor",
    ],
    // 10 * 0.75 = 7.5.
    ["every key on three events in four", all(0.75), 7.5, "good"],
  ])("%s", (_name, shares, score, rating) => {
    expect(estimateMatchQuality(shares)).toEqual({ score, rating });
  });

  it("reads shares outside 0..1 and non-numbers as the nearest valid share", () => {
    expect(estimateMatchQuality({ em: 2, ph: -1 })).toEqual({
      score: 3,
      rating: "poor",
    });
    expect(
      estimateMatchQuality({ em: Number.NaN, ph: Number.POSITIVE_INFINITY }),
    ).toEqual({
      score: 0,
      rating: "poor",
    });
  });

  it("never leaves binary noise in the score", () => {
    for (let i = 0; i <= 100; i++) {
      const { score } = estimateMatchQuality(all(i / 100));
      expect(score).toBe(Number(score.toFixed(1)));
    }
  });
});

describe("matchKeysOf", () => {
  const h = "0".repeat(64);

  it("lists every key an event carries, in MATCH_KEYS order", () => {
    expect(
      matchKeysOf({
        external_id: [h],
        em: [h],
        ph: [h, h],
        fn: [h],
        ln: [h],
        ct: [h],
        st: [h],
        zp: [h],
        country: [h],
        fbp: "fb.1.1762800000000.1098765432",
        fbc: "fb.1.1762800000000.IwAR2",
        client_ip_address: "203.0.113.42",
        client_user_agent: "Mozilla/5.0",
      }),
    ).toEqual(MATCH_KEYS);
  });

  it("skips empty arrays, empty strings and nulls", () => {
    expect(
      matchKeysOf({
        em: [],
        ph: [""],
        fbp: "",
        fbc: "  ",
        client_ip_address: null,
        client_user_agent: "Mozilla/5.0",
      }),
    ).toEqual(["client_user_agent"]);
  });

  it("ignores keys that are not match keys", () => {
    expect(matchKeysOf({ ge: [h], db: [h], external_id: [h] })).toEqual([
      "external_id",
    ]);
    expect(matchKeysOf({})).toEqual([]);
  });

  it("feeds estimateMatchQuality", () => {
    const keys = matchKeysOf({
      em: [h],
      client_ip_address: "203.0.113.42",
      client_user_agent: "UA",
      fbp: "fb.1.1.1",
    });
    const shares = Object.fromEntries(keys.map((k) => [k, 1]));
    expect(estimateMatchQuality(shares)).toEqual({ score: 4.8, rating: "ok" });
  });
});
