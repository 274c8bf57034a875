import {
  graphGet,
  invalidPixelId,
  PARTNER_AGENT,
  unexpectedAnswer,
  type GraphConfig,
  type GraphFailure,
} from "./graphClient";

// What the app reads back from Meta about a dataset (decisions 126-129): the token's own metadata (`debug_token`),
// Meta's event counts (the pixel's `stats` edge) and Meta's quality verdict (`dataset_quality`). Like the rest of the
// client, these never throw and never let the token out.

export type Read<T> =
  { ok: true; value: T } | { ok: false; failure: GraphFailure };

export interface TokenInfo {
  valid: boolean;
  /** When the token stops working; null: it never expires (a System User token's expires_at is 0). */
  expiresAt: Date | null;
  /** When the token stops reading data (a user token's data access expiry); null: never. */
  dataAccessExpiresAt: Date | null;
  scopes: string[];
  /** Meta's reason for an invalid token (its `error.message`). */
  error: string | null;
}

/** `GET /debug_token?input_token=T&access_token=T`: a token may be debugged with itself. */
export async function debugToken(
  cfg: GraphConfig,
  accessToken: string,
): Promise<Read<TokenInfo>> {
  const answer = await graphGet(
    cfg,
    { path: "debug_token", params: { input_token: accessToken } },
    accessToken,
  );
  if (!answer.ok) return answer;
  const data = (answer.body as { data?: Record<string, unknown> } | null)?.data;
  if (!data || typeof data.is_valid !== "boolean")
    return unexpectedAnswer(answer.status, answer.fbtraceId);
  const error = data.error as { message?: unknown } | undefined;
  return {
    ok: true,
    value: {
      valid: data.is_valid,
      expiresAt: unixDate(data.expires_at),
      dataAccessExpiresAt: unixDate(data.data_access_expires_at),
      scopes: Array.isArray(data.scopes)
        ? data.scopes.filter((s): s is string => typeof s === "string")
        : [],
      error: typeof error?.message === "string" ? error.message : null,
    },
  };
}

export type StatsSource = "SERVER_ONLY" | "WEB_ONLY";

export interface EventCount {
  /** The hour Meta counted the events in. */
  hour: Date;
  eventName: string;
  count: number;
}

/** Pages of an answer followed at most: 7 days of hourly buckets fit in a few. */
const MAX_STATS_PAGES = 20;

/**
 * `GET /{pixel}/stats?aggregation=event&event_source=…`: how many events of each name Meta counted per hour, from
 * servers or from browsers. Meta keeps 7 days.
 */
export async function pixelEventCounts(
  cfg: GraphConfig,
  pixelId: string,
  accessToken: string,
  opts: { source: StatsSource; start: Date; end: Date },
): Promise<Read<EventCount[]>> {
  const invalid = invalidPixelId(pixelId);
  if (invalid) return { ok: false, failure: invalid };
  const counts: EventCount[] = [];
  let target: Parameters<typeof graphGet>[1] = {
    path: `${pixelId}/stats`,
    params: {
      aggregation: "event",
      event_source: opts.source,
      start_time: String(Math.floor(opts.start.getTime() / 1000)),
      end_time: String(Math.floor(opts.end.getTime() / 1000)),
    },
  };
  for (let page = 0; page < MAX_STATS_PAGES; page++) {
    const answer = await graphGet(cfg, target, accessToken);
    if (!answer.ok) return answer;
    const body = answer.body as {
      data?: unknown;
      paging?: { next?: unknown };
    } | null;
    if (!body || !Array.isArray(body.data))
      return unexpectedAnswer(answer.status, answer.fbtraceId);
    for (const bucket of body.data as {
      start_time?: unknown;
      data?: unknown;
    }[]) {
      const hour = new Date(String(bucket?.start_time));
      if (Number.isNaN(hour.getTime()) || !Array.isArray(bucket.data)) continue;
      for (const row of bucket.data as { value?: unknown; count?: unknown }[]) {
        if (typeof row?.value === "string" && Number.isFinite(row.count))
          counts.push({ hour, eventName: row.value, count: Number(row.count) });
      }
    }
    const next = body.paging?.next;
    // Only Meta's own host gets the token again.
    if (typeof next !== "string" || !next.startsWith(`${cfg.baseUrl}/`))
      return { ok: true, value: counts };
    target = { url: next };
  }
  return { ok: true, value: counts };
}

/** Meta's Dataset Quality API verdict on one web event, as stored (aggregates only). */
export interface EventQuality {
  eventName: string;
  /** Event match quality, 0-10. */
  matchScore: number | null;
  /** Share of the events that carried each key, in percent, by Meta's key names (email, phone, …). */
  keyCoverage: Record<string, number>;
  /** Share of the browser events that the server also sent, in percent. */
  eventCoverage: number | null;
  /** Share of the server events with a dedup key (event_id), in percent. */
  dedupKeyCoverage: number | null;
  /** How often the events arrive (Meta's word: real_time, hourly, daily, …). */
  freshness: string | null;
  /** Additional conversions reported thanks to the Conversions API, in percent. */
  additionalConversions: number | null;
}

const QUALITY_FIELDS =
  "web{event_match_quality,event_name,event_coverage,dedupe_key_feedback,data_freshness,acr}";

/** `GET /dataset_quality?dataset_id=…&agent_name=…`: Meta's verdict on the web events this app sends. */
export async function datasetQuality(
  cfg: GraphConfig,
  pixelId: string,
  accessToken: string,
): Promise<Read<EventQuality[]>> {
  const invalid = invalidPixelId(pixelId);
  if (invalid) return { ok: false, failure: invalid };
  const answer = await graphGet(
    cfg,
    {
      path: "dataset_quality",
      params: {
        dataset_id: pixelId,
        agent_name: PARTNER_AGENT,
        fields: QUALITY_FIELDS,
      },
    },
    accessToken,
  );
  if (!answer.ok) return answer;
  const web = (answer.body as { web?: unknown } | null)?.web;
  if (!Array.isArray(web))
    return unexpectedAnswer(answer.status, answer.fbtraceId);
  return {
    ok: true,
    value: web
      .filter((e) => typeof e?.event_name === "string")
      .map((e): EventQuality => {
        const emq = e.event_match_quality ?? {};
        const keyCoverage: Record<string, number> = {};
        for (const k of Array.isArray(emq.match_key_feedback)
          ? emq.match_key_feedback
          : []) {
          const pct = percent(k?.coverage);
          if (typeof k?.identifier === "string" && pct !== null)
            keyCoverage[k.identifier] = pct;
        }
        const dedup = Array.isArray(e.dedupe_key_feedback)
          ? e.dedupe_key_feedback.find(
              (d: { dedupe_key?: unknown }) => d?.dedupe_key === "event_id",
            )
          : undefined;
        return {
          eventName: e.event_name,
          matchScore: Number.isFinite(emq.composite_score)
            ? Number(emq.composite_score)
            : null,
          keyCoverage,
          eventCoverage: percent(e.event_coverage),
          dedupKeyCoverage: percent(dedup?.server_events_with_dedupe_key),
          freshness:
            typeof e.data_freshness?.upload_frequency === "string"
              ? e.data_freshness.upload_frequency
              : null,
          additionalConversions: percent(e.acr),
        };
      }),
  };
}

function percent(value: unknown): number | null {
  const p = (value as { percentage?: unknown } | null)?.percentage;
  return typeof p === "number" && Number.isFinite(p) ? p : null;
}

function unixDate(value: unknown): Date | null {
  return typeof value === "number" && value > 0 ? new Date(value * 1000) : null;
}
