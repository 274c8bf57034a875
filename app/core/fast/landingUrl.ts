// An order's landing page, read by hand when it is a plain path: `new URL` and `URLSearchParams` cost ~1.8 µs of the
// ~10 µs of mapping an order (npm run bench, mapping; decisions 51).

/** A parsed http(s) URL: its path and query ("?…", or "" without one), as `URL` gives them. */
export type HttpUrl = Pick<URL, "pathname" | "search">;

// A path whose characters the URL parser keeps as they are (nothing to percent-encode, no backslash, fragment,
// whitespace or non-ASCII) and without "." segments to resolve (any "/." or "%2e" is left to the parser): its
// path and query are the text's own.
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.|%2e/i;

/** `new URL(value, base)` when it is http(s), else null; a plain path is read by hand. */
export function httpUrl(value: string, base: string): HttpUrl | null {
  if (PLAIN_PATH.test(value) && !DOT_SEGMENT.test(value)) {
    const query = value.indexOf("?");
    return {
      pathname: query === -1 ? value : value.slice(0, query),
      search:
        query === -1 || query === value.length - 1 ? "" : value.slice(query),
    };
  }
  try {
    const url = new URL(value, base);
    return url.protocol === "https:" || url.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}

/** `url.searchParams.get(name)` for a name that needs no encoding. */
export function firstQueryParam(url: HttpUrl, name: string): string | null {
  const query = url.search;
  // Only "%" and "+" need decoding in a serialised query; without them the parameter is found by hand.
  if (query.includes("%") || query.includes("+"))
    return new URLSearchParams(query).get(name);
  for (let start = 1; start < query.length;) {
    let end = query.indexOf("&", start);
    if (end === -1) end = query.length;
    if (query.startsWith(name, start)) {
      const after = start + name.length;
      if (after === end) return ""; // "…&name&…": present, empty
      if (query[after] === "=") return query.slice(after + 1, end);
    }
    start = end + 1;
  }
  return null;
}
