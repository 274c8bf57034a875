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

/** The match keys of a shopper rather than of a browser: what a known shopper's events carry (decisions 109). */
export const SHOPPER_KEYS = [
  "em",
  "ph",
  "fn",
  "ln",
  "ct",
  "st",
  "zp",
  "country",
  "external_id",
] as const;
export type ShopperKeys = Pick<UserData, (typeof SHOPPER_KEYS)[number]>;

/** Every match key the app sends, shopper's then browser's: what its match-quality estimate counts. */
export const MATCH_KEYS = [
  ...SHOPPER_KEYS,
  "fbp",
  "fbc",
  "client_ip_address",
  "client_user_agent",
] as const;
export type MatchKey = (typeof MATCH_KEYS)[number];

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
