import {
  ALL_ORDERS,
  ROUTE_CHANNELS,
  ROUTE_KINDS,
  type ContentIdFormat,
  type RoutingRule,
} from "../../../app/core/wire";

// The pixel's settings arrive as strings (webPixelCreate/webPixelUpdate `settings` JSON, matching
// shopify.extension.toml). Anything missing or malformed disables only what it is needed for.

export interface PixelConfig {
  /** Meta dataset id; null disables the browser path. */
  pixelId: string | null;
  /**
   * The datasets the browser copy goes to, each with its routing rule (decisions 136): the `datasets` setting of a
   * shop that routes, else the one `pixelId` for all events.
   */
  datasets: { id: string; rule: RoutingRule }[];
  /** App ingest endpoint; null disables the server path. */
  ingestUrl: string | null;
  shopKey: string;
  /** Send to https://www.facebook.com/tr too (only when the setting is exactly "true"). */
  browserPixel: boolean;
  contentIdFormat: ContentIdFormat;
  catalogCountry: string;
  /** The checkout events' value: the same money as the server's Purchase (decisions 110). */
  valueMode: "total" | "subtotal";
  collectionViewed: boolean;
  cartViewed: boolean;
}

const FORMATS: readonly ContentIdFormat[] = [
  "variant",
  "product",
  "sku",
  "shopify_catalog",
];

export function readConfig(
  settings: Record<string, unknown> | null | undefined,
): PixelConfig {
  const s = settings ?? {};
  const str = (k: string) =>
    typeof s[k] === "string" ? (s[k] as string).trim() : "";

  const pixelId = /^\d{5,20}$/.test(str("pixelId")) ? str("pixelId") : null;
  const ingestUrl = isHttpUrl(str("ingestUrl")) ? str("ingestUrl") : null;
  const format = str("contentIdFormat") as ContentIdFormat;
  const country = str("catalogCountry").toUpperCase();
  const custom = new Set(
    str("customEvents")
      .split(",")
      .map((x) =>
        x
          .trim()
          .toLowerCase()
          .replace(/[^a-z]/g, ""),
      )
      .filter(Boolean),
  );
  return {
    pixelId,
    datasets:
      readDatasets(str("datasets")) ??
      (pixelId ? [{ id: pixelId, rule: ALL_ORDERS }] : []),
    ingestUrl,
    shopKey: str("shopKey"),
    browserPixel: str("browserPixel") === "true",
    contentIdFormat: FORMATS.includes(format) ? format : "variant",
    catalogCountry: /^[A-Z]{2}$/.test(country) ? country : "US",
    valueMode: str("valueMode") === "subtotal" ? "subtotal" : "total",
    // accepts "collection_viewed" (the event), "collectionViewed" (the app setting) and "ViewCollection"
    collectionViewed:
      custom.has("collectionviewed") || custom.has("viewcollection"),
    cartViewed: custom.has("cartviewed") || custom.has("viewcart"),
  };
}

const CODE = /^[A-Za-z0-9_-]{1,100}$/;

/** One rule as the app wrote it, or null: a rule the pixel cannot read sends nothing rather than everything. */
function readRule(raw: unknown): RoutingRule | null {
  if (!raw || typeof raw !== "object") return null;
  const r = raw as Record<string, unknown>;
  const codes = (v: unknown) =>
    Array.isArray(v) && v.every((x) => typeof x === "string" && CODE.test(x))
      ? (v as string[])
      : null;
  const kind = r.kind as (typeof ROUTE_KINDS)[number];
  if (!ROUTE_KINDS.includes(kind)) return null;
  if (kind === "all") return ALL_ORDERS;
  const values = codes(r.values);
  if (!values) return null;
  if (kind === "market") {
    const countries = codes(r.countries);
    return countries ? { kind, values, countries } : null;
  }
  if (kind === "channel")
    return values.every((v) =>
      (ROUTE_CHANNELS as readonly string[]).includes(v),
    )
      ? { kind, values: values as (typeof ROUTE_CHANNELS)[number][] }
      : null;
  return { kind, values };
}

/** The `datasets` setting, `[{"id": "<dataset id>", "rule": {...}}, ...]`; null when absent or unreadable. */
function readDatasets(text: string): PixelConfig["datasets"] | null {
  if (!text) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(raw)) return null;
  const out: PixelConfig["datasets"] = [];
  for (const d of raw.slice(0, 20)) {
    const id = (d as { id?: unknown })?.id;
    const rule = readRule((d as { rule?: unknown })?.rule);
    if (typeof id === "string" && /^\d{5,20}$/.test(id) && rule)
      out.push({ id, rule });
  }
  return out;
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
