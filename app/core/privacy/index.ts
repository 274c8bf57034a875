// Shopify's privacy webhooks: redaction and data requests.
// Other folders import this face only.

export {
  customersRedactSchema,
  dataRequestSchema,
  recordDataRequest,
  redactCustomer,
  redactShop,
} from "./privacy";
