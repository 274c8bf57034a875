import type { ContentIdFormat } from "../../../app/capi/settings";

// The pixel's settings arrive as strings (webPixelCreate/webPixelUpdate `settings` JSON, matching
// shopify.extension.toml). Anything missing or malformed disables only what it is needed for.

export interface PixelConfig {
  /** Meta dataset id; null disables the browser path. */
  pixelId: string | null;
  /** App ingest endpoint; null disables the server path. */
  ingestUrl: string | null;
  shopKey: string;
  /** Send to https://www.facebook.com/tr too (only when the setting is exactly "true"). */
  browserPixel: boolean;
  contentIdFormat: ContentIdFormat;
  catalogCountry: string;
  collectionViewed: boolean;
  cartViewed: boolean;
}

const FORMATS: readonly ContentIdFormat[] = ["variant", "product", "sku", "shopify_catalog"];

export function readConfig(settings: Record<string, unknown> | null | undefined): PixelConfig {
  const s = settings ?? {};
  const str = (k: string) => (typeof s[k] === "string" ? (s[k] as string).trim() : "");

  const pixelId = /^\d{5,20}$/.test(str("pixelId")) ? str("pixelId") : null;
  const ingestUrl = isHttpUrl(str("ingestUrl")) ? str("ingestUrl") : null;
  const format = str("contentIdFormat") as ContentIdFormat;
  const country = str("catalogCountry").toUpperCase();
  const custom = new Set(
    str("customEvents")
      .split(",")
      .map((x) => x.trim().toLowerCase().replace(/[^a-z]/g, ""))
      .filter(Boolean),
  );
  return {
    pixelId,
    ingestUrl,
    shopKey: str("shopKey"),
    browserPixel: str("browserPixel") === "true",
    contentIdFormat: FORMATS.includes(format) ? format : "variant",
    catalogCountry: /^[A-Z]{2}$/.test(country) ? country : "US",
    // accepts "collection_viewed" (the event), "collectionViewed" (the app setting) and "ViewCollection"
    collectionViewed: custom.has("collectionviewed") || custom.has("viewcollection"),
    cartViewed: custom.has("cartviewed") || custom.has("viewcart"),
  };
}

function isHttpUrl(s: string): boolean {
  if (!s || s.length > 2048) return false;
  try {
    const u = new URL(s);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}
