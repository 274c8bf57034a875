// The e-mail address as Meta's own SDKs accept it, for the pixel (which hashes e-mail addresses in the browser)
// and the server alike: a hash of something Meta's libraries would refuse only adds noise to its matching
// (decisions 107).

// Invisible characters a copy and paste brings along: zero-width space, non-joiner, joiner, word joiner, BOM,
// no-break space.
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff\u00a0]/;
const INVISIBLE_ALL = new RegExp(INVISIBLE.source, "g");
// The local part as a dot-atom: no quoted string, no leading, trailing or consecutive dot. Letters of any
// script are kept (an internationalised mailbox, RFC 6531); the ASCII pattern first, as it is much faster.
const ASCII_LOCAL_PART =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LOCAL_PART =
  /^[\p{L}\p{M}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{M}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
// Host name labels of letters, digits and inner hyphens (no underscore, no hyphen at either end), ASCII only, then a
// top-level domain of letters or an IDN in punycode (digits only would be an address literal's).
const DOMAIN =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * em as Meta normalises it (invisible characters removed, trimmed, lower-cased), or null when Meta's SDK would
 * reject it: an address literal (`a@[10.0.0.1]`), a quoted or badly dotted local part, a non-ASCII or
 * non-punycode domain, a hyphen-edged or underscore label, a `mailto:` prefix.
 */
export function normalizeEmail(
  value: string | null | undefined,
): string | null {
  if (typeof value !== "string" || value.length > 1000) return null;
  const email = (
    INVISIBLE.test(value) ? value.replace(INVISIBLE_ALL, "") : value
  )
    .trim()
    .toLowerCase();
  // An address is at most 254 characters, its local part at most 64.
  if (email.length > 254) return null;
  const at = email.lastIndexOf("@");
  if (at < 1 || at > 64) return null;
  const local = email.slice(0, at);
  if (!ASCII_LOCAL_PART.test(local) && !LOCAL_PART.test(local)) return null;
  return DOMAIN.test(email.slice(at + 1)) ? email : null;
}

// Letters of any script survive; punctuation, symbols, whitespace and control characters do not.
const PUNCT_SYMBOL_SPACE = /[\p{P}\p{S}\s\p{Cc}]+/gu;
// Characters below U+0300 (Latin-1, Latin Extended, IPA) are starters that never compose: text made of them
// only is NFC already, and the ICU call (the costliest step for a name) is skipped.
const MAYBE_NOT_NFC = /[^\u0000-\u02ff]/;

/** Text in NFC. */
export function nfc(s: string): string {
  return MAYBE_NOT_NFC.test(s) ? s.normalize("NFC") : s;
}

/** fn and ln: lower-cased, in NFC, without punctuation, symbols or spaces; null when nothing is left. */
export function normalizeName(value: string): string | null {
  const name = nfc(value.toLowerCase()).replace(PUNCT_SYMBOL_SPACE, "");
  return name.length > 0 ? name : null;
}

/** external_id as Meta's libraries normalise it on every path: trimmed and lower-cased (decisions 107). */
export function normalizeExternalId(value: string): string | null {
  const id = value.trim().toLowerCase();
  return id.length > 0 ? id : null;
}
