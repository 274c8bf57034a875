import { describe, expect, it } from "vitest";
import { safePageUrl, safePathAndQuery } from "../../app/core/wire/pageUrl";
import {
  HARBOUR,
  JUNIPER,
  pagesWithSecrets,
  privateUrls,
} from "../fixtures/shopDomains";

// decisions 36: the one rule for a page URL that goes to Meta, on both paths.

describe("safePageUrl", () => {
  const origin = `https://${JUNIPER.primaryDomain}`;

  it.each(privateUrls(origin))(
    "reduces the private link $url to the site's home",
    ({ url, secret }) => {
      const safe = safePageUrl(url)!;
      expect(safe).toBe(`${new URL(url).origin}/`);
      expect(safe).not.toContain(secret);
    },
  );

  it.each(pagesWithSecrets(origin))(
    "keeps $url without its secrets",
    ({ url, safe }) => {
      expect(safePageUrl(url)).toBe(safe);
    },
  );

  it("leaves an ordinary page exactly as it is", () => {
    for (const url of [
      `${origin}/`,
      `${origin}/products/oolong?variant=1&utm_campaign=spring%20sale`,
      "https://www.google.com/",
    ]) {
      expect(safePageUrl(url)).toBe(url);
    }
  });

  it("refuses what is not an http(s) URL", () => {
    for (const url of [
      "javascript:alert(1)",
      "data:text/html,x",
      "file:///etc/passwd",
      "not a url",
      "/relative",
      "",
    ]) {
      expect(safePageUrl(url), url).toBeNull();
    }
  });

  it("works on another shop's domain and on http", () => {
    expect(
      safePageUrl(`http://${HARBOUR.primaryDomain}/checkouts/cn/abc/thank-you`),
    ).toBe(`http://${HARBOUR.primaryDomain}/`);
  });
});

describe("safePathAndQuery", () => {
  it("takes the path and query as URL gives them", () => {
    expect(safePathAndQuery("/products/tea", "")).toBe("/products/tea");
    expect(safePathAndQuery("/products/tea", "?")).toBe("/products/tea");
    expect(safePathAndQuery("/products/tea", "?a=1&&token=x&b")).toBe(
      "/products/tea?a=1&b",
    );
    expect(safePathAndQuery("/products/tea", "?token=x")).toBe("/products/tea");
    expect(safePathAndQuery("/548380009/invoices/abc", "?x=1")).toBe("/");
  });

  it("keeps a query with nothing to drop as it is, and reads any other pair by pair", () => {
    const path = "/products/tea";
    for (const [search, safe] of [
      [
        "?utm_source=facebook&utm_medium=paid&fbclid=IwAR2xY_AbCdEf-9Zk1Lq",
        "?utm_source=facebook&utm_medium=paid&fbclid=IwAR2xY_AbCdEf-9Zk1Lq",
      ],
      // A secret-looking word in a value only: every pair stays.
      ["?utm_campaign=monkey-author&a=1", "?utm_campaign=monkey-author&a=1"],
      ["?Token=x&a=1", "?a=1"],
      ["?%6Bey=x&a=1", "?a=1"],
      // The Kelvin sign lower-cases to "k": read as "key", as pair by pair.
      ["?\u212Aey=x&a=1", "?a=1"],
      ["?e=jo@eg.com&a=1", "?a=1"],
      ["?e=jo%40eg.com&a=1", "?a=1"],
      ["?&a=1", "?a=1"],
      ["?a=1&", "?a=1"],
      ["?a=1&&b=2", "?a=1&b=2"],
    ])
      expect(safePathAndQuery(path, search), search).toBe(path + safe);
  });

  it("does not take a product or collection named like a private page's neighbour for one", () => {
    for (const path of [
      "/products/checkout-bag",
      "/collections/accounts",
      "/products/c",
      "/pages/order-tracking",
      "/blogs/news/thank-you-notes",
    ]) {
      expect(safePathAndQuery(path, "")).toBe(path);
    }
  });
});
