import type { IntakeContext } from "./sqlStore";
import type { CapiEvent } from "./types";

// Browser context joins an order's Purchase only through the checkout token (unguessable, unlike order ids),
// and contributes only context: value, currency and contents always come from the signed order webhook.

export interface MergeTarget {
  payload: CapiEvent;
  clientIp: string | null;
  clientUserAgent: string | null;
  consent: unknown;
}

export function mergeBrowserContext(target: MergeTarget, ctx: Omit<IntakeContext, "id" | "orderId">): MergeTarget {
  const user = { ...target.payload.user_data };
  // Browser cookies win over what the order carried (decisions: browser _fbc > note attribute > fbclid).
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
