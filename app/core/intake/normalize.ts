// Normalisation and hashing of Conversions API user_data, per Meta's "customer information parameters"
// table (developers.facebook.com: conversions-api/parameters/customer-information-parameters). Framework-free: the bench compares it with Meta's SDK, and any
// other tooling can check its hashes. Unusable input gives null (the key is then left out), never an
// exception: one bad value must not fail a whole event batch.

import { hash } from "node:crypto";
import { memoSha256Hex } from "../fast";
import {
  nfc,
  normalizeEmail,
  normalizeExternalId,
  normalizeName,
} from "../wire";
import {
  CA_PROVINCES,
  COUNTRIES,
  MONTH_FIRST_COUNTRIES,
  NATIONAL_NUMBER_MAX,
  TRUNK_PREFIXES,
  US_STATES,
} from "../reference";

export type HashField =
  | "em"
  | "ph"
  | "fn"
  | "ln"
  | "ge"
  | "db"
  | "ct"
  | "st"
  | "zp"
  | "country"
  | "external_id";

/** The address's country: ISO alpha-2 in any case, or a country name. */
export interface NormalizeContext {
  country?: string | null;
}

// Longer input is not a customer attribute but junk (or an attack on the regexes): refuse it.
const MAX_INPUT_LENGTH = 1000;

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const NON_ASCII = /[^\x00-\x7f]/;
const NOT_LETTER_OR_MARK = /[^\p{L}\p{M}]+/gu;

const MARKS = /\p{M}+/gu;
const AMPERSAND = /&/g;
const SAINT_ABBREVIATION = /\bst\b/g;
const NOT_LETTER = /[^\p{L}]+/gu;
const ASCII_LETTERS = /^[A-Za-z]+$/;
/** Lookup key for names: case, accents, spacing and punctuation ignored; "&" reads "and", "St" "Saint". */
function foldKey(s: string): string {
  // Most keys are plain letters already ("QC", "Texas"): only case and a lone "St" can change.
  if (ASCII_LETTERS.test(s)) {
    const lower = s.toLowerCase();
    return lower === "st" ? "saint" : lower;
  }
  return s
    .normalize("NFD")
    .replace(MARKS, "")
    .toLowerCase()
    .replaceAll("ß", "ss")
    .replace(AMPERSAND, " and ")
    .replace(SAINT_ABBREVIATION, "saint")
    .replace(NOT_LETTER, "");
}

// ---- lookup tables, built once ----

const CALLING_CODE = new Map<string, string>();
const COUNTRY_BY_CODE = new Map<string, string>(); // lowercase alpha-2 and alpha-3, and alpha-2 as Shopify sends it
const COUNTRY_BY_NAME = new Map<string, string>(); // folded names and aliases
for (const [alpha2, alpha3, callingCode, ...names] of COUNTRIES) {
  CALLING_CODE.set(alpha2, callingCode);
  COUNTRY_BY_CODE.set(alpha2.toLowerCase(), alpha2);
  COUNTRY_BY_CODE.set(alpha2, alpha2);
  COUNTRY_BY_CODE.set(alpha3.toLowerCase(), alpha2);
  for (const name of names) COUNTRY_BY_NAME.set(foldKey(name), alpha2);
}
const CALLING_CODES = new Set(CALLING_CODE.values());
// Calling codes whose national numbers may start with 0 (Italy's 06…): that 0 is never a trunk prefix.
const ZERO_KEEPING_CALLING_CODES = new Set(
  Object.entries(TRUNK_PREFIXES)
    .filter(([, prefixes]) => prefixes.length === 0)
    .map(([country]) => CALLING_CODE.get(country)),
);
const DEFAULT_TRUNK_PREFIXES = [["0"]] as const;

