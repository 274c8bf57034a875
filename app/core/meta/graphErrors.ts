// The declarative Graph API error table: one place that decides what a Meta error means for delivery and what
// the merchant is told. Sources: Meta's Graph API error-handling guide, Marketing API rate limiting and the
// Conversions API docs (developers.facebook.com: graph-api/guides/error-handling, marketing-api/overview/rate-limiting).

export type GraphErrorKind =
  | "transient"
  | "rate_limit"
  | "blocked"
  | "token"
  | "permission"
  | "wrong_pixel"
  | "event_too_old"
  | "invalid_event"
  | "unknown";

export interface GraphErrorInfo {
  kind: GraphErrorKind;
  /**
   * backoff: retry soon with exponential backoff; long_backoff: back off the whole shop for minutes;
   * pause_shop: stop sending for the shop (events stay pending) until the merchant fixes it;
   * isolate: the batch holds a bad event, split it to find the one to fail; expire: drop the event, past
   * Meta's window; none: nothing to retry.
   */
  retry:
    "backoff" | "long_backoff" | "pause_shop" | "isolate" | "expire" | "none";
  /** Plain words for a merchant, shown in the admin and on the Connect page. */
  title: string;
  /** The exact steps that fix it. */
  fix: string;
}

export type NetworkFailure = "timeout" | "reset" | "refused" | "other";

export interface GraphErrorInput {
  httpStatus?: number;
  code?: number;
  subcode?: number;
  network?: NetworkFailure;
  /** Meta's `is_transient` flag, which marks otherwise unknown codes as safe to retry. */
  isTransient?: boolean;
}

/**
 * An error no rule knows is retried with backoff at most this many times, then the event fails with Meta's
 * message: a new permanent error must not hold events forever, and a new transient one must not lose them.
 */
export const UNKNOWN_ERROR_MAX_RETRIES = 5;

interface GraphErrorRule {
  /** Matches when the error code is one of these (or inside the inclusive range). */
  codes?: readonly number[];
  codeRange?: readonly [number, number];
  /** Matches only these subcodes of the code; absent: any subcode. */
  subcodes?: readonly number[];
  /** Inclusive HTTP status range, for answers without a Graph error code. */
  httpStatus?: readonly [number, number];
  network?: true;
  isTransient?: true;
  info: GraphErrorInfo;
}

const TOKEN: GraphErrorInfo = {
  kind: "token",
  retry: "pause_shop",
  title: "Meta access token invalid or expired",
  fix:
    "Generate a new System User access token in Meta Business Settings (Users > System users > Generate new " +
    "token, with the ads_management permission, or Events Manager > your dataset > Settings > Conversions API " +
    "> Generate access token) and paste it on the Connect page. Sending resumes and waiting events are sent.",
};

const PERMISSION: GraphErrorInfo = {
  kind: "permission",
  retry: "pause_shop",
  title: "The access token has no permission to send events to this pixel",
  fix:
    "In Meta Business Settings, open Data sources > Datasets (pixels), select the pixel, click Assign people " +
    "(or Add assets on the System User), choose the System User that owns the token and give it full control " +
    "(Manage dataset). Then click Reconnect on the Connect page. Waiting events are sent.",
};

