import type { BadgeProps } from "@shopify/polaris";
import type { MatchKey, MatchRating } from "../capi/matchQuality";
import type { StatusGroup } from "../capi/stats";

// The words the admin uses for the core's codes: one place, so every page says the same thing.

export const STATUS_LABEL: Record<string, { label: string; tone: BadgeProps["tone"] }> = {
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
export const REASON_LABEL: Record<string, { label: string; explanation: string }> = {
  not_connected: { label: "Before Meta was connected", explanation: "The order arrived before you connected Meta; the Connect page can still send recent ones." },
  no_marketing_consent: { label: "Shopper declined tracking", explanation: "The shopper did not allow marketing cookies, so nothing about them goes to Meta." },
  no_consent_opt_in_region: { label: "No consent (opt-in region)", explanation: "No consent was recorded and the shopper is in a region where tracking needs an opt-in (see Settings › Consent)." },
  no_consent_strict: { label: "No consent (strict policy)", explanation: "Your Strict consent policy sends only events with an explicit marketing consent." },
  test_order: { label: "Test order", explanation: "Test orders are sent only while a test event code is active." },
  order_cancelled: { label: "Order cancelled", explanation: "The order was cancelled before it was sent." },
  source_disabled: { label: "Sales channel turned off", explanation: "Orders from this sales channel are turned off in Settings › Events." },
  shop_uninstalled: { label: "App uninstalled", explanation: "The app was uninstalled before the event was sent." },
  unknown: { label: "Other", explanation: "Not sent by a rule of the app." },
};

export function reasonLabel(reason: string | null): { label: string; explanation: string } {
  return REASON_LABEL[reason ?? "unknown"] ?? REASON_LABEL.unknown;
}

export const EVENT_LABEL: Record<string, string> = {
  Purchase: "Purchase",
  PageView: "Page view",
  ViewContent: "Product view",
  Search: "Search",
  AddToCart: "Add to cart",
  InitiateCheckout: "Checkout started",
  AddPaymentInfo: "Payment info added",
  ViewCollection: "Collection view",
  ViewCart: "Cart view",
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

export const RATING: Record<MatchRating, { label: string; tone: BadgeProps["tone"] }> = {
  great: { label: "Great", tone: "success" },
  good: { label: "Good", tone: "success" },
  ok: { label: "OK", tone: "attention" },
  poor: { label: "Poor", tone: "critical" },
};

const numberFormat = new Intl.NumberFormat("en-US");
export const formatNumber = (n: number) => numberFormat.format(n);

export function formatPercent(share: number | null): string {
  if (share === null) return "—";
  const pct = share * 100;
  return `${pct >= 99.95 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

// Times are shown in UTC on the server and in the browser alike (no hydration mismatch), and filters and chart
// buckets use UTC too, so what a merchant reads and what they filter on agree.
const dateTime = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
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
const dayFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric" });
const hourFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

export const formatDateTime = (iso: string) => `${dateTime.format(new Date(iso))} UTC`;
export const formatDateTimeSeconds = (iso: string) => `${dateTimeSeconds.format(new Date(iso))} UTC`;
export const formatDay = (iso: string) => dayFormat.format(new Date(iso));
export const formatHour = (iso: string) => hourFormat.format(new Date(iso));

/** "3 minutes ago", computed where the data is loaded (so the server and the browser render the same text). */
export function timeAgo(iso: string | null, now: Date): string | null {
  if (!iso) return null;
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
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