function subdivisionMap(
  rows: readonly (readonly string[])[],
): Map<string, string> {
  const map = new Map<string, string>();
  for (const [code, ...names] of rows) {
    map.set(code.toLowerCase(), code.toLowerCase());
    for (const name of names) map.set(foldKey(name), code.toLowerCase());
  }
  return map;
}
const SUBDIVISIONS: Readonly<Record<string, Map<string, string>>> = {
  US: subdivisionMap(US_STATES),
  CA: subdivisionMap(CA_PROVINCES),
};
// Without a country only names are looked up: a bare 2-letter value is taken as a code as it is.
const SUBDIVISION_BY_NAME = new Map<string, string>();
for (const [code, ...names] of [...US_STATES, ...CA_PROVINCES]) {
  for (const name of names)
    if (name.length > 2)
      SUBDIVISION_BY_NAME.set(foldKey(name), code.toLowerCase());
}

const MONTH_FIRST = new Set(MONTH_FIRST_COUNTRIES);
const MONTHS = new Map<string, number>();
[
  "january",
  "february",
  "march",
  "april",
  "may",
  "june",
  "july",
  "august",
  "september",
  "october",
  "november",
  "december",
].forEach((name, i) => {
  MONTHS.set(name, i + 1);
  MONTHS.set(name.slice(0, 3), i + 1);
});
MONTHS.set("sept", 9);

// Keys as foldKey reads them ("M." "m", "fe-male" "female", "Männlich" "mannlich"): the words, in the languages of
// Shopify's checkout, that can only mean one of the two (decisions 107).
const GENDERS = new Map<string, "f" | "m">();
for (const word of "f female woman w frau weiblich femme feminin feminine mujer femenino donna femminile vrouw mrs ms miss".split(
  " ",
))
  GENDERS.set(word, "f");
for (const word of "m male man herr mann mannlich homme masculin masculine hombre masculino uomo maschile mr".split(
  " ",
))
  GENDERS.set(word, "m");

// ---- public API ----

export function sha256Hex(s: string): string {
  // One-shot hash (UTF-8 input): no Hash object per value, about 3x faster on short strings (npm run bench).
  return hash("sha256", s, "hex");
}

/** ISO alpha-2 (uppercase) from a code or a country name ("United States", "USA", "UK", "Deutschland"), or null. */
export function countryCodeOf(raw: unknown): string | null {
  if (typeof raw !== "string" || raw.length > MAX_INPUT_LENGTH) return null;
  // Most often an uppercase alpha-2 already (Shopify's country_code, or one this module resolved).
  const exact = COUNTRY_BY_CODE.get(raw);
  if (exact) return exact;
  const s = raw.trim();
  if (s.length === 0) return null;
  if (s.length <= 3) {
    const byCode = COUNTRY_BY_CODE.get(s.toLowerCase());
    if (byCode) return byCode;
  }
  const key = foldKey(s);
  // "U.S.A." folds to a code.
  return COUNTRY_BY_NAME.get(key) ?? COUNTRY_BY_CODE.get(key) ?? null;
}

/** Normalised value per Meta's table, or null when the value is unusable. Never throws. */
export function normalize(
  field: HashField,
  raw: unknown,
  context?: NormalizeContext,
): string | null {
  try {
    return normalizeField(field, raw, context);
  } catch {
    // Only reachable through hostile input (a throwing getter on the context): the contract is null.
    return null;
  }
}

/**
 * Lowercase SHA-256 hex of the normalised value, or null. A value that already is a 64-hex SHA-256 passes
 * through lowercased (never hashed twice). Never throws.
 */
export function normalizeAndHash(
  field: HashField,
  raw: unknown,
  context?: NormalizeContext,
): string | null {
  const hashed = alreadyHashed(raw);
  if (hashed !== null) return hashed;
  const normalized = normalize(field, raw, context);
  return normalized === null ? null : sha256Hex(normalized);
}

/** A raw value and the country to normalise it for, as countryCodeOf gives it (alpha-2 or null). */
export type Candidate = readonly [raw: unknown, country: string | null];

/** A match key and its values, in order of preference. */
export type MatchKeyValues = readonly [
  field: HashField,
  candidates: readonly Candidate[],
];

/** Keys whose normalised values come from small sets that identify nobody (decisions 51: their hashes are memoised). */
const SMALL_SETS: ReadonlySet<HashField> = new Set(["country", "st", "ge"]);

