import { performance } from "node:perf_hooks";
import {
  Content,
  CustomData,
  ServerEvent,
  ServerSideUtils,
  UserData,
} from "facebook-nodejs-business-sdk";
import { mapOrder, parseOrder } from "../app/core/intake";
import { DEFAULT_SETTINGS } from "../app/core/reference";
import { SHOPPER_KEYS } from "../app/core/wire";
import { benchOrder, emit, progress } from "./lib";

// Per-event cost of turning an order into a hashed Purchase, side by side in one process with Meta's official
// facebook-nodejs-business-sdk building the same event from the same order (ServerEvent / UserData / CustomData /
// Content, then its normalize(), which normalises and hashes user_data with the SDK's rules).
// Ours: mapOrder on the validated order (mapping + normalising + hashing); a second figure adds the zod
// validation of the webhook payload (parseOrder), which the SDK side does not do at all.

type Order = ReturnType<typeof benchOrder>;
const SHOP = "maple-goods.myshopify.com";
// Many short alternating rounds and their median: a burst of other work on the machine hits one round, not one side.
const ROUNDS = 41;
const PER_ROUND = 1_000;

/** What an SDK user writes to send a Shopify order: the same fields, the SDK's own normalisation and hashing. */
function sdkEvent(order: Order): Record<string, unknown> {
  const customer = order.customer;
  const addresses = [
    customer.default_address,
    order.billing_address,
    order.shipping_address,
  ];
  const present = (values: (string | null | undefined)[]) => [
    ...new Set(values.filter((v): v is string => Boolean(v?.trim()))),
  ];
  const userData = new UserData()
    .setEmails(present([order.email, order.contact_email, customer.email]))
    .setPhones(
      present([order.phone, customer.phone, ...addresses.map((a) => a.phone)]),
    )
    .setFirstNames(
      present([customer.first_name, ...addresses.map((a) => a.first_name)]),
    )
    .setLastNames(
      present([customer.last_name, ...addresses.map((a) => a.last_name)]),
    )
    .setCities(present(addresses.map((a) => a.city)))
    .setStates(present(addresses.map((a) => a.province_code)))
    .setZips(present(addresses.map((a) => a.zip)))
    .setCountries(present(addresses.map((a) => a.country_code.toLowerCase())))
    // The SDK leaves external_id as given; Meta recommends hashing it, as the app does.
    .setExternalIds([ServerSideUtils.toSHA256(String(customer.id))])
    .setClientIpAddress(order.client_details.browser_ip)
    .setClientUserAgent(order.client_details.user_agent);
  const landing = new URL(order.landing_site, `https://${SHOP}/`);
  const fbclid = landing.searchParams.get("fbclid");
  if (fbclid) userData.setFbc(`fb.1.${Date.parse(order.created_at)}.${fbclid}`);
  const fbp = order.note_attributes.find((a) => a.name === "_fbp")?.value;
  if (fbp) userData.setFbp(fbp);

  const lines = order.line_items.filter((l) => l.variant_id && l.quantity > 0);
  const customData = new CustomData()
    .setValue(Number(order.total_price_set.presentment_money.amount))
    .setCurrency(order.total_price_set.presentment_money.currency_code)
    .setOrderId(String(order.id))
    .setContents(
      lines.map((l) =>
        new Content()
          .setId(String(l.variant_id))
          .setQuantity(l.quantity)
          .setItemPrice(Number(l.price_set.presentment_money.amount)),
      ),
    )
    .setContentIds(lines.map((l) => String(l.variant_id)))
    .setContentType("product")
    .setNumItems(order.line_items.reduce((n, l) => n + l.quantity, 0));
  return new ServerEvent()
    .setEventName("Purchase")
    .setEventTime(Math.floor(Date.parse(order.processed_at) / 1000))
    .setEventId(`purchase_${order.id}`)
    .setActionSource("website")
    .setEventSourceUrl(landing.href)
    .setUserData(userData)
    .setCustomData(customData)
    .normalize();
}

function ours(order: Order) {
  const parsed = parseOrder(order);
  if (!parsed.ok) throw new Error(`fixture order rejected: ${parsed.reason}`);
  return parsed.order;
}

let sink: unknown;
function microsPerEvent(fn: () => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) sink = fn();
  return ((performance.now() - t0) * 1000) / PER_ROUND;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function benchMapping(): Promise<void> {
  progress(
    `mapping: ours vs facebook-nodejs-business-sdk, ${ROUNDS} alternating rounds of ${PER_ROUND} events`,
  );
  const order = benchOrder(1, 9_000_000_000_000);
  const validated = ours(order);
  const mapOnly = () =>
    mapOrder(validated, { shopDomain: SHOP, settings: DEFAULT_SETTINGS });
  const parseAndMap = () =>
    mapOrder(ours(order), { shopDomain: SHOP, settings: DEFAULT_SETTINGS });
  const sdk = () => sdkEvent(order);

  // Same event on both sides; where the hashes differ, Meta's rules (phone country codes) need more than the SDK does.
  const a = mapOnly().event;
  const b = sdk() as {
    event_id: string;
    user_data: Record<string, unknown>;
    custom_data: { value: number };
  };
  if (a.event_id !== b.event_id || a.custom_data?.value !== b.custom_data.value)
    throw new Error("mapping: the two sides built different events");
  const differing = SHOPPER_KEYS.filter(
    (k) =>
      JSON.stringify(
        [
          ...((a.user_data as Record<string, string[] | undefined>)[k] ?? []),
        ].sort(),
      ) !==
      JSON.stringify(
        [...((b.user_data[k] as string[] | undefined) ?? [])].sort(),
      ),
  );

  const times = {
    map: [] as number[],
    parseMap: [] as number[],
    sdk: [] as number[],
  };
  for (let round = -3; round < ROUNDS; round++) {
    // The first three rounds warm the JIT on all three sides and are not counted.
    const m = microsPerEvent(mapOnly);
    const s = microsPerEvent(sdk);
    const p = microsPerEvent(parseAndMap);
    if (round < 0) continue;
    times.map.push(m);
    times.sdk.push(s);
    times.parseMap.push(p);
  }
  void sink;
  const oursUs = median(times.map);
  const sdkUs = median(times.sdk);
  const withValidationUs = median(times.parseMap);
  const sameKeys = differing.length
    ? `hashes differ for ${differing.join(", ")}: Meta's rules the SDK does not apply (calling code of national phone numbers, punctuation in names)`
    : "identical hashes";
  emit(
    "mapping_ours_per_event",
    oursUs,
    "µs",
    undefined,
    "mapOrder: mapping + normalising + SHA-256 of the fixture order (9 kinds of match keys, 3 lines)",
  );
  emit(
    "mapping_sdk_per_event",
    sdkUs,
    "µs",
    undefined,
    `facebook-nodejs-business-sdk ServerEvent/UserData/CustomData + normalize() on the same order; ${sameKeys}`,
  );
  emit("mapping_speedup_vs_sdk", sdkUs / oursUs, "x", { atLeast: 2 });
  emit(
    "mapping_ours_with_validation_per_event",
    withValidationUs,
    "µs",
    undefined,
    "parseOrder (zod validation of the webhook payload) + mapOrder",
  );
  emit("mapping_speedup_vs_sdk_with_validation", sdkUs / withValidationUs, "x");
}
