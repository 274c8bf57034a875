import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { rootHoverForPointersOnly } from "../../app/polarisCss.server";

// decisions 140: Polaris' rules on the root's :hover restyle the whole page when a phone's tap gives the root :hover;
// the inlined stylesheet keeps them for pointers that hover, and changes nothing else.

const polaris = readFileSync(
  createRequire(import.meta.url).resolve(
    "@shopify/polaris/build/esm/styles.css",
  ),
  "utf8",
);

describe("Polaris' stylesheet as the admin inlines it", () => {
  const css = rootHoverForPointersOnly(polaris);

  it("puts every html:hover rule inside @media (hover: hover), and only those", () => {
    const rules = [...polaris.matchAll(/html:hover[^{]*\{[^}]*\}/g)].map(
      (m) => m[0],
    );
    // The page scrollbar's colour and its WebKit thumb.
    expect(rules).toHaveLength(2);
    for (const rule of rules)
      expect(css).toContain(`@media (hover: hover){${rule}}`);
    expect(css.split("html:hover")).toHaveLength(rules.length + 1);
    expect(
      css.replaceAll(/@media \(hover: hover\)\{(html:hover[^}]*\})\}/g, "$1"),
    ).toBe(polaris);
  });
});
