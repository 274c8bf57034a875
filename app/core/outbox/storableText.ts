// Shopper-controlled text (order names, checkout tokens, SKUs, user agents, a data request's id...) is stored as it
// comes, and what is stored is what goes to Meta. PostgreSQL refuses NUL in text and jsonb, and lone UTF-16
// surrogates in jsonb; SQLite takes both. Every write of such text goes through these, so an authentic webhook is
// recorded on either database, and both hold the same text (decisions 30).

const MAYBE_UNSTORABLE = /[\u0000\ud800-\udfff]/;
const UNSTORABLE =
  /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** How JSON.stringify writes NUL and lone surrogates (well-formed pairs it writes as they are). */
const UNSTORABLE_ESCAPE = /\\u(?:0000|d[89a-f])/i;

/** The text with each NUL and lone surrogate replaced by U+FFFD, as a UTF-8 decoder replaces invalid bytes. */
export function storableText(text: string): string {
  return MAYBE_UNSTORABLE.test(text)
    ? text.replace(UNSTORABLE, "\ufffd")
    : text;
}

/** JSON text of a value for a Json column, its strings made storable. */
export function storableJson(value: unknown): string {
  const json = JSON.stringify(value);
  // Almost always clean: the replacer pass runs only when the text shows an escape PostgreSQL would refuse.
  if (!UNSTORABLE_ESCAPE.test(json)) return json;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "string" ? storableText(v) : v,
  );
}
