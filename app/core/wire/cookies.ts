// Meta's browser ids, `_fbp` and `_fbc`, as its pixel and its capi-param-builder libraries write them (never
// hashed): one definition for the web pixel, the pixel endpoint and order mapping (an `_fbc` cart attribute, an
// `fbclid` in the landing page). Values are passed on unchanged, appendix included (decisions 106).
//
//   _fbp = fb.{subdomain index}.{creation time, ms}.{random integer}[.{appendix}]
//   _fbc = fb.{subdomain index}.{creation time, ms}.{fbclid}[.{appendix}]
//
// The subdomain index is 0 for a cookie on the bare host, 1 on the registrable domain, 2 one level below. The
// random integer is the pixel's (up to 2^31) or param builder's (two 9-digit numbers, concatenated). The
// appendix is what capi-param-builder adds: its 2-letter language token (AQ, Ag, Aw, BA, BQ, Bg) or, since its
// v2 format, 8 base64url characters (format, language, new or not, library version).

const INDEX = String.raw`\d{1,2}`;
const CREATED = String.raw`\d{10,14}`;
const APPENDIX = String.raw`(?:\.(?:A[Qgw]|B[AQg]|[A-Za-z0-9_-]{8}))?`;

/** `_fbp` in every format Meta writes. */
export const FBP_PATTERN = new RegExp(
  String.raw`^fb\.${INDEX}\.${CREATED}\.\d{1,20}${APPENDIX}$`,
);
/** `_fbc` in every format Meta writes; the click id is what `isClickId` accepts. */
export const FBC_PATTERN = new RegExp(
  String.raw`^fb\.${INDEX}\.${CREATED}\.([\x21-\x7e]{1,500}?)${APPENDIX}$`,
);
/** Meta: ignore an fbclid longer than this. */
export const MAX_FBCLID_LENGTH = 500;

/**
 * An fbclid that can be kept: case-sensitive and as sent, at most 500 characters of printable ASCII without the
 * characters a cookie value cannot hold (`;` `,` `"` `\`). Anything else (text, controls, NUL) is not a click id.
 */
export function isClickId(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= MAX_FBCLID_LENGTH &&
    /^[\x21-\x7e]+$/.test(value) &&
    !/[;,"\\]/.test(value)
  );
}

/** The `_fbc` of a click id seen at `createdMs` (subdomain index 1, as Meta's own server-side builders write it). */
export function fbcOfClickId(fbclid: string, createdMs: number): string {
  return `fb.1.${createdMs}.${fbclid}`;
}

/** The click id an `_fbc` carries, without its appendix; null when it is not an `_fbc`. */
export function clickIdOfFbc(fbc: string | null | undefined): string | null {
  const m = fbc ? FBC_PATTERN.exec(fbc) : null;
  return m ? m[1] : null;
}
