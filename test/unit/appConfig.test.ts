import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";

// shopify.app.toml is what Shopify deploys: every webhook it subscribes must have a route here, and the mandatory
// privacy topics must be declared, or Shopify's deliveries would 404 and the App Store review would fail.

const root = path.resolve(import.meta.dirname, "../..");
const config = parse(readFileSync(path.join(root, "shopify.app.toml"), "utf8")) as {
  embedded: boolean;
  access_scopes: { scopes: string };
  webhooks: { subscriptions: { topics?: string[]; compliance_topics?: string[]; uri: string }[] };
};
const subs = config.webhooks.subscriptions;

function routeFileFor(uri: string): string {
  // Remix flat routes: /webhooks/orders/paid -> app/routes/webhooks.orders.paid.tsx
  return path.join(root, "app/routes", `${uri.replace(/^\//, "").replaceAll("/", ".")}.tsx`);
}

describe("shopify.app.toml", () => {
  it("is an embedded app with the scopes the app needs", () => {
    expect(config.embedded).toBe(true);
    expect(config.access_scopes.scopes.split(",").sort()).toEqual(["read_customer_events", "read_orders", "write_pixels"]);
  });

  it("routes every subscribed topic to an existing handler of that topic", () => {
    for (const sub of subs) {
      expect(existsSync(routeFileFor(sub.uri)), sub.uri).toBe(true);
      for (const topic of [...(sub.topics ?? []), ...(sub.compliance_topics ?? [])]) {
        // One topic per route, named after it, so a handler never sees a topic it does not expect.
        expect(sub.uri, topic).toBe(`/webhooks/${topic}`);
      }
    }
  });

  it("subscribes the order topics, the lifecycle topics and the mandatory privacy topics", () => {
    const topics = subs.flatMap((s) => s.topics ?? []).sort();
    expect(topics).toEqual(["app/scopes_update", "app/uninstalled", "orders/cancelled", "orders/create", "orders/paid"]);
    const compliance = subs.flatMap((s) => s.compliance_topics ?? []).sort();
    expect(compliance).toEqual(["customers/data_request", "customers/redact", "shop/redact"]);
  });
});
