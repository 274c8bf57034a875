import type {
  CartLine,
  Checkout,
  MoneyV2,
  PixelEvents,
  ProductVariant,
} from "@shopify/web-pixels-extension";
import {
  type BrowserEventName,
  type ContentIdFormat,
  contentId,
  contentType,
  numericId,
  purchaseEventId,
} from "../../../app/core/wire";

// Shopify standard event -> Meta event, with custom_data built by the same content-id rule as the server
// (app/core/wire/contentIds.ts) and the same Purchase event_id rule (app/core/wire/eventId.ts), both bundled.

/** The Shopify standard events this pixel handles, and the Meta event each becomes. */
export const EVENT_MAP = {
  page_viewed: "PageView",
  product_viewed: "ViewContent",
  search_submitted: "Search",
  product_added_to_cart: "AddToCart",
  checkout_started: "InitiateCheckout",
  payment_info_submitted: "AddPaymentInfo",
  checkout_completed: "Purchase",
  collection_viewed: "ViewCollection", // custom, only when enabled
  cart_viewed: "ViewCart", // custom, only when enabled
} as const satisfies Partial<Record<keyof PixelEvents, BrowserEventName>>;

export type HandledEventName = keyof typeof EVENT_MAP;

export interface MappedCustomData {
  value?: number;
  currency?: string;
  content_ids?: string[];
  contents?: { id: string; quantity: number; item_price?: number }[];
  content_type?: "product" | "product_group";
  num_items?: number;
  search_string?: string;
}

export interface MappedEvent {
  eventName: BrowserEventName;
  eventId: string;
  customData?: MappedCustomData;
  checkout?: Checkout | null;
  checkoutToken?: string;
  orderId?: string;
}

export interface MapOptions {
  contentIdFormat: ContentIdFormat;
  catalogCountry: string;
  valueMode: "total" | "subtotal";
}

const MAX_ITEMS = 200;
const MAX_LIST_IDS = 50; // collection / search result ids: a sample is enough, and keeps the pixel URL short

/** Meta's event_id charset on the wire; Shopify's ids (`sh-<uuid>`) already fit. Same id goes to both paths. */
export function safeEventId(id: unknown): string | null {
  if (typeof id !== "string" || !id) return null;
  const cleaned = id.replace(/[^A-Za-z0-9_:.-]/g, "_").slice(0, 128);
  return cleaned || null;
}

export function mapEvent<K extends HandledEventName>(
  name: K,
  event: PixelEvents[K],
  opts: MapOptions,
): MappedEvent | null {
  const eventName = EVENT_MAP[name];
  const shopifyId = safeEventId(event?.id);
  if (!eventName || !shopifyId) return null;
  const base: MappedEvent = { eventName, eventId: shopifyId };
  const data = (event?.data ?? {}) as Record<string, unknown>;

  switch (name) {
    case "page_viewed":
      return base;
    case "product_viewed": {
      const v = data.productVariant as ProductVariant | null | undefined;
      return { ...base, customData: v ? variantData(v, opts) : undefined };
    }
    case "search_submitted": {
      const sr = data.searchResult as {
        query?: string;
        productVariants?: ProductVariant[];
      } | null;
      const cd: MappedCustomData = {};
      if (typeof sr?.query === "string" && sr.query.trim())
        cd.search_string = sr.query.trim().slice(0, 500);
      const ids = listIds(sr?.productVariants, opts);
      if (ids.length) {
        cd.content_ids = ids;
        cd.content_type = contentType(opts.contentIdFormat);
      }
      return { ...base, customData: nonEmpty(cd) };
    }
    case "product_added_to_cart": {
      const line = data.cartLine as CartLine | null | undefined;
      if (!line) return base;
      const cd: MappedCustomData = { ...money(line.cost?.totalAmount) };
      if (
        cd.value === undefined &&
        line.merchandise?.price &&
        line.quantity > 0
      ) {
        const unit = money(line.merchandise.price);
        if (unit.value !== undefined)
          cd.value = round(unit.value * line.quantity);
        cd.currency ??= unit.currency;
      }
      Object.assign(
        cd,
        contentsData(
          [{ variant: line.merchandise, quantity: line.quantity }],
          opts,
        ),
      );
      return { ...base, customData: nonEmpty(cd) };
    }
    case "collection_viewed": {
      const col = data.collection as {
        productVariants?: ProductVariant[];
      } | null;
      const ids = listIds(col?.productVariants, opts);
      return {
        ...base,
        customData: ids.length
          ? {
              content_ids: ids,
              content_type: contentType(opts.contentIdFormat),
            }
          : undefined,
      };
    }
    case "cart_viewed": {
      const cart = data.cart as {
        cost?: { totalAmount?: MoneyV2 };
        lines?: CartLine[];
      } | null;
      if (!cart) return base;
      const cd: MappedCustomData = {
        ...money(cart.cost?.totalAmount),
        ...contentsData(
          (cart.lines ?? []).map((l) => ({
            variant: l?.merchandise,
            quantity: l?.quantity,
          })),
          opts,
        ),
      };
      return { ...base, customData: nonEmpty(cd) };
    }
    case "checkout_started":
    case "payment_info_submitted":
    case "checkout_completed": {
      const checkout = data.checkout as Checkout | null | undefined;
      const out: MappedEvent = { ...base, checkout: checkout ?? null };
      if (!checkout) return out;
      const token =
        typeof checkout.token === "string" ? checkout.token.slice(0, 128) : "";
      if (token) out.checkoutToken = token;
      out.customData = nonEmpty(checkoutData(checkout, opts));
      if (name === "checkout_completed") {
        const orderId = numericId(checkout.order?.id);
        const purchaseId = purchaseEventId(checkout.order?.id);
        if (orderId) out.orderId = orderId;
        // Without an order id the browser cannot know the server's `purchase_<n>`: the Shopify event id is
        // kept, and the caller does not fire the browser pixel for it (it could not deduplicate).
        if (purchaseId) out.eventId = purchaseId;
      }
      return out;
    }
  }
  return null;
}

