import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  firstQueryParam,
  httpUrl,
  memoSha256Hex,
  roundMoney,
  shopifyTimestampMs,
  sqliteTime,
} from "../../app/core/fast";
import { integerText } from "../../app/core/wire/eventId";

// Each performance trick (app/core/fast, and wire's integerText) must give what its plain version gives, on every
// input (decisions 51).

const BASE = "https://storefront.invalid/";

/** The plain version of httpUrl. */
function plainUrl(value: string) {
  try {
    const url = new URL(value, BASE);
    return url.protocol === "https:" || url.protocol === "http:"
      ? { pathname: url.pathname, search: url.search }
      : null;
  } catch {
    return null;
  }
}

const LANDING_PAGES = [
  "/",
  "/products/merino-tee?utm_source=facebook&utm_medium=paid&fbclid=IwAR2xY_AbCdEf-9Zk1Lq",
  "/products/tee?fbclid=abc",
  "/products/tee?",
  "/products/tee?&",
  "/products/tee??fbclid=a",
  "/a?fbclid",
  "/a?fbclid=",
  "/a?fbclid&fbclid=b",
  "/a?x=1&fbclid=first&fbclid=second",
  "/a?fbclidx=1&xfbclid=2",
  "/a?FBCLID=upper",
  "/a?fbclid=a%20b",
  "/a?fbclid=a+b",
  "/a?fbclid=%zz",
  "/a?fbclid=a=b",
  "/a?q=%2e",
  "/a/./b",
  "/a/../b?fbclid=x",
  "/a/%2e%2E/b",
  "/a/.",
  "/a/..",
  "//evil.example/x?fbclid=1",
  "/a#frag?fbclid=1",
  "/a?fbclid=1#frag",
  "/a b?fbclid=1",
  "/a\\b?fbclid=1",
  "/é?fbclid=1",
  "/a?fbclid=é",
  "/a?x='\"<>",
  "/a|b^c`d{e}",
  "/a[b]?c=[d]",
  "/:@!$&'()*+,;=~-._",
  "/%41%42",
  "products/tee?fbclid=relative",
  "?fbclid=only-query",
  "https://shop.example/p?fbclid=abs",
  "HTTP://SHOP.EXAMPLE/P?fbclid=abs",
  "http://shop.example:8080/p",
  "ftp://shop.example/p",
  "javascript:alert(1)",
  "mailto:a@b.example",
  "https://",
  "http://[::1",
  "/a\tb",
  "/a\nb",
];

describe("httpUrl equals new URL(value, base)", () => {
  for (const value of LANDING_PAGES)
    it(JSON.stringify(value), () => {
      const url = httpUrl(value, BASE);
      const plain = plainUrl(value);
      expect(url && { pathname: url.pathname, search: url.search }).toEqual(
        plain,
      );
    });
});

describe("firstQueryParam equals url.searchParams.get", () => {
  for (const value of LANDING_PAGES)
    it(JSON.stringify(value), () => {
      const url = httpUrl(value, BASE);
      if (!url) return;
      for (const name of ["fbclid", "x", "q", "c"])
        expect(firstQueryParam(url, name), name).toBe(
          new URL(value, BASE).searchParams.get(name),
        );
    });
});

// Equal (as JSON: -0 is 0) on every amount below 10^13, far above any order; beyond 15 significant digits the
// plain version drops digits that the trick keeps.
describe("roundMoney equals Math.round(Number((amount * 100).toPrecision(15))) / 100", () => {
  const amounts = [
    0,
    -0,
    99_999_999_999.99,
    -12_345_678_901.235,
    1,
    82.68,
    112.44,
    25,
    12.5,
    3,
    0.1 + 0.2,
    1.005,
    1.015,
    1.025,
    2.675,
    8.345,
    0.005,
    0.0049999,
    1.0049999,
    -1.005,
    -2.675,
    -0.004,
    -0.005,
    19.999,
    19.995,
    1e-9,
    123456.785,
    9999999.995,
    1e300,
    Number.MIN_VALUE,
    0.285,
    1.255,
    10.235,
    4.35 * 3,
  ];
  for (const amount of amounts)
    it(String(amount), () =>
      expect(roundMoney(amount) === plainRound(amount)).toBe(true),
    );
  it("on 100,000 amounts of up to three decimals", () => {
    for (let mills = -50_000; mills < 50_000; mills++) {
      const amount = (mills * 7919) / 1000;
      expect(roundMoney(amount), String(amount)).toBe(plainRound(amount));
    }
  });
});

function plainRound(amount: number): number {
  return Math.round(Number((amount * 100).toPrecision(15))) / 100;
}

describe("integerText equals String(n)", () => {
  const numbers = [
    1,
    9,
    10,
    999_999_999,
    1e9,
    1e9 + 1,
    1_000_000_007,
    5_789_012_345_678,
    7_513_594_339_510,
    42_258_695_061_686,
    9_000_000_000_001,
    10 ** 15,
    10 ** 15 + 1,
    2 ** 53 - 1,
  ];
  for (const n of numbers)
    it(String(n), () => expect(integerText(n)).toBe(String(n)));
  it("on 100,000 ids across the safe range", () => {
    for (let i = 1; i <= 100_000; i++) {
      const n = Math.floor((Number.MAX_SAFE_INTEGER / 100_000) * i) - (i % 7);
      expect(integerText(n), String(n)).toBe(String(n));
    }
  });
});

