import type { BadgeProps } from "@shopify/polaris";
import type { MatchKey, MatchRating, StatusGroup } from "../core/insights";
import type { MissingReason } from "../core/outbox";
import type { RoutingRule } from "../core/wire";

// The words the admin uses for the core's codes: one place, so every page says the same thing.

/** A code's words and the colour of its badge. */
type BadgeLabel = { label: string; tone: BadgeProps["tone"] };

export const STATUS_LABEL: Record<string, BadgeLabel> = {
  held: { label: "Waiting for browser data", tone: "info" },
  pending: { label: "Queued", tone: "info" },
  sending: { label: "Sending", tone: "info" },
  sent: { label: "Sent to Meta", tone: "success" },
  failed: { label: "Rejected by Meta", tone: "critical" },
  expired: { label: "Too old for Meta", tone: "warning" },
  suppressed: { label: "Not sent", tone: undefined },
};

export const STATUS_GROUP_LABEL: Record<StatusGroup, string> = {
  sent: "Sent to Meta",
  waiting: "Waiting",
  notSent: "Not sent (your rules)",
  failed: "Failed or expired",
};

/** Why an event was not sent, in one sentence a merchant can act on. */
const REASON_LABEL: Record<string, { label: string; explanation: string }> = {
  not_connected: {
    label: "Before Meta was connected",
    explanation:
      "The order arrived before you connected Meta; the Connect page can still send recent ones.",
  },
  no_marketing_consent: {
    label: "Shopper declined tracking",
    explanation:
      "The shopper did not allow marketing cookies, so nothing about them goes to Meta.",
  },
  no_consent_opt_in_region: {
    label: "No consent (opt-in region)",
    explanation:
      "No consent was recorded and the shopper is in a region where tracking needs an opt-in (see Settings › Consent).",
  },
  no_consent_strict: {
    label: "No consent (strict policy)",
    explanation:
      "Your Strict consent policy sends only events with an explicit marketing consent.",
  },
  test_order: {
    label: "Test order",
    explanation: "Test orders are sent only while a test event code is active.",
  },
  order_cancelled: {
    label: "Order cancelled",
    explanation: "The order was cancelled before it was sent.",
  },
  source_disabled: {
    label: "Sales channel turned off",
    explanation:
      "Orders from this sales channel are turned off in Settings › Events.",
  },
  shop_uninstalled: {
    label: "App uninstalled",
    explanation: "The app was uninstalled before the event was sent.",
  },
  refunded: {
    label: "Refunded before sending",
    explanation:
      "The order was refunded in full before its Purchase was sent, so Meta never counts it.",
  },
  no_destination: {
    label: "No dataset takes it",
    explanation:
      "No dataset's routing rule takes this event (its market, country, currency or channel): see Destinations.",
  },
  destination_removed: {
    label: "Dataset removed",
    explanation:
      "The dataset it was routed to was removed before the event was sent.",
  },
  unknown: { label: "Other", explanation: "Not sent by a rule of the app." },
};

export function reasonLabel(reason: string | null): {
  label: string;
  explanation: string;
} {
  return REASON_LABEL[reason ?? "unknown"] ?? REASON_LABEL.unknown;
}

const EVENT_LABEL: Record<string, string> = {
  Purchase: "Purchase",
  PageView: "Page view",
  ViewContent: "Product view",
  Search: "Search",
  AddToCart: "Add to cart",
  InitiateCheckout: "Checkout started",
  AddPaymentInfo: "Payment info added",
  ViewCollection: "Collection view",
  ViewCart: "Cart view",
  Subscribe: "Subscription started",
};

export const eventLabel = (name: string) => EVENT_LABEL[name] ?? name;

export const KEY_LABEL: Record<MatchKey, string> = {
  em: "Email",
  ph: "Phone",
  fn: "First name",
  ln: "Last name",
  ct: "City",
  st: "State",
  zp: "ZIP code",
  country: "Country",
  external_id: "Customer id",
  fbp: "Browser id (fbp)",
  fbc: "Ad click id (fbc)",
  client_ip_address: "IP address",
  client_user_agent: "Browser user agent",
};

/** Why sent events lacked a match key (decisions 150), with what the merchant can do about it. */
export const MISSING_REASON_LABEL: Record<
  MissingReason,
  { label: string; explanation: string }
> = {
  redacted: {
    label: "Customer data not shared with the app",
    explanation:
      "Shopify removed the buyer's e-mail, phone, name and address because the app has no Level 2 protected customer data access: see the README's access list.",
  },
  no_consent: {
    label: "No consent from the storefront",
    explanation:
      "The storefront pixel never reported this checkout: the shopper did not allow marketing cookies, or a blocker stopped the pixel. Your consent policy still sent the order.",
  },
  absent: {
    label: "Not in the order or visit",
    explanation:
      "The order or visit did not have it: a guest checkout without a phone, no address for digital goods, no customer account, a visitor not logged in, no Meta ad click.",
  },
  invalid: {
    label: "Not a usable value",
    explanation:
      "The value was there but not one Meta can match (a malformed e-mail, a phone too short, a private IP address), so it was left out.",
  },
  no_browser: {
    label: "No shopper's browser",
    explanation:
      "Point-of-sale, draft and staff-created orders and subscription renewals have no browser of the shopper's behind them.",
  },
  unknown: {
    label: "Recorded before the app kept reasons",
    explanation: "Events recorded before this app version have no reason.",
  },
};

