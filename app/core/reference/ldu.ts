// The US states where Meta applies Limited Data Use to events flagged with it: the default of the shop's list
// (decisions 108). Update all three constants together when Meta's page changes.

/** Meta's page that lists the states. */
export const LDU_SOURCE_URL =
  "https://developers.facebook.com/docs/marketing-apis/data-processing-options";
/** When Meta last updated that list (the page's "Updated" date). */
export const LDU_SOURCE_DATE = "2024-08-09";
/** California, Colorado, Connecticut, Florida, Montana, Oregon, Texas. */
export const DEFAULT_LDU_STATES = ["CA", "CO", "CT", "FL", "MT", "OR", "TX"];
