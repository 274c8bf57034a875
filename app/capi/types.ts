// Shared vocabulary of the domain core. Field names follow Meta's Conversions API wire format, so an
// event built here is serialised to Meta as it is.

export const ACTION_SOURCES = [
  "email",
  "website",
  "app",
  "phone_call",
  "chat",
  "physical_store",
  "system_generated",
  "business_messaging",
  "other",
] as const;
export type ActionSource = (typeof ACTION_SOURCES)[number];

/** Hashed match keys are arrays of lowercase SHA-256 hex; the rest are sent raw, as Meta requires. */
export interface UserData {
  em?: string[];
  ph?: string[];
  fn?: string[];
  ln?: string[];
  ge?: string[];
  db?: string[];
  ct?: string[];
  st?: string[];
  zp?: string[];
  country?: string[];
  external_id?: string[];
  client_ip_address?: string;
  client_user_agent?: string;
  fbc?: string;
  fbp?: string;
}

export interface Content {
  id: string;
  quantity: number;
  item_price?: number;
}

export interface CustomData {
  value?: number;
  currency?: string;
  order_id?: string;
  content_type?: "product" | "product_group";
  contents?: Content[];
  content_ids?: string[];
  content_name?: string;
  num_items?: number;
  search_string?: string;
}

export interface CapiEvent {
  event_name: string;
  event_time: number;
  event_id: string;
  action_source: ActionSource;
  event_source_url?: string;
  referrer_url?: string;
  opt_out?: boolean;
  user_data: UserData;
  custom_data?: CustomData;
  data_processing_options?: string[];
  data_processing_options_country?: number;
  data_processing_options_state?: number;
}

/** What Shopify's Customer Privacy API told the browser (init.customerPrivacy / visitorConsentCollected). */
export interface ConsentSnapshot {
  marketingAllowed: boolean;
  analyticsProcessingAllowed?: boolean;
  preferencesProcessingAllowed?: boolean;
  saleOfDataAllowed?: boolean;
}

export const OUTBOX_STATUSES = [
  "held",
  "pending",
  "sending",
  "sent",
  "failed",
  "expired",
  "suppressed",
] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

export const SUPPRESS_REASONS = [
  "not_connected",
  "no_marketing_consent",
  "no_consent_opt_in_region",
  "no_consent_strict",
  "test_order",
  "order_cancelled",
  "source_disabled",
  "shop_uninstalled",
] as const;
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];
