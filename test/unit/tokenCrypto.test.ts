import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  decryptToken,
  decryptTokenText,
  encryptToken,
  encryptTokenText,
  generateKey,
  isEncryptedText,
  loadKeyRing,
  maskToken,
  reencrypt,
  reencryptText,
  TokenDecryptError,
  TokenKeyError,
} from "../../app/core/shops/tokenCrypto";

const dir = mkdtempSync(join(tmpdir(), "token-crypto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = "EAAGm0PX4ZCpsBAplaintextSECRET";
const KEY_A = generateKey();
const KEY_B = generateKey();
const prod = { production: true, devKeyFile: join(dir, "unused", "key") };

/** Remix's globals make NODE_ENV required on ProcessEnv; these tests pass partial environments on purpose. */
const env = (vars: Record<string, string>) => vars as NodeJS.ProcessEnv;

function ring(current: string, old: string[] = []) {
  return loadKeyRing(
    env({
      TOKEN_ENCRYPTION_KEY: current,
      TOKEN_ENCRYPTION_KEYS_OLD: old.join(","),
    }),
    prod,
  );
}

/** Runs fn, expecting it to throw, and returns the error. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("keys", () => {
  it("generateKey gives base64 of 32 random bytes", () => {
    expect(Buffer.from(KEY_A, "base64")).toHaveLength(32);
    expect(KEY_A).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(KEY_A).not.toBe(KEY_B);
  });

  it("the key id is the first 12 hex characters of sha256(key)", () => {
    const expected = createHash("sha256")
      .update(Buffer.from(KEY_A, "base64"))
      .digest("hex")
      .slice(0, 12);
    expect(ring(KEY_A).current.id).toBe(expected);
  });

  it("production without a key fails with how to make one", () => {
    const error = thrown(() => loadKeyRing(env({}), prod));
    expect(error).toBeInstanceOf(TokenKeyError);
    expect(error.message).toMatch(
      /^TOKEN_ENCRYPTION_KEY is missing: generate one with `openssl rand -base64 32`/,
    );
    expect(existsSync(prod.devKeyFile)).toBe(false);
  });

  it.each([
    ["too short", randomBytes(16).toString("base64")],
    ["too long", randomBytes(48).toString("base64")],
    ["not base64", "this is not a key at all, just some words!!"],
    ["hex", randomBytes(32).toString("hex")],
  ])("rejects a key that is %s, without echoing it", (_name, key) => {
    const error = thrown(() => ring(key));
    expect(error).toBeInstanceOf(TokenKeyError);
    expect(error.message).toMatch(
      /TOKEN_ENCRYPTION_KEY must be 32 random bytes in base64/,
    );
    expect(error.message).not.toContain(key);
  });

  it("rejects an invalid old key, naming which entry", () => {
    const bad = randomBytes(10).toString("base64");
    const error = thrown(() => ring(KEY_A, [KEY_B, bad]));
    expect(error).toBeInstanceOf(TokenKeyError);
    expect(error.message).toMatch(/TOKEN_ENCRYPTION_KEYS_OLD \(entry 2\)/);
    expect(error.message).not.toContain(bad);
    expect(error.message).not.toContain(KEY_B);
  });

  it("development without a key creates a key file once (mode 0600) and reuses it", () => {
    const devKeyFile = join(dir, "nested", "dir", "token-key");
    const first = loadKeyRing(env({}), { production: false, devKeyFile });
    expect(statSync(devKeyFile).mode & 0o777).toBe(0o600);
    const content = readFileSync(devKeyFile, "utf8");
    const second = loadKeyRing(env({}), { production: false, devKeyFile });
    expect(second.current.id).toBe(first.current.id);
    expect(readFileSync(devKeyFile, "utf8")).toBe(content);
    expect(decryptToken(second, encryptToken(first, TOKEN))).toBe(TOKEN);
  });

  it("development prefers TOKEN_ENCRYPTION_KEY when it is set", () => {
    const devKeyFile = join(dir, "never-created");
    const r = loadKeyRing(env({ TOKEN_ENCRYPTION_KEY: KEY_A }), {
      production: false,
      devKeyFile,
    });
    expect(r.current.id).toBe(ring(KEY_A).current.id);
    expect(existsSync(devKeyFile)).toBe(false);
  });

  it("a corrupt development key file is a clear error", () => {
    const devKeyFile = join(dir, "corrupt-key");
    writeFileSync(devKeyFile, "garbage\n");
    const error = thrown(() =>
      loadKeyRing(env({}), { production: false, devKeyFile }),
    );
    expect(error).toBeInstanceOf(TokenKeyError);
    expect(error.message).toContain(devKeyFile);
  });
});

describe("encrypt and decrypt", () => {
  const r = ring(KEY_A);

  it("round-trips, including non-ASCII text", () => {
    for (const plaintext of [TOKEN, "", "ünïcødé ✓ token"]) {
      const sealed = encryptToken(r, plaintext);
      expect(sealed.keyId).toBe(r.current.id);
      expect(decryptToken(r, sealed)).toBe(plaintext);
    }
  });

  it("uses a random IV: the same token never gives the same ciphertext", () => {
    const a = encryptToken(r, TOKEN);
    const b = encryptToken(r, TOKEN);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.ciphertext, "base64").subarray(0, 12)).not.toEqual(
      Buffer.from(b.ciphertext, "base64").subarray(0, 12),
    );
    expect(Buffer.from(a.ciphertext, "base64")).toHaveLength(
      12 + 16 + Buffer.byteLength(TOKEN),
    );
    expect(a.ciphertext).not.toContain(TOKEN);
  });

  it("detects a change to any byte (IV, tag or data)", () => {
    const sealed = encryptToken(r, TOKEN);
    const raw = Buffer.from(sealed.ciphertext, "base64");
    for (let i = 0; i < raw.length; i++) {
      const tampered = Buffer.from(raw);
      tampered[i] ^= 0x01;
      const error = thrown(() =>
        decryptToken(r, { ...sealed, ciphertext: tampered.toString("base64") }),
      );
      expect(error).toBeInstanceOf(TokenDecryptError);
      expect(error.message).not.toContain(TOKEN);
      expect(error.message).not.toContain(sealed.ciphertext);
    }
  });

  it("detects truncation and edits of the base64 text itself", () => {
    const sealed = encryptToken(r, TOKEN);
    for (const ciphertext of [
      sealed.ciphertext.slice(0, 20),
      "",
      `${sealed.ciphertext}!`,
      sealed.ciphertext.slice(0, -1),
    ]) {
      expect(() => decryptToken(r, { ...sealed, ciphertext })).toThrow(
        TokenDecryptError,
      );
    }
  });

  it("binds the key id: relabelling a ciphertext with another key id fails", () => {
    const both = ring(KEY_A, [KEY_B]);
    const sealed = encryptToken(both, TOKEN);
    const otherId = ring(KEY_B).current.id;
    // Even with the right key bytes under the other label, the AAD no longer matches.
    const relabelled = { keyId: otherId, ciphertext: sealed.ciphertext };
    const swapped = ring(KEY_B, [KEY_A]);
    swapped.all.set(otherId, Buffer.from(KEY_A, "base64"));
    expect(() => decryptToken(swapped, relabelled)).toThrow(TokenDecryptError);
  });

  it("a wrong key fails without leaking key, ciphertext or plaintext", () => {
    const sealed = encryptToken(r, TOKEN);
    const wrong = ring(KEY_B);
    wrong.all.set(sealed.keyId, Buffer.from(KEY_B, "base64"));
    const error = thrown(() => decryptToken(wrong, sealed));
    expect(error).toBeInstanceOf(TokenDecryptError);
    for (const secret of [TOKEN, sealed.ciphertext, KEY_A, KEY_B])
      expect(error.message).not.toContain(secret);
  });

  it("an unknown key id says which key is missing and how to fix it", () => {
    const sealed = encryptToken(r, TOKEN);
    const error = thrown(() => decryptToken(ring(KEY_B), sealed));
    expect(error).toBeInstanceOf(TokenDecryptError);
    expect(error.message).toContain(sealed.keyId);
    expect(error.message).toMatch(/TOKEN_ENCRYPTION_KEYS_OLD/);
    expect(error.message).not.toContain(KEY_A);
  });
});

describe("rotation", () => {
  it("an old key still decrypts after the ring moves on, and reencrypt moves tokens to the new key", () => {
    const before = ring(KEY_A);
    const sealed = encryptToken(before, TOKEN);

    const after = ring(KEY_B, [KEY_A]);
    expect(after.current.id).not.toBe(sealed.keyId);
    expect(after.all.size).toBe(2);
    expect(decryptToken(after, sealed)).toBe(TOKEN);

    const moved = reencrypt(after, sealed);
    expect(moved).not.toBeNull();
    expect(moved!.keyId).toBe(after.current.id);
    expect(decryptToken(ring(KEY_B), moved!)).toBe(TOKEN);
    expect(reencrypt(after, moved!)).toBeNull();
  });

  it("ignores blanks in TOKEN_ENCRYPTION_KEYS_OLD", () => {
    expect(ring(KEY_A, ["", ` ${KEY_B} `, ""]).all.size).toBe(2);
  });
});

describe("tokens in one text column (Shopify's sessions)", () => {
  const SHOPIFY_TOKEN = "shpat_0123456789abcdef0123456789abcdef";
  const a = ring(KEY_A);

  it("names its key in the text, hides the token, and round-trips", () => {
    const text = encryptTokenText(a, SHOPIFY_TOKEN);
    expect(text).toMatch(new RegExp(`^enc1:${a.current.id}:[A-Za-z0-9+/]+=*$`));
    expect(text).not.toContain(SHOPIFY_TOKEN);
    expect(text).not.toContain("shpat_");
    expect(isEncryptedText(text)).toBe(true);
    expect(decryptTokenText(a, text)).toBe(SHOPIFY_TOKEN);
    expect(decryptTokenText(ring(KEY_B, [KEY_A]), text)).toBe(SHOPIFY_TOKEN);
  });

  it("a token stored in clear before encryption is recognised and returned as it is", () => {
    for (const plain of [SHOPIFY_TOKEN, "shprt_refresh0123456789"]) {
      expect(isEncryptedText(plain)).toBe(false);
      expect(decryptTokenText(a, plain)).toBe(plain);
    }
  });

  it("refuses an altered, relabelled or malformed value without echoing it", () => {
    const text = encryptTokenText(a, SHOPIFY_TOKEN);
    const body = text.slice(`enc1:${a.current.id}:`.length);
    const flipped = Buffer.from(body, "base64");
    flipped[flipped.length - 1] ^= 0x01;
    const both = ring(KEY_A, [KEY_B]);
    for (const bad of [
      `enc1:${a.current.id}:${flipped.toString("base64")}`,
      `enc1:${ring(KEY_B).current.id}:${body}`,
      `enc1:${a.current.id}:${body.slice(0, 10)}`,
      "enc1:not-a-key-id:AAAA",
      "enc1:",
    ]) {
      const error = thrown(() => decryptTokenText(both, bad));
      expect(error, bad).toBeInstanceOf(TokenDecryptError);
      expect(error.message).not.toContain(body);
      expect(error.message).not.toContain(SHOPIFY_TOKEN);
    }
  });

  it("a value sealed under a key that is not configured says which key is missing", () => {
    const error = thrown(() =>
      decryptTokenText(ring(KEY_B), encryptTokenText(a, SHOPIFY_TOKEN)),
    );
    expect(error).toBeInstanceOf(TokenDecryptError);
    expect(error.message).toContain(a.current.id);
    expect(error.message).toMatch(/TOKEN_ENCRYPTION_KEYS_OLD/);
  });

  it("reencryptText moves a value to the current key, seals a value in clear, and leaves a current one", () => {
    const after = ring(KEY_B, [KEY_A]);
    const moved = reencryptText(after, encryptTokenText(a, SHOPIFY_TOKEN))!;
    expect(moved).toMatch(new RegExp(`^enc1:${after.current.id}:`));
    expect(decryptTokenText(ring(KEY_B), moved)).toBe(SHOPIFY_TOKEN);
    const sealed = reencryptText(after, SHOPIFY_TOKEN)!;
    expect(decryptTokenText(ring(KEY_B), sealed)).toBe(SHOPIFY_TOKEN);
    expect(reencryptText(after, moved)).toBeNull();
  });
});

describe("maskToken", () => {
  it("shows only the last four characters", () => {
    expect(maskToken("abcd")).toBe("••••••••abcd");
    expect(maskToken("xyzabcd")).toBe("••••••••abcd");
    expect(maskToken(null)).toBe("—");
    expect(maskToken("")).toBe("—");
  });
});
