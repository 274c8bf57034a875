import { createHmac, randomUUID } from "node:crypto";
import type { Db } from "../../app/db.server";
import { API_KEY, API_SECRET } from "./app";

// Talks to the embedded admin the way Shopify's admin and App Bridge do: an offline session exists for the shop
// (as after install), and every request carries a session token (HS256 JWT signed with the app's secret).

export const SCOPES = "read_orders,write_pixels,read_customer_events";
const BROWSER_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

/** The offline token of a seeded session, stored in clear as before encryption (the app seals it when it loads it). */
export const SEEDED_TOKEN = "shpat_test_offline_token";

export async function seedSession(db: Db, shop: string): Promise<void> {
  const upsert = () =>
    db.session.upsert({
      where: { id: `offline_${shop}` },
      create: {
        id: `offline_${shop}`,
        shop,
        state: "",
        isOnline: false,
        scope: SCOPES,
        accessToken: SEEDED_TOKEN,
      },
      update: {},
    });
  // The server under test writes the same SQLite file; once in CI (keyRecovery.test.ts, just after a restart) this
  // write got "database is locked" at once rather than after the busy timeout. Seeding tries again.
  for (let attempt = 1; ; attempt++) {
    try {
      await upsert();
      return;
    } catch (err) {
      if (attempt === 5 || !/database is locked/.test(String(err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

function b64url(input: Buffer | string): string {
  return Buffer.from(input).toString("base64url");
}

export function mintSessionToken(shop: string, secret = API_SECRET): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(
    JSON.stringify({
      iss: `https://${shop}/admin`,
      dest: `https://${shop}`,
      aud: API_KEY,
      sub: "42",
      exp: now + 300,
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      sid: randomUUID(),
    }),
  );
  const sig = b64url(
    createHmac("sha256", secret).update(`${header}.${payload}`).digest(),
  );
  return `${header}.${payload}.${sig}`;
}

/** GET an admin page as the embedded iframe would load it. */
export async function adminPage(
  baseUrl: string,
  path: string,
  shop: string,
): Promise<Response> {
  const url = new URL(path, baseUrl);
  url.searchParams.set("embedded", "1");
  url.searchParams.set("shop", shop);
  url.searchParams.set("host", b64url(`${shop}/admin`));
  url.searchParams.set("id_token", mintSessionToken(shop));
  return fetch(url, {
    headers: { "User-Agent": BROWSER_UA },
    redirect: "manual",
  });
}

/** A route loader's or action's JSON, as Remix's client fetches it (with App Bridge's bearer token). */
export async function adminData(
  baseUrl: string,
  path: string,
  routeId: string,
  shop: string,
  form?: Record<string, string>,
): Promise<Response> {
  const url = new URL(path, baseUrl);
  url.searchParams.set("_data", routeId);
  url.searchParams.set("shop", shop);
  return fetch(url, {
    method: form ? "POST" : "GET",
    headers: {
      Authorization: `Bearer ${mintSessionToken(shop)}`,
      "User-Agent": BROWSER_UA,
      ...(form ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
}

/**
 * A stand-in for the app's `admin.graphql` (Shopify's Admin GraphQL API is not reachable here): answers every query
 * with `answer` (an Error is thrown, as a failed request would), as a Response, and records each query.
 */
export function adminGraphql(
  answer: { data?: unknown; errors?: unknown } | Error,
) {
  const queries: string[] = [];
  const graphql = async (query: string) => {
    queries.push(query);
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { graphql, queries };
}
