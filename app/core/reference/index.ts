// Reference data and the shop settings schema.
// Other folders import this face only.

// Every table of geo.ts.
export * from "./geo";
export { ipCountry } from "./ipCountry";
export { DEFAULT_LDU_STATES, LDU_SOURCE_DATE, LDU_SOURCE_URL } from "./ldu";
export {
  DEFAULT_OPT_IN_REGIONS,
  DEFAULT_SETTINGS,
  letterCode,
  parseSettings,
  settingsSchema,
} from "./settings";
export type { ConsentPolicy, ShopSettings } from "./settings";
export { parseRoutingRule, routingRuleSchema } from "./routingRule";