function checkoutData(checkout: Checkout, opts: MapOptions): MappedCustomData {
  // Decision 4: the customer's (presentment) money, as the shop's value setting picks it for the server's Purchase
  // (decisions 110): totalPrice, or subtotalPrice (before shipping and taxes); the other when it is missing.
  const total =
    opts.valueMode === "subtotal"
      ? (checkout.subtotalPrice ?? checkout.totalPrice)
      : (checkout.totalPrice ?? checkout.subtotalPrice);
  const cd: MappedCustomData = money(total);
  if (!cd.currency) cd.currency = currencyCode(checkout.currencyCode);
  Object.assign(
    cd,
    contentsData(
      (checkout.lineItems ?? []).map((li) => ({
        variant: li?.variant,
        quantity: li?.quantity,
      })),
      opts,
    ),
  );
  return cd;
}

function variantData(
  v: ProductVariant,
  opts: MapOptions,
): MappedCustomData | undefined {
  const cd: MappedCustomData = { ...money(v.price) };
  Object.assign(cd, contentsData([{ variant: v, quantity: 1 }], opts));
  delete cd.num_items;
  return nonEmpty(cd);
}

interface LineRef {
  variant: ProductVariant | null | undefined;
  quantity: number | null | undefined;
}

/** contents (merged by id), content_ids, content_type and num_items for a list of lines. */
function contentsData(lines: LineRef[], opts: MapOptions): MappedCustomData {
  const byId = new Map<
    string,
    { id: string; quantity: number; item_price?: number }
  >();
  let numItems = 0;
  for (const line of lines) {
    const qty = Math.floor(Number(line?.quantity));
    if (!Number.isFinite(qty) || qty < 1) continue;
    numItems += qty;
    const id = idOf(line.variant, opts);
    if (!id) continue;
    const existing = byId.get(id);
    if (existing) {
      existing.quantity = Math.min(10_000, existing.quantity + qty);
      continue;
    }
    if (byId.size >= MAX_ITEMS) continue;
    const price = money(line.variant?.price).value;
    byId.set(
      id,
      price === undefined
        ? { id, quantity: Math.min(qty, 10_000) }
        : { id, quantity: Math.min(qty, 10_000), item_price: price },
    );
  }
  const cd: MappedCustomData = {};
  if (byId.size) {
    cd.contents = [...byId.values()];
    cd.content_ids = cd.contents.map((c) => c.id);
    cd.content_type = contentType(opts.contentIdFormat);
  }
  if (numItems > 0) cd.num_items = Math.min(numItems, 1_000_000);
  return cd;
}

function listIds(
  variants: ProductVariant[] | null | undefined,
  opts: MapOptions,
): string[] {
  const ids: string[] = [];
  for (const v of variants ?? []) {
    const id = idOf(v, opts);
    if (id && !ids.includes(id)) ids.push(id);
    if (ids.length >= MAX_LIST_IDS) break;
  }
  return ids;
}

function idOf(
  v: ProductVariant | null | undefined,
  opts: MapOptions,
): string | null {
  if (!v) return null;
  const id = contentId(
    opts.contentIdFormat,
    {
      productId: v.product?.id ?? null,
      variantId: v.id ?? null,
      sku: v.sku ?? null,
    },
    opts.catalogCountry,
  );
  return id && id.length <= 200 ? id : null;
}

function money(m: MoneyV2 | null | undefined): {
  value?: number;
  currency?: string;
} {
  const out: { value?: number; currency?: string } = {};
  if (!m) return out;
  const amount = typeof m.amount === "number" ? m.amount : Number(m.amount);
  if (Number.isFinite(amount) && amount >= 0 && amount <= 1e9)
    out.value = round(amount);
  const currency = currencyCode(m.currencyCode);
  if (currency) out.currency = currency;
  return out;
}

function currencyCode(code: unknown): string | undefined {
  if (typeof code !== "string") return undefined;
  const c = code.trim().toUpperCase();
  return /^[A-Z]{3}$/.test(c) ? c : undefined;
}

/** Removes float noise (19.990000000000002) without losing 3-decimal currencies. */
function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function nonEmpty(
  cd: MappedCustomData | undefined,
): MappedCustomData | undefined {
  return cd && Object.keys(cd).length > 0 ? cd : undefined;
}