describe("shopifyTimestampMs equals Date.parse where it answers, and leaves every other text to it", () => {
  const TIMESTAMPS = [
    "2026-11-10T14:03:12-05:00",
    "2026-11-10T19:03:12.345Z",
    "2026-11-10T19:03:12Z",
    "2026-11-10T19:03:12+05:30",
    "2026-11-10T19:03:12.000+00:00",
    "2024-02-29T23:59:59-12:00",
    "2026-02-28T00:00:00+14:00",
    "2026-02-31T10:00:00Z",
    "2026-04-31T10:00:00-04:00",
    "2026-13-01T10:00:00Z",
    "2026-00-10T10:00:00Z",
    "2026-11-10T24:00:00Z",
    "2026-11-10T23:60:00Z",
    "2026-11-10T23:59:60Z",
    "0099-11-10T10:00:00Z",
    "2026-11-10 19:03:12Z",
    "2026-11-10T19:03:12",
    "2026-11-10T19:03:12.34Z",
    "2026-11-10T19:03:12-0500",
    "2026-11-10T19:03:12-05:0",
    "2026-1a-10T19:03:12Z",
    "2026-11-10T19:03:12.3a5Z",
    "2026-11-10T19:03:12+24:00",
    "2026-11-10",
    "",
    "not a date",
  ];
  const plain = (s: string) => {
    const ms = Date.parse(s);
    return Number.isFinite(ms) ? ms : null;
  };
  const fast = (s: string) => {
    const ms = shopifyTimestampMs(s) ?? Date.parse(s);
    return Number.isFinite(ms) ? ms : null;
  };
  it.each(TIMESTAMPS)("%s", (s) => expect(fast(s)).toBe(plain(s)));
  it("on 20,000 random timestamps in Shopify's shapes, years 0100-9999 (the leap rules of centuries)", () => {
    let seed = 7;
    const next = (n: number) =>
      (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const pad = (n: number, w: number) => String(n).padStart(w, "0");
    for (let i = 0; i < 20_000; i++) {
      const zone = [
        "Z",
        `+${pad(next(15), 2)}:${pad(next(60), 2)}`,
        `-${pad(next(13), 2)}:${pad(next(60), 2)}`,
      ][next(3)];
      const s =
        `${pad(100 + next(9900), 4)}-${pad(1 + next(12), 2)}-${pad(1 + next(31), 2)}` +
        `T${pad(next(24), 2)}:${pad(next(60), 2)}:${pad(next(60), 2)}` +
        (next(2) ? `.${pad(next(1000), 3)}` : "") +
        zone;
      expect(fast(s), s).toBe(plain(s));
    }
  });
});

describe("memoSha256Hex equals a fresh SHA-256 of each value", () => {
  const plain = (value: string) =>
    createHash("sha256").update(value, "utf8").digest("hex");

  it("on small-set values asked again and again, and across the memo's clearing", () => {
    // More distinct values than the memo keeps, each asked twice in a row and again later: hits, misses and the
    // values asked after a clear all give the plain hash.
    const values = Array.from({ length: 10_000 }, (_, i) =>
      i % 3 === 0 ? `st${i}` : i % 3 === 1 ? `c${i % 250}` : `é${i}ü`,
    );
    for (const round of [0, 1])
      for (const v of values) {
        expect(memoSha256Hex(v), `${round} ${v}`).toBe(plain(v));
        expect(memoSha256Hex(v)).toBe(plain(v));
      }
  });

  it("on the empty text and on lone surrogates as Node hashes UTF-8", () => {
    for (const v of ["", "us", "\ud800", "a\udc00b", "ny"])
      expect(memoSha256Hex(v)).toBe(plain(v));
  });
});

describe("sqliteTime", () => {
  const plain = (d: Date) => d.toISOString().replace("Z", "+00:00");

  it("gives the plain text for runs of equal and differing instants, and dates changed in place", () => {
    const base = Date.UTC(2026, 11, 6, 5, 30, 0, 123);
    const instants = [
      0,
      0,
      0,
      1,
      1,
      -86_400_000,
      0,
      999,
      999,
      -base,
      253402300799999 - base,
    ];
    for (const offset of instants) {
      const d = new Date(base + offset);
      expect(sqliteTime(d)).toBe(plain(d));
      expect(sqliteTime(new Date(d.getTime()))).toBe(plain(d));
    }
    const mutable = new Date(base);
    expect(sqliteTime(mutable)).toBe(plain(mutable));
    mutable.setTime(base + 1);
    expect(sqliteTime(mutable)).toBe(plain(mutable));
  });

  it("on 20,000 random instants, in random order with repeats", () => {
    let last = new Date(0);
    for (let i = 0; i < 20_000; i++) {
      const d =
        Math.random() < 0.5
          ? new Date(last.getTime())
          : new Date(Math.floor(Math.random() * 253402300799999));
      expect(sqliteTime(d)).toBe(plain(d));
      last = d;
    }
  });

  it("throws on an invalid date, as toISOString does, also after a valid one", () => {
    sqliteTime(new Date(0));
    expect(() => sqliteTime(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => sqliteTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