/**
 * The hashes of several match keys: normalizeAndHash of each value, each distinct hash once per key, in the
 * order given; a key without a usable value is left out. Orders repeat the buyer's details (the default
 * address is usually the billing address, the email comes in several spellings): a value seen before, raw or
 * normalised, is hashed once.
 */
export function hashMatchKeys(
  keys: readonly MatchKeyValues[],
  /** Receives the keys left without a value, in order (decisions 150: why each is missing). */
  missing?: MatchKeyValues[],
): Partial<Record<HashField, string[]>> {
  // All values are normalised first, into flat lists, and hashed in one run at the end, each key's hashes into
  // its own list: alternating the two made mapping an order ~10% slower, and slicing the flat list per key cost
  // more than the pushes (npm run bench, mapping; decisions 170).
  const values: string[] = []; // normalised, or already a hash (`prehashed`); then every one hashed
  const prehashed: boolean[] = [];
  let anyPrehashed = false;
  const ends = new Array<number>(keys.length); // per key, where its values end
  for (let k = 0; k < keys.length; k++) {
    const field = keys[k][0];
    const candidates = keys[k][1];
    const start = k === 0 ? 0 : ends[k - 1];
    for (let i = 0; i < candidates.length; i++) {
      const raw = candidates[i][0];
      if (raw == null || isRepeat(candidates, i)) continue;
      const hash = alreadyHashed(raw);
      // An address equal to one normalised already (the contact e-mail is often the order's, lower-cased) would
      // normalise to itself: it is not read again.
      if (
        hash === null &&
        field === "em" &&
        isPending(values, prehashed, start, raw, false)
      )
        continue;
      const value =
        hash ?? normalizeField(field, raw, undefined, candidates[i][1]);
      if (
        value !== null &&
        !isPending(values, prehashed, start, value, hash !== null)
      ) {
        values.push(value);
        prehashed.push(hash !== null);
        if (hash !== null) anyPrehashed = true;
      }
    }
    ends[k] = values.length;
  }

  const result: Partial<Record<HashField, string[]>> = {};
  for (let k = 0, i = 0; k < keys.length; k++) {
    if (i === ends[k]) {
      missing?.push(keys[k]);
      continue;
    }
    const hashOf = SMALL_SETS.has(keys[k][0]) ? memoSha256Hex : sha256Hex;
    const hashes: string[] = [];
    for (; i < ends[k]; i++)
      hashes.push(prehashed[i] ? values[i] : hashOf(values[i]));
    // Only a value that already was a hash can equal another one's hash.
    result[keys[k][0]] = anyPrehashed ? distinct(hashes) : hashes;
  }
  return result;
}

/** The hashes without repeats, in order: a value that already was a hash can equal another one's hash. */
function distinct(hashes: string[]): string[] {
  for (let i = 1; i < hashes.length; i++)
    if (hashes.indexOf(hashes[i]) < i) return [...new Set(hashes)];
  return hashes;
}

function isRepeat(values: readonly Candidate[], i: number): boolean {
  for (let j = 0; j < i; j++)
    if (values[j][0] === values[i][0] && values[j][1] === values[i][1])
      return true;
  return false;
}

/** Whether `value` (of the same kind) is already among this key's values, from `start` on. */
function isPending(
  values: string[],
  prehashed: boolean[],
  start: number,
  value: unknown,
  isHash: boolean,
): boolean {
  for (let j = start; j < values.length; j++)
    if (values[j] === value && prehashed[j] === isHash) return true;
  return false;
}

/** A value that already is a SHA-256 (64 hex, trimmed), lowercased; else null. */
function alreadyHashed(raw: unknown): string | null {
  // 64 hex only: a 32-hex value (an MD5-looking customer id) is raw data and gets hashed.
  if (
    typeof raw !== "string" ||
    raw.length < 64 ||
    raw.length > MAX_INPUT_LENGTH
  )
    return null;
  const s = raw.trim();
  return s.length === 64 && SHA256_HEX.test(s) ? s.toLowerCase() : null;
}

// ---- fields ----

