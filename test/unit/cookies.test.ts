import { describe, expect, it } from "vitest";
import { FBC_PATTERN, FBP_PATTERN, clickIdOfFbc } from "../../app/core/wire";
import { parseIngestBody } from "../../app/core/intake/browserEvent";

// Every format Meta's pixel (fbevents.js) and its capi-param-builder libraries write (decisions 106).
const FBP_VALID: [string, string][] = [
  ["pixel, registrable domain", "fb.1.1596403881668.1116446470"],
  ["pixel, bare host (index 0)", "fb.0.1596403881668.1116446470"],
  ["pixel, one level below (index 2)", "fb.2.1596403881668.42"],
  ["seconds, an old writer", "fb.1.1596403881.1116446470"],
  [
    "param builder JS: two 9-digit numbers",
    "fb.1.1733000000000.123456789987654321",
  ],
  ["language token appendix (node)", "fb.1.1733000000000.1116446470.Ag"],
  ["language token appendix (php)", "fb.1.1733000000000.1116446470.Aw"],
  ["language token appendix (client js)", "fb.1.1733000000000.1116446470.AQ"],
  [
    "language token appendix (java, python, ruby)",
    "fb.1.1733000000000.1116446470.Bg",
  ],
  [
    "v2 appendix, 8 base64url characters",
    "fb.1.1733000000000.1116446470.AQIBAQAA",
  ],
  ["v2 appendix with - and _", "fb.1.1733000000000.1116446470.A-_BAQAA"],
];
const FBP_INVALID: [string, string][] = [
  ["not fb", "xx.1.1596403881668.1116446470"],
  ["timestamp not digits", "fb.1.abc.1116446470"],
  ["random not digits", "fb.1.1596403881668.abc"],
  ["unknown 2-letter token", "fb.1.1596403881668.1116446470.ZZ"],
  ["appendix of another length", "fb.1.1596403881668.1116446470.ABCDEFG"],
  ["two appendixes", "fb.1.1596403881668.1116446470.AQ.Ag"],
  ["empty", ""],
  ["markup", "fb.1.1596403881668.1<script>"],
];
const FBC_VALID: [string, string, string][] = [
  [
    "pixel",
    "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
    "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
  ],
  ["index 0", "fb.0.1554763741205.AbCdEf", "AbCdEf"],
  [
    "language token appendix",
    "fb.1.1733000000000.IwAR2F4-dbP0.Ag",
    "IwAR2F4-dbP0",
  ],
  ["v2 appendix", "fb.1.1733000000000.IwAR2F4-dbP0.AQIBAQAA", "IwAR2F4-dbP0"],
  [
    "longest click id with an appendix",
    `fb.1.1733000000000.${"a".repeat(500)}.BQ`,
    "a".repeat(500),
  ],
];
const FBC_INVALID: [string, string][] = [
  ["no click id", "fb.1.1554763741205."],
  ["click id over 500", `fb.1.1554763741205.${"a".repeat(501)}`],
  ["a space", "fb.1.1554763741205.Ab Cd"],
  ["timestamp not digits", "fb.1.x.AbCd"],
];

describe("_fbp formats", () => {
  it.each(FBP_VALID)("accepts %s", (_, fbp) => {
    expect(FBP_PATTERN.test(fbp)).toBe(true);
  });
  it.each(FBP_INVALID)("refuses %s", (_, fbp) => {
    expect(FBP_PATTERN.test(fbp)).toBe(false);
  });
});

describe("_fbc formats", () => {
  it.each(FBC_VALID)("accepts %s, and reads its click id", (_, fbc, id) => {
    expect(FBC_PATTERN.test(fbc)).toBe(true);
    expect(clickIdOfFbc(fbc)).toBe(id);
  });
  it.each(FBC_INVALID)("refuses %s", (_, fbc) => {
    expect(FBC_PATTERN.test(fbc)).toBe(false);
    expect(clickIdOfFbc(fbc)).toBeNull();
  });
});

describe("the pixel endpoint passes every valid cookie through unchanged", () => {
  const body = (fbp: string, fbc: string) => ({
    v: 1,
    kind: "event",
    shop: "demo.myshopify.com",
    key: "shop-key-0001",
    event: {
      event_name: "PageView",
      event_id: "sh-1",
      event_time: 1_765_000_000,
      event_source_url: "https://demo.myshopify.com/",
      consent: { marketingAllowed: true },
      fbp,
      fbc,
    },
  });
  it.each(
    FBP_VALID.map(([name, fbp], i) => [
      name,
      fbp,
      FBC_VALID[i % FBC_VALID.length][1],
    ]),
  )("%s", (_, fbp, fbc) => {
    const parsed = parseIngestBody(JSON.stringify(body(fbp, fbc)));
    expect(parsed.ok).toBe(true);
    if (parsed.ok && parsed.body.kind === "event") {
      expect(parsed.body.event.fbp).toBe(fbp);
      expect(parsed.body.event.fbc).toBe(fbc);
    }
  });
});