export const RATING: Record<MatchRating, BadgeLabel> = {
  great: { label: "Great", tone: "success" },
  good: { label: "Good", tone: "success" },
  ok: { label: "OK", tone: "attention" },
  poor: { label: "Poor", tone: "critical" },
};

const numberFormat = new Intl.NumberFormat("en-US");
export const formatNumber = (n: number) => numberFormat.format(n);

/** An amount in its currency ("€12.50"); an unknown or invalid currency code shows beside the number. */
export function formatMoney(amount: number, currency: string | null): string {
  try {
    if (currency)
      return new Intl.NumberFormat("en-US", {
        style: "currency",
        currency,
      }).format(amount);
  } catch {
    // Not an ISO 4217 code: shown as it came.
  }
  return `${amount.toFixed(2)} ${currency ?? ""}`.trim();
}

export function formatPercent(share: number | null): string {
  if (share === null) return "—";
  const pct = share * 100;
  return `${pct >= 99.95 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

/** The value-agreement flag of a Purchase (decisions 111): a badge in the event log, a warning on the event page. */
export const VALUE_MISMATCH_LABEL = "Value differs from the pixel's";

/** Why the flag matters and what each copy said, in the merchant's words. */
export function valueMismatchText(m: {
  server: { value: number | null; currency: string | null };
  browser: { value: number | null; currency: string | null };
}): string {
  const amount = (c: { value: number | null; currency: string | null }) =>
    [c.value ?? "no value", c.currency ?? ""].join(" ").trim();
  return (
    `The order sent ${amount(m.server)}, the storefront pixel's copy of this purchase ${amount(m.browser)}. ` +
    "Meta keeps whichever copy arrives first, so the value it reports for this purchase depends on that race. " +
    "Check that the pixel runs the app's current version and that the purchase value setting is the one you want."
  );
}

// Times are shown in UTC on the server and in the browser alike (no hydration mismatch), and filters and chart
// buckets use UTC too, so what a merchant reads and what they filter on agree.
const dateTime = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const dateTimeSeconds = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const dayFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  month: "short",
  day: "numeric",
});
const hourFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

export const formatDateTime = (iso: string) =>
  `${dateTime.format(new Date(iso))} UTC`;
export const formatDateTimeSeconds = (iso: string) =>
  `${dateTimeSeconds.format(new Date(iso))} UTC`;
export const formatDay = (iso: string) => dayFormat.format(new Date(iso));
export const formatHour = (iso: string) => hourFormat.format(new Date(iso));

/** "3 minutes ago", computed where the data is loaded (so the server and the browser render the same text). */
export function timeAgo(iso: string | null, now: Date): string | null {
  if (!iso) return null;
  const seconds = Math.max(
    0,
    Math.round((now.getTime() - Date.parse(iso)) / 1000),
  );
  if (seconds < 60) return "just now";
  const units: [number, string][] = [
    [86_400, "day"],
    [3_600, "hour"],
    [60, "minute"],
  ];
  for (const [size, unit] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${unit}${n === 1 ? "" : "s"} ago`;
    }
  }
  return "just now";
}

const CHANNEL_LABEL: Record<string, string> = {
  online_store: "Online store",
  pos: "Point of sale",
  draft: "Draft orders",
};

/** What a dataset's routing rule sends it, in one phrase (decisions 134). */
export function ruleText(rule: RoutingRule): string {
  switch (rule.kind) {
    case "all":
      return "All orders and events";
    case "market":
      return `Markets: ${rule.values.join(", ")}${rule.countries.length ? ` (${rule.countries.join(", ")})` : ""}`;
    case "country":
      return `Countries: ${rule.values.join(", ")}`;
    case "currency":
      return `Currencies: ${rule.values.join(", ")}`;
    case "channel":
      return `Sales channels: ${rule.values.map((c) => CHANNEL_LABEL[c] ?? c).join(", ")}`;
  }
}

/** The daily check's token verdicts that call for a warning (decisions 126): Home's and each destination's. */
export const TOKEN_WARNING: Record<
  string,
  { tone: "warning" | "critical"; title: string }
> = {
  expiring: { tone: "warning", title: "Your Meta access token expires soon" },
  invalid: {
    tone: "critical",
    title: "Meta no longer accepts your access token",
  },
  no_access: {
    tone: "critical",
    title: "Your access token can no longer reach the Meta dataset",
  },
};

/** What a token warning asks the merchant to do (a further dataset's names the Destinations page instead). */
export const NEW_TOKEN_FIX =
  "Generate a new System User token (Business Settings › Users › System users › Generate new token) and save it " +
  "on the Connect page before then: events are kept meanwhile.";

/** The daily check's token verdict in one line. */
export function tokenStatusText(c: {
  tokenStatus: string;
  tokenExpiresAt: string | null;
  tokenDetail: string | null;
}): string {
  if (c.tokenStatus === "ok")
    return c.tokenExpiresAt
      ? `Valid until ${formatDateTime(c.tokenExpiresAt)}`
      : "Valid, never expires";
  if (c.tokenStatus === "expiring" && c.tokenExpiresAt)
    return `Expires ${formatDateTime(c.tokenExpiresAt)}`;
  if (c.tokenStatus === "unknown")
    return `Meta could not be asked: ${c.tokenDetail ?? ""}`;
  return TOKEN_WARNING[c.tokenStatus]?.title ?? c.tokenStatus;
}
