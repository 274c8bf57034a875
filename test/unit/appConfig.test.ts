import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";

// shopify.app.toml is what Shopify deploys: every webhook it subscribes must be a route of the app's route table
// (app/http/routes.server.ts) for that topic, with its Remix route for `npm run dev`, and the mandatory privacy
// topics must be declared, or Shopify's deliveries would 404 and the App Store review would fail.

// The route table's handlers load the app's configuration (Shopify's, the database's) as they are imported.
Object.assign(process.env, {
  SHOPIFY_API_KEY: "test-api-key",
  SHOPIFY_API_SECRET: "test-api-secret",
  SHOPIFY_APP_URL: "https://app.example",
});
const { FAST_ROUTES } = await import("../../app/http/routes.server");

const root = path.resolve(import.meta.dirname, "../..");
const config = parse(
  readFileSync(path.join(root, "shopify.app.toml"), "utf8"),
) as {
  embedded: boolean;
  access_scopes: { scopes: string };
  webhooks: {
    subscriptions: {
      topics?: string[];
      compliance_topics?: string[];
      uri: string;
    }[];
  };
};
const subs = config.webhooks.subscriptions;
const webConfig = parse(
  readFileSync(path.join(root, "shopify.web.toml"), "utf8"),
) as { webhooks_path: string };

function routeFileFor(uri: string): string {
  // Remix flat routes: /webhooks/orders/paid -> app/routes/webhooks.orders.paid.tsx
  return path.join(
    root,
    "app/routes",
    `${uri.replace(/^\//, "").replaceAll("/", ".")}.tsx`,
  );
}

describe("shopify.app.toml", () => {
  it("is an embedded app with the scopes the app needs", () => {
    expect(config.embedded).toBe(true);
    expect(config.access_scopes.scopes.split(",").sort()).toEqual([
      "read_customer_events",
      "read_orders",
      "write_pixels",
    ]);
  });

  it("subscribes exactly the webhook routes of the route table, each to its topic", () => {
    // One topic per route, so a handler never sees a topic it does not expect.
    const subscribed = subs.map((s) => ({
      path: s.uri,
      topics: [...(s.topics ?? []), ...(s.compliance_topics ?? [])],
    }));
    const declared = FAST_ROUTES.filter((r) => r.topic !== null).map((r) => ({
      path: r.path,
      topics: [r.topic],
    }));
    const byPath = (a: { path: string }, b: { path: string }) =>
      a.path.localeCompare(b.path);
    expect(subscribed.sort(byPath)).toEqual(declared.sort(byPath));
    expect(FAST_ROUTES.map((r) => r.path)).toContain(webConfig.webhooks_path);
  });

  it("has a Remix route (the adapter `npm run dev` serves) for every path of the route table", () => {
    for (const route of FAST_ROUTES) {
      const file = routeFileFor(route.path);
      expect(existsSync(file), route.path).toBe(true);
      expect(readFileSync(file, "utf8"), route.path).toContain(
        `remixRoute("${route.path}")`,
      );
    }
  });

  it("subscribes the order topics, the lifecycle topics, shop/update, the subscriptions' updates and the mandatory privacy topics", () => {
    const topics = subs.flatMap((s) => s.topics ?? []).sort();
    expect(topics).toEqual([
      "app/scopes_update",
      "app/uninstalled",
      "app_subscriptions/update",
      "orders/cancelled",
      "orders/create",
      "orders/paid",
      "orders/updated",
      "refunds/create",
      "shop/update",
    ]);
    const compliance = subs.flatMap((s) => s.compliance_topics ?? []).sort();
    expect(compliance).toEqual([
      "customers/data_request",
      "customers/redact",
      "shop/redact",
    ]);
  });
});
