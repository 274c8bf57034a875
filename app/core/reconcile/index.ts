// Reconciliation with Shopify: orders whose webhook never arrived are read back from the Admin GraphQL API (over a
// transport seam) and go through the webhook's intake. Other folders import this face only.

export { AdminApiError, AdminClient } from "./adminClient";
export { Reconciler, countOrders, runReconcile } from "./reconcile";
export { createdSince } from "./shopifyOrder";
