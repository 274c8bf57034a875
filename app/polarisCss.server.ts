import polarisCss from "@shopify/polaris/build/esm/styles.css?inline";

// Polaris' stylesheet as the admin's documents inline it (app/components/PolarisStyles.tsx).

const ROOT_HOVER_RULE = /html:hover[^{]*\{[^}]*\}/g;

/**
 * Polaris shows the page's scrollbar thumb while the pointer is over the document (`html:hover`). Its property,
 * scrollbar-color, is inherited, so the rule restyles every element of the page when the root gains :hover, and a
 * phone's tap gives it :hover: a whole-page style recalculation inside the tap (decisions 140). Kept for pointers
 * that hover (a mouse enters the page long before it clicks), left out on touch screens, where a scrollbar shows only
 * while the page scrolls.
 */
export function rootHoverForPointersOnly(css: string): string {
  return css.replace(
    ROOT_HOVER_RULE,
    (rule) => `@media (hover: hover){${rule}}`,
  );
}

export const POLARIS_CSS = rootHoverForPointersOnly(polarisCss);
