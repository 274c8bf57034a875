import { trailingDigits } from "./eventId";

// One content-id rule for both paths (the web pixel bundles this file), so Meta's catalog matching sees the
// same ids from the browser and the server.

export const CONTENT_ID_FORMATS = [
  "variant",
  "product",
  "sku",
  "shopify_catalog",
] as const;
export type ContentIdFormat = (typeof CONTENT_ID_FORMATS)[number];

export interface ContentRef {
  productId?: string | null;
  variantId?: string | null;
  sku?: string | null;
}

/** The id of one line for Meta's `contents`/`content_ids`, or null when the line lacks what the format needs. */
export function contentId(
  format: ContentIdFormat,
  ref: ContentRef,
  catalogCountry: string,
): string | null {
  switch (format) {
    case "variant":
      return idDigits(ref.variantId);
    case "product":
      return idDigits(ref.productId);
    case "sku":
      return ref.sku?.trim() || null;
    case "shopify_catalog": {
      const product = idDigits(ref.productId);
      const variant = idDigits(ref.variantId);
      return product && variant
        ? `shopify_${catalogCountry.toUpperCase()}_${product}_${variant}`
        : null;
    }
  }
}

function idDigits(id: string | null | undefined): string | null {
  return id ? trailingDigits(String(id)) : null;
}

/** Meta: "product_group" when the ids are Shopify products (catalog item groups), "product" for items. */
export function contentType(
  format: ContentIdFormat,
): "product" | "product_group" {
  return format === "product" ? "product_group" : "product";
}
