import type { ConsentPolicy } from "../reference";
import type { CapiEvent, ConsentSnapshot } from "../wire";
import type { SuppressReason } from "../outbox";

// Whether an order's Purchase may go to Meta, and under Limited Data Use or not (decisions 1 and 2).
// The pixel loads only after marketing consent, so "no snapshot" means "blocked or declined": the policy decides
// what that means. A snapshot that denies marketing wins in every policy.

export type ConsentDecision =
  | { send: false; reason: SuppressReason }
  | { send: true; ldu: null | { country: number; state: number } };

/** Meta's codes: country 1 = USA, state 1000 = California; 0/0 lets Meta geolocate the event. */
const LDU_CALIFORNIA = { country: 1, state: 1000 };
const LDU_GEOLOCATE = { country: 0, state: 0 };

/** Where an event was made: its address's country and state, or a country from elsewhere (decisions 66). */
export interface ConsentRegion {
  countryCode: string | null;
  provinceCode: string | null;
}

/**
 * `region` is called only when the decision depends on it: a shopper's snapshot that grants marketing and does not
 * opt out of the sale of data decides alone, and the region costs an offline IP lookup when the row has no address
 * (decisions 186).
 */
export function decideConsent(input: {
  snapshot: ConsentSnapshot | null;
  region: () => ConsentRegion;
  policy: ConsentPolicy;
  optInRegions: string[];
  lduStates: string[];
}): ConsentDecision {
  const { snapshot } = input;
  if (snapshot) {
    if (!snapshot.marketingAllowed)
      return { send: false, reason: "no_marketing_consent" };
    // Only an explicit opt-out of the sale of data limits use; unknown is not an opt-out.
    return {
      send: true,
      ldu:
        snapshot.saleOfDataAllowed === false
          ? lduValues(normalized(input.region()))
          : null,
    };
  }

  if (input.policy === "strict")
    return { send: false, reason: "no_consent_strict" };
  const { country, province } = normalized(input.region());
  // An order without an address (redacted without protected customer data access) could be from an opt-in
  // region: the default policy does not guess in the merchant's disfavour.
  if (
    input.policy === "shopify_rules" &&
    (!country || includesCode(input.optInRegions, country))
  ) {
    return { send: false, reason: "no_consent_opt_in_region" };
  }
  // Without a snapshot nobody could opt out of the sale of data, so covered US states get LDU in every policy.
  const coveredState =
    country === "US" &&
    province !== null &&
    includesCode(input.lduStates, province);
  return {
    send: true,
    ldu: coveredState ? lduValues({ country, province }) : null,
  };
}

function normalized(region: ConsentRegion): {
  country: string | null;
  province: string | null;
} {
  return {
    country: region.countryCode?.trim().toUpperCase() || null,
    province: region.provinceCode?.trim().toUpperCase() || null,
  };
}

function lduValues(region: {
  country: string | null;
  province: string | null;
}): { country: number; state: number } {
  return region.country === "US" && region.province === "CA"
    ? LDU_CALIFORNIA
    : LDU_GEOLOCATE;
}

/** Applies a decision's LDU to an event (data_processing_options ["LDU"] + country/state) or clears it ([] is off). */
export function applyLdu(event: CapiEvent, ldu: ConsentDecision): CapiEvent {
  const {
    data_processing_options: _options,
    data_processing_options_country: _country,
    data_processing_options_state: _state,
    ...rest
  } = event;
  if (!ldu.send || !ldu.ldu) return { ...rest, data_processing_options: [] };
  return {
    ...rest,
    data_processing_options: ["LDU"],
    data_processing_options_country: ldu.ldu.country,
    data_processing_options_state: ldu.ldu.state,
  };
}

function includesCode(codes: string[], code: string): boolean {
  return codes.some((c) => c.trim().toUpperCase() === code);
}