/**
 * `country`: the country already resolved by countryCodeOf (hashMatchKeys); without it the context is read,
 * and only by the fields that depend on the country.
 */
function normalizeField(
  field: HashField,
  raw: unknown,
  context: NormalizeContext | undefined,
  country?: string | null,
): string | null {
  if (field === "db" && raw instanceof Date) return dateFromDate(raw);
  const s = textOf(raw, field);
  if (s === null) return null;
  switch (field) {
    case "em":
      return normalizeEmail(s);
    case "ph":
      return normalizePhone(s, country ?? contextCountry(context));
    case "fn":
    case "ln":
      return normalizeName(s);
    case "ge":
      return GENDERS.get(foldKey(s)) ?? null;
    case "db":
      return normalizeDate(s, country ?? contextCountry(context));
    case "ct":
      return nonEmpty(nfc(s.toLowerCase()).replace(NOT_LETTER_OR_MARK, ""));
    case "st":
      return normalizeState(s, country ?? contextCountry(context));
    case "zp":
      return normalizeZip(
        s,
        country ?? contextCountry(context),
        typeof raw !== "string",
      );
    case "country":
      return countryCodeOf(s)?.toLowerCase() ?? null;
    case "external_id":
      return normalizeExternalId(s);
    default:
      return null;
  }
}

const NUMERIC_FIELDS: ReadonlySet<HashField> = new Set([
  "ph",
  "zp",
  "external_id",
  "db",
]);

/** Trimmed text of the input; integers are accepted where a field may be numeric. */
function textOf(raw: unknown, field: HashField): string | null {
  let s: string;
  if (typeof raw === "string") {
    if (raw.length > MAX_INPUT_LENGTH) return null;
    s = raw.trim();
  } else if (typeof raw === "number" && NUMERIC_FIELDS.has(field)) {
    if (!Number.isSafeInteger(raw) || raw < 0) return null;
    s = String(raw);
  } else if (typeof raw === "bigint" && NUMERIC_FIELDS.has(field)) {
    if (raw < 0n) return null;
    s = raw.toString();
    if (s.length > MAX_INPUT_LENGTH) return null;
  } else {
    return null;
  }
  return s.length === 0 ? null : s;
}

function nonEmpty(s: string): string | null {
  return s.length === 0 ? null : s;
}

function contextCountry(context: NormalizeContext | undefined): string | null {
  return context ? countryCodeOf(context.country) : null;
}

// The number is the first run of digits and phone punctuation ([+\d][\d\s()./_\-\u2010-\u2015]*); what follows
// it (x123, ext. 12, #5, "(mobile)") is an extension or a comment. Read by hand: a regex match and a replace
// of the non-digits cost more than the rest of the phone rules (npm run bench, mapping).
const PHONE_PUNCTUATION = /[\s()./_\-\u2010-\u2015]/;
// The same characters in ASCII, found without running the regex for each one.
const ASCII_PHONE_PUNCTUATION = " \t\n\v\f\r()./_-";
// North America's international access prefix ("011 44 20 7946 0958" dialled from the US): read as a "+" only
// for a country of calling code 1, where no national number starts with 0 (elsewhere 011… is a national
// number: Sheffield's 0114).
const NANP_ACCESS_PREFIX = "011";
const LEADING_ZEROS = /^0+/;
function normalizePhone(s: string, country: string | null): string | null {
  const text = NON_ASCII.test(s) ? s.normalize("NFKC") : s; // NFKC: full-width digits
  let start = 0;
  while (
    start < text.length &&
    text[start] !== "+" &&
    !isDigit(text.charCodeAt(start))
  )
    start++;
  if (start === text.length) return null;
  const international = text[start] === "+";
  let digits = "";
  let chunk = international ? start + 1 : start;
  let end = chunk;
  for (; end < text.length; end++) {
    if (isDigit(text.charCodeAt(end))) continue;
    const c = text[end];
    if (
      !(c < "\x80"
        ? ASCII_PHONE_PUNCTUATION.includes(c)
        : PHONE_PUNCTUATION.test(c))
    )
      break;
    digits += text.slice(chunk, end);
    chunk = end + 1;
  }
  digits += text.slice(chunk, end);
  if (international || digits.startsWith("00")) {
    digits = dropTrunkAfterCallingCode(
      digits[0] === "0" ? digits.replace(LEADING_ZEROS, "") : digits,
    );
  } else if (
    country &&
    CALLING_CODE.get(country) === "1" &&
    digits.startsWith(NANP_ACCESS_PREFIX)
  ) {
    digits = dropTrunkAfterCallingCode(digits.slice(NANP_ACCESS_PREFIX.length));
  } else if (country) {
    digits = nationalToInternational(digits, country);
  } else if (digits[0] === "0" || digits.length < 11) {
    // A national number without its country: its calling code cannot be known.
    return null;
  } else {
    digits = dropTrunkAfterCallingCode(digits);
  }
  return digits.length >= 7 && digits.length <= 15 ? digits : null;
}

