import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
} from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

// Access tokens at rest (Meta's, and Shopify's in the sessions): AES-256-GCM under a key from the environment. Every
// ciphertext names the key that sealed it, so keys can rotate: the new key encrypts, old keys
// (TOKEN_ENCRYPTION_KEYS_OLD) still decrypt, and `reencrypt` moves rows forward.

export interface KeyRing {
  current: { id: string; key: Buffer };
  all: Map<string, Buffer>;
}

export interface SealedToken {
  ciphertext: string;
  keyId: string;
}

/** A configuration problem. Messages name the variable and the fix, never key material. */
export class TokenKeyError extends Error {
  override name = "TokenKeyError";
}

/** Tampered data or a key that is not in the ring. Messages never include ciphertext or plaintext. */
export class TokenDecryptError extends Error {
  override name = "TokenDecryptError";
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const GENERATE_HINT = "generate one with `openssl rand -base64 32`";

export function loadKeyRing(
  env: NodeJS.ProcessEnv,
  opts: { production: boolean; devKeyFile: string },
): KeyRing {
  const configured = env.TOKEN_ENCRYPTION_KEY?.trim();
  let current: Buffer;
  if (configured) {
    current = parseKey(configured, "TOKEN_ENCRYPTION_KEY");
  } else if (opts.production) {
    throw new TokenKeyError(
      `TOKEN_ENCRYPTION_KEY is missing: ${GENERATE_HINT} and set it in the environment. ` +
        "It encrypts the Meta and Shopify access tokens stored in the database; keep it secret and keep it stable.",
    );
  } else {
    current = devKey(opts.devKeyFile);
  }

  const all = new Map<string, Buffer>();
  const currentId = keyId(current);
  all.set(currentId, current);
  const old = (env.TOKEN_ENCRYPTION_KEYS_OLD ?? "")
    .split(",")
    .map((s) => s.trim());
  old.forEach((value, index) => {
    if (value) {
      const key = parseKey(
        value,
        `TOKEN_ENCRYPTION_KEYS_OLD (entry ${index + 1})`,
      );
      all.set(keyId(key), key);
    }
  });
  return { current: { id: currentId, key: current }, all };
}

export function encryptToken(ring: KeyRing, plaintext: string): SealedToken {
  const { id, key } = ring.current;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  // The key id is authenticated too, so a ciphertext cannot be relabelled as sealed by another key.
  cipher.setAAD(Buffer.from(id, "utf8"));
  const data = Buffer.concat([
    cipher.update(plaintext, "utf8"),
    cipher.final(),
  ]);
  return {
    ciphertext: Buffer.concat([iv, cipher.getAuthTag(), data]).toString(
      "base64",
    ),
    keyId: id,
  };
}

export function decryptToken(ring: KeyRing, sealed: SealedToken): string {
  const key = ring.all.get(sealed.keyId);
  if (!key) {
    throw new TokenDecryptError(
      `The access token was encrypted with key ${sealed.keyId}, which is not configured: ` +
        "add that key to TOKEN_ENCRYPTION_KEYS_OLD, or reconnect the shop to store a new token.",
    );
  }
  const raw = Buffer.from(sealed.ciphertext, "base64");
  // Buffer.from ignores stray characters; requiring the canonical form makes an edited string fail as tampered.
  if (
    raw.length < IV_BYTES + TAG_BYTES ||
    raw.toString("base64") !== sealed.ciphertext
  ) {
    throw new TokenDecryptError(
      "The stored access token is not a valid ciphertext: reconnect the shop.",
    );
  }
  try {
    const decipher = createDecipheriv(
      "aes-256-gcm",
      key,
      raw.subarray(0, IV_BYTES),
    );
    decipher.setAAD(Buffer.from(sealed.keyId, "utf8"));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ]).toString("utf8");
  } catch {
    throw new TokenDecryptError(
      `The stored access token failed authentication under key ${sealed.keyId}: it was altered or the key is wrong. Reconnect the shop.`,
    );
  }
}

/** Seals a token again under the current key; null when it already is (nothing to write). */
export function reencrypt(
  ring: KeyRing,
  sealed: SealedToken,
): SealedToken | null {
  if (sealed.keyId === ring.current.id) return null;
  return encryptToken(ring, decryptToken(ring, sealed));
}

// A token kept in one text column (Shopify's sessions) carries its key id: "enc1:<key id>:<ciphertext>". Shopify's
// tokens start with "shp" ("shpat_…", "shprt_…"), so a sealed value and a plain one cannot be taken for each other.
const TEXT_PREFIX = "enc1:";
const TEXT_FORMAT = /^enc1:([0-9a-f]{12}):(.*)$/s;

export function encryptTokenText(ring: KeyRing, plaintext: string): string {
  const { keyId, ciphertext } = encryptToken(ring, plaintext);
  return `${TEXT_PREFIX}${keyId}:${ciphertext}`;
}

/** False for a token stored in clear before encryption (decisions 46). */
export function isEncryptedText(value: string): boolean {
  return value.startsWith(TEXT_PREFIX);
}

/** The token; a value stored in clear before encryption is returned as it is. */
export function decryptTokenText(ring: KeyRing, value: string): string {
  if (!isEncryptedText(value)) return value;
  const parts = TEXT_FORMAT.exec(value);
  if (!parts)
    throw new TokenDecryptError(
      "The stored access token is not a valid ciphertext.",
    );
  return decryptToken(ring, { keyId: parts[1], ciphertext: parts[2] });
}

/** Seals a token (or a value in clear) under the current key; null when it already is. */
export function reencryptText(ring: KeyRing, value: string): string | null {
  if (value.startsWith(`${TEXT_PREFIX}${ring.current.id}:`)) return null;
  return encryptTokenText(ring, decryptTokenText(ring, value));
}

/** What the admin shows instead of a token. */
export function maskToken(last4: string | null): string {
  return last4 ? `••••••••${last4.slice(-4)}` : "—";
}

export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 12);
}

function parseKey(value: string, source: string): Buffer {
  const key = Buffer.from(value, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || key.length !== KEY_BYTES) {
    throw new TokenKeyError(
      `${source} must be 32 random bytes in base64 (44 characters): ${GENERATE_HINT}.`,
    );
  }
  return key;
}

/** Development only: one key per checkout, created on first use so `npm run dev` works without setup. */
function devKey(file: string): Buffer {
  let text: string;
  try {
    mkdirSync(dirname(file), { recursive: true });
    try {
      // "wx" fails when the file exists, so two processes starting together keep the first one's key.
      writeFileSync(file, `${generateKey()}\n`, { mode: 0o600, flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new TokenKeyError(
      `TOKEN_ENCRYPTION_KEY is not set and the development key file ${file} cannot be used ` +
        `(${(error as NodeJS.ErrnoException).code ?? "error"}): set TOKEN_ENCRYPTION_KEY, ${GENERATE_HINT}.`,
    );
  }
  return parseKey(text.trim(), `The development key file ${file}`);
}
