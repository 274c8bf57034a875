// Normalisation (Meta's customer-information rules) and SHA-256 for the match keys the pixel hashes in the
// browser. Only hashes leave the browser; fbp/fbc are never hashed.

/**
 * ph: digits only, WITH the country code, no leading zeros. Shopify's checkout phone is E.164 (`+16135551111`).
 * A number without a leading `+` (or `00`) cannot be shown to carry a country code, and a hash of a national
 * number would never match, so it is dropped (fewer match keys, never a wrong one).
 * `+44 (0)20 7946 0958` -> `442079460958` (the bracketed trunk zero is removed).
 */
export function normalizePhone(
  value: string | null | undefined,
): string | null {
  if (typeof value !== "string") return null;
  let s = value.trim();
  if (s.startsWith("00")) s = `+${s.slice(2)}`;
  if (!s.startsWith("+")) return null;
  s = s.replace(/\(\s*0\s*\)/g, "");
  const digits = s.replace(/\D/g, "").replace(/^0+/, "");
  return digits.length >= 7 && digits.length <= 15 ? digits : null;
}

const cache = new Map<string, Promise<string | null>>();

/** Lowercase SHA-256 hex of the UTF-8 bytes; memoised. Resolves null only if hashing is impossible. */
export function sha256Hex(input: string): Promise<string | null> {
  let hit = cache.get(input);
  if (!hit) {
    hit = digest(input).catch(() => null);
    if (cache.size > 50) cache.clear();
    cache.set(input, hit);
  }
  return hit;
}

async function digest(input: string): Promise<string | null> {
  const bytes = utf8(input);
  const subtle = typeof crypto !== "undefined" ? crypto.subtle : undefined;
  if (subtle && typeof subtle.digest === "function") {
    try {
      const buf = await subtle.digest("SHA-256", bytes);
      return toHex(new Uint8Array(buf));
    } catch {
      // fall through to the portable implementation
    }
  }
  // UNVERIFIED whether every storefront worker exposes crypto.subtle (it needs a secure context):
  // a small portable SHA-256 keeps the match keys working without it.
  return toHex(sha256(bytes));
}

function utf8(s: string): Uint8Array<ArrayBuffer> {
  if (typeof TextEncoder !== "undefined")
    return new Uint8Array(new TextEncoder().encode(s));
  const bin = unescape(encodeURIComponent(s));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++)
    hex += (bytes[i] + 0x100).toString(16).slice(1);
  return hex;
}

const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/** Portable SHA-256 (FIPS 180-4) over bytes. */
export function sha256(msg: Uint8Array): Uint8Array {
  const h = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
    0x1f83d9ab, 0x5be0cd19,
  ];
  const bitLen = msg.length * 8;
  const padded = new Uint8Array(((msg.length + 9 + 63) >> 6) << 6);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ror(a, 7) ^ ror(a, 18) ^ (a >>> 3);
      const s1 = ror(b, 17) ^ ror(b, 19) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 =
        (hh +
          (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) +
          ((e & f) ^ (~e & g)) +
          K[i] +
          w[i]) |
        0;
      const t2 =
        ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) +
          ((a & b) ^ (a & c) ^ (b & c))) |
        0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
    h[5] = (h[5] + f) | 0;
    h[6] = (h[6] + g) | 0;
    h[7] = (h[7] + hh) | 0;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(i * 4, h[i] >>> 0);
  return out;
}

function ror(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}