function isDigit(charCode: number): boolean {
  return charCode >= 48 && charCode <= 57; // ASCII only, as \d
}

function nationalToInternational(digits: string, country: string): string {
  const callingCode = CALLING_CODE.get(country)!;
  for (const [prefix, nationalLength] of TRUNK_PREFIXES[country] ??
    DEFAULT_TRUNK_PREFIXES) {
    if (
      digits.startsWith(prefix) &&
      (nationalLength === undefined ||
        digits.length === prefix.length + nationalLength)
    ) {
      return callingCode + digits.slice(prefix.length);
    }
  }
  // Longer than any national number and starting with the calling code: international without the "+"
  // (a US 1 650 555 1212, an Indian 91 98765 43210).
  if (
    digits.startsWith(callingCode) &&
    digits.length > (NATIONAL_NUMBER_MAX[country] ?? 10)
  )
    return digits;
  return callingCode + digits;
}

/** "+44 (0)20…" and "+44 020…" carry the national trunk 0 after the calling code: it is not dialled. */
function dropTrunkAfterCallingCode(digits: string): string {
  // Calling codes are a prefix code, so the first 1-3 digit match is the one.
  for (let n = 1; n <= 3; n++) {
    const callingCode = digits.slice(0, n);
    if (CALLING_CODES.has(callingCode)) {
      return digits[n] === "0" && !ZERO_KEEPING_CALLING_CODES.has(callingCode)
        ? callingCode + digits.slice(n + 1)
        : digits;
    }
  }
  return digits;
}

const TWO_LETTERS = /^[a-z]{2}$/;
const ISO_SUBDIVISION = /^([a-z]{2})-([a-z]{2})$/; // "US-CA"
function normalizeState(s: string, country: string | null): string | null {
  const lower = nfc(s.toLowerCase());
  const subdivisions = country ? SUBDIVISIONS[country] : undefined;
  if (country && subdivisions) {
    const iso = lower.length === 5 ? ISO_SUBDIVISION.exec(lower) : null;
    const code = subdivisions.get(
      iso && iso[1] === country.toLowerCase() ? iso[2] : foldKey(lower),
    );
    if (code) return code;
    // Meta wants the 2-letter code for the US: anything else cannot match.
    if (country === "US") return null;
  } else if (!country) {
    if (TWO_LETTERS.test(lower)) return lower;
    const code = SUBDIVISION_BY_NAME.get(foldKey(lower));
    if (code) return code;
  }
  // A state's name or code as written, spelled as a name is.
  return normalizeName(lower);
}

const NOT_ALPHANUMERIC = /[^a-z0-9]+/g;
// One letter is no postcode anywhere; a leading dash is a placeholder or a form's leftover ("-", "-1234").
const ONE_LETTER = /^[a-z]$/;
const US_ZIP = /^\d{5}(?:\d{4})?$/;
const US_ZIP_PLUS_4 = /^\d{5}-\d{4}$/;
function normalizeZip(
  s: string,
  country: string | null,
  wasNumber: boolean,
): string | null {
  if (s[0] === "-") return null;
  let zip = (NON_ASCII.test(s) ? s.normalize("NFKC") : s)
    .toLowerCase()
    .replace(NOT_ALPHANUMERIC, "");
  if (country === "US") {
    // A ZIP stored as a number lost its leading zeros (Boston's 02134 became 2134).
    if (wasNumber) zip = zip.padStart(zip.length > 5 ? 9 : 5, "0");
    return US_ZIP.test(zip) ? zip.slice(0, 5) : null;
  }
  // Without a country, "94025-1234" is still unmistakably a US ZIP+4.
  if (!country && US_ZIP_PLUS_4.test(s)) return zip.slice(0, 5);
  return ONE_LETTER.test(zip) ? null : nonEmpty(zip);
}

