import { describe, expect, it } from "vitest";
import { routePath } from "../../app/http/body.server";

// The production server picks a request's route, and so its body cap, by routePath() (decisions 25): every
// spelling that Remix's router (a URL parser, then a case-insensitive match) would take to a route must give that
// route's path, or a body could reach the route under another cap.

describe("routePath", () => {
  it("gives the route's path for every spelling a router takes to it", () => {
    const spellings = [
      "/webhooks/orders/paid",
      "/webhooks/orders/paid/",
      "/Webhooks/Orders/PAID",
      "//webhooks//orders///paid",
      "/webhooks/orders/pa%69d",
      "/webhooks%2Forders%2Fpaid",
      "/webhooks/orders/paid?shop=x&hmac=00",
      "/webhooks/orders/paid#fragment",
      "/webhooks/./orders/paid",
      "/webhooks/orders/%2e/paid",
      "/webhooks/x/../orders/paid",
      "/webhooks/x/%2E%2E/orders/paid",
      "/webhooks\\orders\\paid",
    ];
    for (const url of spellings) {
      expect(routePath(url), url).toBe("/webhooks/orders/paid");
      // What Remix's router sees, by the same rules.
      expect(routePath(new URL(`http://h${url}`).pathname), url).toBe(
        "/webhooks/orders/paid",
      );
    }
    expect(routePath("/ingest")).toBe("/ingest");
    expect(routePath("/")).toBe("/");
    expect(routePath(undefined)).toBe("/");
  });

  it("leaves what no route is as it is", () => {
    expect(routePath("/webhooks/orders/pa%zzid")).toBe(
      "/webhooks/orders/pa%zzid",
    );
    expect(routePath("/ingest/..")).toBe("/");
    expect(routePath("/a/b.json")).toBe("/a/b.json");
    expect(routePath("*")).toBe("*");
  });
});
