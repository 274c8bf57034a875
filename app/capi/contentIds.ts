import type { ContentIdFormat } from "./settings";

// One content-id rule for both paths (the web pixel bundles this file), so Meta's catalog matching sees the
// same ids from the browser and the server.

export interface ContentRef {
  productId?: string | null;
  variantId?: string | null;
  sku?: string | null;
}

/** The id of one line for Meta's `contents`/`content_ids`, or null when the line lacks what the format needs. */
export function contentId(format: ContentIdFormat, ref: ContentRef, catalogCountry: string): string | null {
  const product = ref.productId ? trailingDigits(ref.productId) : null;
  const variant = ref.variantId ? trailingDigits(ref.variantId) : null;
  switch (format) {
    case "variant":
      return variant;
    case "product":
      return product;
    case "sku":
      return ref.sku?.trim() || null;
    case "shopify_catalog":
      return product && variant ? `shopify_${catalogCountry.toUpperCase()}_${product}_${variant}` : null;
  }
}

function trailingDigits(id: string): string | null {
  const match = /(\d+)\s*$/.exec(String(id));
  return match ? match[1] : null;
}

/** Meta: "product_group" when the ids are Shopify products (catalog item groups), "product" for items. */
export function contentType(format: ContentIdFormat): "product" | "product_group" {
  return format === "product" ? "product_group" : "product";
}