// Chinese and Japanese 1990年1月15日, Korean 1990년 1월 15일 (after NFKC: full-width digits).
const CJK_DATE =
  /^(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?$/;
const ISO_DATE_PREFIX = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t\s]|$)/;
const DATE_SEPARATORS = /[\s,./-]+/;
const EIGHT_DIGITS = /^\d{8}$/;
const DAY_OR_MONTH = /^(\d{1,2})(?:st|nd|rd|th)?$/;
const YEAR = /^\d{4}$/;
const ONE_OR_TWO_DIGITS = /^\d{1,2}$/;
function normalizeDate(s: string, country: string | null): string | null {
  if (NON_ASCII.test(s)) {
    const cjk = CJK_DATE.exec(s.normalize("NFKC"));
    if (cjk) return formatDate(+cjk[1], +cjk[2], +cjk[3]);
  }
  const lower = s.toLowerCase();
  const iso = ISO_DATE_PREFIX.exec(lower);
  if (iso) return formatDate(+iso[1], +iso[2], +iso[3]);
  if (EIGHT_DIGITS.test(lower))
    return formatDate(
      +lower.slice(0, 4),
      +lower.slice(4, 6),
      +lower.slice(6, 8),
    );

  const parts = lower.split(DATE_SEPARATORS).filter((p) => p.length > 0);
  if (parts.length !== 3) return null;
  const monthIndex = parts.findIndex((p) => MONTHS.has(p));
  if (monthIndex >= 0) {
    // "March 15, 1990", "15 March 1990", "15-Mar-1990": the month is named, the year has 4 digits.
    const [a, b] = parts.filter((_, i) => i !== monthIndex);
    const [yearPart, dayPart] = YEAR.test(a) ? [a, b] : [b, a];
    const day = DAY_OR_MONTH.exec(dayPart);
    return YEAR.test(yearPart) && day
      ? formatDate(+yearPart, MONTHS.get(parts[monthIndex])!, +day[1])
      : null;
  }
  const [p0, p1, p2] = parts;
  if (YEAR.test(p0) && DAY_OR_MONTH.test(p1) && DAY_OR_MONTH.test(p2))
    return formatDate(+p0, +p1, +p2);
  if (
    !YEAR.test(p2) ||
    !ONE_OR_TWO_DIGITS.test(p0) ||
    !ONE_OR_TWO_DIGITS.test(p1)
  )
    return null;
  const a = +p0;
  const b = +p1;
  // A part over 12 can only be the day. Otherwise: dotted dates are European (15.03.1990); slashes and
  // dashes read month first in the US and its territories (and when the country is unknown), day first
  // elsewhere.
  const dayFirst =
    a > 12 ||
    (b <= 12 &&
      (lower.includes(".") || (country !== null && !MONTH_FIRST.has(country))));
  return dayFirst ? formatDate(+p2, b, a) : formatDate(+p2, a, b);
}

function dateFromDate(d: Date): string | null {
  // A Date for a birthday is midnight UTC of that day (how databases and JSON carry a date-only value).
  return Number.isNaN(d.getTime())
    ? null
    : formatDate(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
}

/** YYYYMMDD of a real date between 1900-01-01 and today, else null. */
function formatDate(year: number, month: number, day: number): string | null {
  if (year < 1900 || month < 1 || month > 12 || day < 1) return null;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getTime() > Date.now())
    return null; // Feb 30, the future
  return `${year}${month < 10 ? "0" : ""}${month}${day < 10 ? "0" : ""}${day}`;
}
