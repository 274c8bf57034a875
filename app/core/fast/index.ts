// The performance tricks that the mapping, delivery and ingest targets of `npm run bench` need (decisions 51), each proved equal to its
// plain version by test/unit/fast.test.ts. Imports nothing. Other folders import this face only.

export { eventsForMeta } from "./eventsForMeta";
export { memoSha256Hex } from "./hashMemo";
export { firstQueryParam, httpUrl, type HttpUrl } from "./landingUrl";
export { roundMoney } from "./money";
export { sqliteTime } from "./sqliteTime";
export { shopifyTimestampMs } from "./timestamp";
