/**
 * Date.parse of the shape Shopify sends, "2026-11-10T14:03:12-05:00" or "2026-11-10T19:03:12.345Z", read by hand:
 * an order carries three such timestamps, and Date.parse of them cost ~0.2 µs of the mapping target's ~9 µs
 * (decisions 51). Any other shape, or a field out of range, gives null: the caller then asks Date.parse.
 */
export function shopifyTimestampMs(s: string): number | null {
  const zone = s[19] === "." ? 23 : 19;
  const utc = s.length === zone + 1 && s[zone] === "Z";
  if (
    !utc &&
    !(
      s.length === zone + 6 &&
      (s[zone] === "+" || s[zone] === "-") &&
      s[zone + 3] === ":"
    )
  )
    return null;
  if (
    s[4] !== "-" ||
    s[7] !== "-" ||
    s[10] !== "T" ||
    s[13] !== ":" ||
    s[16] !== ":"
  )
    return null;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const second = digitsAt(s, 17, 2);
  const millis = zone === 23 ? digitsAt(s, 20, 3) : 0;
  const offsetHours = utc ? 0 : digitsAt(s, zone + 1, 2);
  const offsetMinutes = utc ? 0 : digitsAt(s, zone + 4, 2);
  // digitsAt gives -1 for a non-digit. Date.UTC reads years below 100 as 19xx; a day past the month's end is left
  // to Date.parse.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 28) return null;
  if (millis < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59)
    return null;
  if (second < 0 || second > 59 || offsetHours < 0 || offsetHours > 23)
    return null;
  if (offsetMinutes < 0 || offsetMinutes > 59) return null;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000;
  return (
    Date.UTC(year, month - 1, day, hour, minute, second, millis) +
    (s[zone] === "-" ? offsetMs : -offsetMs)
  );
}

/** The number written with `length` ASCII digits at `start`, or -1. */
function digitsAt(s: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const digit = s.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}