const RULES: readonly GraphErrorRule[] = [
  {
    network: true,
    info: {
      kind: "transient",
      retry: "backoff",
      title: "Could not reach Meta",
      fix: "Nothing to do: the events are kept and sent again automatically. If this lasts, check the server's outbound network access to graph.facebook.com.",
    },
  },
  // Token errors come with many subcodes (458 app removed, 459 checkpoint, 460 password changed, 463 expired,
  // 467 invalid); all need a new token. 102 is the older "session" form of the same problem, and 104 is what
  // Meta answers when no token was sent at all.
  { codes: [190, 102, 104], info: TOKEN },
  {
    codes: [100],
    subcodes: [33],
    info: {
      kind: "wrong_pixel",
      retry: "pause_shop",
      title: "Meta pixel not found, or the token cannot access it",
      fix:
        "Check the pixel (dataset) ID on the Connect page: copy it from Events Manager > Data sources > your " +
        "dataset > Settings (digits only). If it is right, assign that dataset to the System User that made the " +
        "token (Business Settings > Users > System users > Assign assets > Datasets, full control).",
    },
  },
  {
    codes: [100],
    subcodes: [2804003],
    info: {
      kind: "event_too_old",
      retry: "expire",
      title: "Event older than Meta accepts",
      fix: "Nothing to do for this event: Meta takes events only within 7 days of when they happened. Keep the app connected so events are sent in time.",
    },
  },
  {
    codes: [100],
    info: {
      kind: "invalid_event",
      retry: "isolate",
      title: "Meta rejected the event",
      fix: "Nothing to do for this event: Meta's message says which field it refused. Other events are sent normally. If many events fail the same way, contact support with the fbtrace_id.",
    },
  },
  // 3: capability missing on the app; 10 and 200-299: permission not granted for the object.
  { codes: [3, 10], info: PERMISSION },
  { codeRange: [200, 299], info: PERMISSION },
  {
    codes: [4, 17, 341, 613, 80004],
    info: {
      kind: "rate_limit",
      retry: "long_backoff",
      title: "Meta is rate limiting requests",
      fix: "Nothing to do: sending slows down and resumes by itself. Events are kept.",
    },
  },
  {
    codes: [368],
    info: {
      kind: "blocked",
      retry: "long_backoff",
      title: "Meta temporarily blocked requests",
      fix: "Nothing to do at first: sending waits and resumes by itself. If it lasts more than a day, check Account Quality in Meta Business Suite for a policy restriction.",
    },
  },
  {
    codes: [1, 2],
    info: {
      kind: "transient",
      retry: "backoff",
      title: "Meta had a temporary problem",
      fix: "Nothing to do: the events are kept and sent again automatically.",
    },
  },
  {
    httpStatus: [500, 599],
    info: {
      kind: "transient",
      retry: "backoff",
      title: "Meta had a temporary problem",
      fix: "Nothing to do: the events are kept and sent again automatically.",
    },
  },
  {
    httpStatus: [429, 429],
    info: {
      kind: "rate_limit",
      retry: "long_backoff",
      title: "Meta is rate limiting requests",
      fix: "Nothing to do: sending slows down and resumes by itself. Events are kept.",
    },
  },
  {
    isTransient: true,
    info: {
      kind: "transient",
      retry: "backoff",
      title: "Meta had a temporary problem",
      fix: "Nothing to do: the events are kept and sent again automatically.",
    },
  },
];

const UNKNOWN: GraphErrorInfo = {
  kind: "unknown",
  retry: "backoff",
  title: "Meta returned an unexpected error",
  fix: `Nothing to do at first: the events are retried up to ${UNKNOWN_ERROR_MAX_RETRIES} times. If they still fail, contact support with the fbtrace_id shown with the error.`,
};

// Callers hold on to the returned objects; freezing keeps one caller from changing what another is told.
for (const rule of RULES) Object.freeze(rule.info);
Object.freeze(UNKNOWN);

function matches(rule: GraphErrorRule, input: GraphErrorInput): boolean {
  if (rule.network) return input.network !== undefined;
  if (input.network !== undefined) return false;
  if (rule.codes || rule.codeRange) {
    if (input.code === undefined) return false;
    const inCodes = rule.codes?.includes(input.code) ?? false;
    const inRange = rule.codeRange
      ? input.code >= rule.codeRange[0] && input.code <= rule.codeRange[1]
      : false;
    if (!inCodes && !inRange) return false;
  }
  if (
    rule.subcodes &&
    (input.subcode === undefined || !rule.subcodes.includes(input.subcode))
  )
    return false;
  if (rule.httpStatus) {
    if (input.httpStatus === undefined) return false;
    if (
      input.httpStatus < rule.httpStatus[0] ||
      input.httpStatus > rule.httpStatus[1]
    )
      return false;
  }
  if (rule.isTransient && input.isTransient !== true) return false;
  return true;
}

/** What a Graph API failure means: the first matching rule wins, and anything unmatched is "unknown". */
export function classifyGraphError(input: GraphErrorInput): GraphErrorInfo {
  return RULES.find((rule) => matches(rule, input))?.info ?? UNKNOWN;
}
