// The one rule for a page URL that may go to Meta (event_source_url, referrer_url, the image pixel's dl and rl),
// shared by the server and the web pixel (which bundles this file): never a link that carries a secret or opens
// a buyer's personal page (decisions 36). Dependency-free on purpose.

// Path segments of Shopify's private pages: checkouts (/checkouts/cn/<token>/…, /<shop id>/checkouts/<token>),
// thank-you and order status pages (/<shop id>/orders/<token>/authenticate?key=…), draft order invoices
// (/<shop id>/invoices/<token>) and customer accounts (/account/orders/<token>, /account/reset/<id>/<token>).
const PRIVATE_SEGMENTS = new Set([
  "checkouts",
  "checkout",
  "orders",
  "invoices",
  "account",
  "thank_you",
  "thank-you",
  "authenticate",
]);
// Query parameters by name: access keys and tokens (key=, token=, access_token=, preview_key=…) and the like.
const SECRET_PARAM = /key|token|secret|passw|signature|hmac|auth/;
// The same words in any case, for a text that is all ASCII (where that is what lower-casing it first would find).
const SECRET_PARAM_ANY_CASE = new RegExp(SECRET_PARAM.source, "i");
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The safe form of a page's path and query (decisions 36): "/" (the site's home) for a private page, else the path
 * with every secret-looking query parameter, and every parameter whose value holds an e-mail address, removed.
 * `search` is "" or "?…", as `URL` gives it.
 */
export function safePathAndQuery(pathname: string, search: string): string {
  if (isPrivatePath(pathname)) return "/";
  if (search.length <= 1) return pathname;
  // Most queries keep every pair (an ad's UTM tags): their text stays as it is, not split and joined again.
  if (keepsEveryPair(search)) return pathname + search;
  const kept: string[] = [];
  for (const pair of search.slice(1).split("&")) {
    if (pair && !isSecretParam(pair)) kept.push(pair);
  }
  return kept.length ? `${pathname}?${kept.join("&")}` : pathname;
}

/**
 * Whether no pair of a query ("?…") goes, read from the whole text: no empty pair, nothing encoded, no "@", only
 * ASCII and no secret-looking word anywhere (a query that has one somewhere, even in a value, is read pair by pair).
 */
function keepsEveryPair(search: string): boolean {
  return (
    search[1] !== "&" &&
    !search.endsWith("&") &&
    !search.includes("&&") &&
    !search.includes("%") &&
    !search.includes("@") &&
    !NON_ASCII.test(search) &&
    !SECRET_PARAM_ANY_CASE.test(search)
  );
}

/** An http(s) URL in its safe form (origin + safePathAndQuery; no credentials, no fragment), or null. */
export function safePageUrl(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  return `${url.origin}${safePathAndQuery(url.pathname, url.search)}`;
}

function isPrivatePath(pathname: string): boolean {
  let previous = "";
  // Segments found with indexOf: split cost ~1.5x as much on a landing page's path (npm run bench, mapping).
  for (let start = 0; start <= pathname.length;) {
    let end = pathname.indexOf("/", start);
    if (end === -1) end = pathname.length;
    const segment = decodeSafely(pathname.slice(start, end)).toLowerCase();
    start = end + 1;
    if (PRIVATE_SEGMENTS.has(segment)) return true;
    // Cart permalinks, /cart/c/<cart token>?key=…, restore the buyer's cart.
    if (segment === "c" && previous === "cart") return true;
    previous = segment;
  }
  return false;
}

function isSecretParam(pair: string): boolean {
  const eq = pair.indexOf("=");
  const name = decodeSafely(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
  if (SECRET_PARAM.test(name)) return true;
  // An e-mail address is personal data whatever the parameter's name ("%40" is "@" encoded).
  return eq !== -1 && (pair.includes("@", eq) || pair.includes("%40", eq));
}

/** Percent-decoded (so "%6Bey" reads as "key"); as given when it is not valid percent-encoding. */
function decodeSafely(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
