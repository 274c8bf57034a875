import type { IntakeContext, ReleaseUpdate, Undecided } from "../outbox";
import { ipCountry, type ShopSettings } from "../reference";
import { purchaseEventId, type CapiEvent, type ConsentSnapshot } from "../wire";
import { applyLdu, decideConsent, type ConsentRegion } from "./consent";

// The release rule: what an event becomes when its consent is decided (decisions 6), in one place for order intake,
// the browser's context reaching a held Purchase, the hold timer, the re-decision after a consent policy change and
// the orders kept before Connect (decisions 50).

// Browser context joins an order's Purchase only through the checkout token (unguessable, unlike order ids),
// and contributes only context: value, currency and contents always come from the signed order webhook.

export interface MergeTarget {
  payload: CapiEvent;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
}

export function mergeBrowserContext(
  target: MergeTarget,
  ctx: Omit<IntakeContext, "id" | "orderId">,
): MergeTarget {
  const user = { ...target.payload.user_data };
  // Browser cookies win over what the order carried (decisions 19: browser _fbc > note attribute > fbclid).
  if (ctx.fbp) user.fbp = ctx.fbp;
  if (ctx.fbc) user.fbc = ctx.fbc;
  return {
    payload: {
      ...target.payload,
      event_source_url: ctx.eventSourceUrl ?? target.payload.event_source_url,
      user_data: user,
    },
    clientIp: ctx.clientIp ?? target.clientIp,
    clientUserAgent: ctx.clientUserAgent ?? target.clientUserAgent,
    consent: ctx.consent ?? target.consent,
  };
}

export interface Release {
  /** What the row becomes; null only for a pending row that the new policy sends as before. */
  update: ReleaseUpdate | null;
  /** The browser context was merged in: it is marked used, and its raw IP and user agent erased. */
  contextUsed: boolean;
}

/**
 * Decides an event waiting to be sent. A `held` one (a Purchase at the end of its hold, or any event decided at
 * intake) takes its checkout's browser context, then consent is decided on what it now carries (decisions 1, 2):
 * sent (with LDU where it applies) or suppressed. A `pending` one (a policy change) keeps its retry schedule: only
 * whether, and with which LDU, it may go changes. A `suppressed` one (kept before Connect, decisions 9) is released
 * like a held one, without context. The context is always the one its first browser posted (decisions 38: another
 * browser's posts never reach it). `shopCountry`: the one country the shop sells to, if one (decisions 66).
 */
export function release(
  row: Undecided,
  ctx: IntakeContext | null,
  settings: ShopSettings,
  now: Date,
  shopCountry: string | null,
): Release {
  const merged =
    ctx && row.status === "held" ? mergeBrowserContext(row, ctx) : null;
  const event = merged ?? row;
  const decision = decideConsent({
    snapshot: readConsent(event.consent),
    region: () => regionOf(row, event.clientIp, shopCountry),
    policy: settings.consentPolicy,
    optInRegions: settings.optInRegions,
    lduStates: settings.lduStates,
  });
  const joined = merged && {
    payload: merged.payload,
    consent: merged.consent,
    clientIp: merged.clientIp,
    clientUserAgent: merged.clientUserAgent,
    // The pixel's own copy: what it was worth, for the event log's value agreement flag (decisions 111).
    ...(pixelReported(ctx!.orderId, row.eventId)
      ? {
          browserSeenAt: now,
          browserValue: ctx!.value,
          browserCurrency: ctx!.currency,
        }
      : {}),
  };
  const contextUsed = merged !== null;
  if (!decision.send) {
    return {
      update: {
        ...joined,
        status: "suppressed",
        suppressReason: decision.reason,
        holdUntil: null,
        releasedAt: now,
      },
      contextUsed,
    };
  }
  const payload = sourcedByUserAgent(
    applyLdu(event.payload, decision),
    event.clientUserAgent,
  );
  const lduApplied = decision.ldu !== null;
  if (row.status === "pending") {
    return {
      update:
        lduApplied === row.lduApplied
          ? null
          : { status: "pending", payload, lduApplied },
      contextUsed,
    };
  }
  return {
    update: {
      ...joined,
      status: "pending",
      suppressReason: null,
      payload,
      actionSource: payload.action_source,
      lduApplied,
      holdUntil: null,
      releasedAt: now,
      nextAttemptAt: now,
      finalAt: null,
    },
    contextUsed,
  };
}

/**
 * decisions 66: the region consent is decided for. The order's address (shipping, then billing: mapOrder) first;
 * without one, the country of the IP address the event carries, geolocated offline: the buyer's browser context's
 * when it joined (merged over the order's), else the order's own `browser_ip` (never a staff member's: mapOrder
 * keeps none for drafts and staff-created orders, decisions 31); then the shop's one sales country. Only when all
 * are unknown is the region unknown.
 */
export function regionOf(
  row: Pick<Undecided, "countryCode" | "provinceCode">,
  clientIp: string | null,
  shopCountry: string | null,
): ConsentRegion {
  if (row.countryCode)
    return { countryCode: row.countryCode, provinceCode: row.provinceCode };
  return {
    countryCode: ipCountry(clientIp) ?? shopCountry,
    provinceCode: null,
  };
}

/**
 * The pixel sent Meta its own Purchase of this event: the order id the browser reported makes the same event id
 * (the dedup figure counts it, decisions 50).
 */
export function pixelReported(
  orderId: string | null,
  eventId: string,
): boolean {
  return purchaseEventId(orderId) === eventId;
}

export function readConsent(raw: unknown): ConsentSnapshot | null {
  if (!raw || typeof raw !== "object") return null;
  const c = raw as Record<string, unknown>;
  return typeof c.marketingAllowed === "boolean"
    ? (c as unknown as ConsentSnapshot)
    : null;
}

/**
 * decisions 33: Meta requires client_user_agent for action_source "website". An event that neither the order nor
 * the shopper's browser gave a user agent shows no browser at all: it goes as "other", never as a website event
 * without one.
 */
function sourcedByUserAgent(
  event: CapiEvent,
  clientUserAgent: string | null,
): CapiEvent {
  return event.action_source === "website" && !clientUserAgent
    ? { ...event, action_source: "other" }
    : event;
}
