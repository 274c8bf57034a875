import { hash } from "node:crypto";

// SHA-256 (hex) of a value from a small set: a country code, a state or province code, a gender. Nearly every order
// of a shop repeats them, and hashing is a quarter of mapping's time (decisions 51). Only those keys: they identify
// nobody, so remembering them keeps no personal data in memory, and their sets are small (bounded all the same).

const MAX_ENTRIES = 4_096;
const memo = new Map<string, string>();

export function memoSha256Hex(value: string): string {
  let hex = memo.get(value);
  if (hex === undefined) {
    hex = hash("sha256", value, "hex");
    if (memo.size >= MAX_ENTRIES) memo.clear();
    memo.set(value, hex);
  }
  return hex;
}
