import type { Shop } from "../db";
import {
  classifyGraphError,
  debugToken,
  lookupPixel,
  type GraphConfig,
} from "../meta";
import { datasetLabel, fixFor, type MailMessage } from "../delivery";
import type { SendTarget } from "../shops";

// The daily token check (decisions 126): Meta's debug_token says whether the token is valid and when it expires, the
// dataset's lookup says whether the token still reaches it. Both before a send fails.

/** A token that stops working within this many days is warned about. */
export const EXPIRY_WARNING_DAYS = 7;
const DAY_MS = 86_400_000;

export type TokenStatus =
  /** Valid, reaches the dataset, not expiring within EXPIRY_WARNING_DAYS. */
  | "ok"
  | "expiring"
  /** Meta no longer takes the token (expired, revoked, password changed). */
  | "invalid"
  /** The token is valid but no longer reaches the dataset (unassigned, deleted, wrong id). */
  | "no_access"
  /** Meta could not be asked (network, rate limit, outage): nothing is concluded. */
  | "unknown";

export interface TokenVerdict {
  status: TokenStatus;
  expiresAt: Date | null;
  detail: string | null;
}

export async function checkToken(
  cfg: GraphConfig,
  pixelId: string,
  token: string,
  now: Date,
): Promise<TokenVerdict> {
  const debug = await debugToken(cfg, token);
  if (!debug.ok) {
    const invalid = debug.failure.info.kind === "token";
    return {
      status: invalid ? "invalid" : "unknown",
      expiresAt: null,
      detail: debug.failure.message,
    };
  }
  const info = debug.value;
  const expiresAt = earliest(info.expiresAt, info.dataAccessExpiresAt);
  if (!info.valid)
    return {
      status: "invalid",
      expiresAt,
      detail: info.error ?? "Meta says the token is no longer valid.",
    };
  const access = await lookupPixel(cfg, pixelId, token);
  if (!access.ok) {
    const kind = access.failure.info.kind;
    return {
      status:
        kind === "token"
          ? "invalid"
          : kind === "permission" || kind === "wrong_pixel"
            ? "no_access"
            : "unknown",
      expiresAt,
      detail: access.failure.message,
    };
  }
  const expiring =
    expiresAt !== null &&
    expiresAt.getTime() - now.getTime() <= EXPIRY_WARNING_DAYS * DAY_MS;
  return { status: expiring ? "expiring" : "ok", expiresAt, detail: null };
}

/**
 * The warning a verdict calls for, as the key that keeps it to one e-mail: one per expiry date, one per loss.
 * null: nothing to warn about (ok), or nothing known (unknown).
 */
export function warningKey(verdict: TokenVerdict): string | null {
  if (verdict.status === "expiring")
    return `expiring:${verdict.expiresAt!.toISOString().slice(0, 10)}`;
  if (verdict.status === "invalid" || verdict.status === "no_access")
    return verdict.status;
  return null;
}

const TOKEN_FIX = classifyGraphError({ code: 190 }).fix;
const ACCESS_FIX = classifyGraphError({ code: 100, subcode: 33 }).fix;

/**
 * The warning e-mail of a dataset's token. A further dataset's names it in the subject (the shop may have several
 * tokens) and points to the Destinations page; never the token (decisions 160).
 */
export function tokenWarningMessage(
  shop: Pick<Shop, "domain">,
  target: Pick<SendTarget, "own" | "pixelId" | "pixelName">,
  to: string,
  verdict: TokenVerdict,
  adminUrl: string,
): MailMessage {
  const dataset = datasetLabel(target);
  const tokenOf = target.own
    ? `The Meta access token for ${shop.domain}`
    : `The Meta access token for ${shop.domain}'s dataset ${dataset}`;
  const [subject, what, fix] =
    verdict.status === "expiring"
      ? [
          `${tokenOf} expires on ${verdict.expiresAt!.toISOString().slice(0, 10)}`,
          `The access token that sends ${shop.domain}'s orders and events to Meta dataset ${dataset} expires on ${verdict.expiresAt!.toUTCString()}. After that, sending stops until a new token is saved.`,
          TOKEN_FIX,
        ]
      : verdict.status === "invalid"
        ? [
            `${tokenOf} no longer works`,
            `Meta no longer accepts the access token that sends ${shop.domain}'s orders and events to Meta dataset ${dataset}. The next delivery will fail and sending will pause.`,
            TOKEN_FIX,
          ]
        : [
            `The app has lost access to Meta dataset ${target.pixelId} for ${shop.domain}`,
            `The access token still works, but it can no longer reach Meta dataset ${dataset}. The next delivery will fail and sending will pause.`,
            ACCESS_FIX,
          ];
  return {
    to,
    subject,
    text: [
      what,
      "",
      `How to fix it: ${fixFor(fix, target.own)}`,
      "",
      target.own
        ? `Events are kept meanwhile. The app's page in your Shopify admin shows the connection: ${adminUrl}`
        : `Events are kept meanwhile. The app's Destinations page in your Shopify admin shows this dataset's check: ${adminUrl}`,
      "",
      `Meta's answer: ${verdict.detail ?? "the token's expiry date from Meta's debug_token"}`,
    ].join("\n"),
  };
}

function earliest(...dates: (Date | null)[]): Date | null {
  const set = dates.filter((d): d is Date => d !== null);
  return set.length === 0
    ? null
    : new Date(Math.min(...set.map((d) => d.getTime())));
}
