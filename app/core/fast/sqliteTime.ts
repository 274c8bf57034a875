let lastMs = Number.NaN;
let lastText = "";

/**
 * `d.toISOString().replace("Z", "+00:00")`, SQLite's text of an instant. Most times of one write are the same
 * instant (a storefront event's received, next attempt, updated and released times, its browser's last seen), so
 * the text of the last instant is kept: toISOString, ~1 µs a call, runs about twice per event instead of six times
 * (npm run bench, ingest; decisions 51, 186). An invalid date never matches (NaN) and throws as toISOString does.
 */
export function sqliteTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== lastMs) {
    lastText = d.toISOString().replace("Z", "+00:00");
    lastMs = ms;
  }
  return lastText;
}
