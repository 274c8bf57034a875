import { describe, expect, it } from "vitest";
import { contentId } from "../../app/core/wire/contentIds";
import { numericId, purchaseEventId } from "../../app/core/wire/eventId";

describe("numericId", () => {
  it.each<[unknown, string | null]>([
    [5789012345678, "5789012345678"],
    [5000000000001, "5000000000001"],
    [1000000000, "1000000000"],
    [999999999, "999999999"],
    [Number.MAX_SAFE_INTEGER, "9007199254740991"],
    [7, "7"],
    [0, null],
    [-5, null],
    [1.5, null],
    [2 ** 60, null],
    ["5789012345678", "5789012345678"],
    ["gid://shopify/Order/5789012345678", "5789012345678"],
    ["gid://shopify/Order/5789012345678 \n", "5789012345678"],
    [" 0042 ", "42"],
    ["000", "0"],
    ["gid://shopify/Order/", null],
    ["12 abc", null],
    [null, null],
  ])("%j -> %j", (id, expected) => {
    expect(numericId(id)).toBe(expected);
  });

  it("formats any safe integer as String() does", () => {
    for (const n of [
      1e9 - 1,
      1e9,
      1e9 + 1,
      1e12 + 5,
      123456789012345,
      2 ** 53 - 2,
      9000000000000001,
    ]) {
      expect(numericId(n)).toBe(String(n));
    }
  });

  it("makes the Purchase event_id", () => {
    expect(purchaseEventId("gid://shopify/Order/5789012345678")).toBe(
      "purchase_5789012345678",
    );
    expect(purchaseEventId("none")).toBeNull();
  });
});

describe("contentId", () => {
  const ref = {
    productId: "gid://shopify/Product/0751",
    variantId: "42258695061686 ",
    sku: " MUG ",
  };
  it.each([
    ["variant", "42258695061686"],
    ["product", "0751"],
    ["sku", "MUG"],
    ["shopify_catalog", "shopify_CA_0751_42258695061686"],
  ] as const)("%s -> %s", (format, expected) => {
    expect(contentId(format, ref, "ca")).toBe(expected);
  });

  it("is null when the format's id is missing", () => {
    expect(
      contentId("shopify_catalog", { ...ref, variantId: null }, "ca"),
    ).toBeNull();
    expect(contentId("product", { productId: "none" }, "ca")).toBeNull();
  });
});
