import type { Db, Shop } from "../db";
import { classifyGraphError, type GraphFailure } from "../meta";
import { claimPauseNotice, TOKEN_KEY_PAUSE } from "../shops";

// The e-mail a merchant gets when sending to Meta pauses for something only they can fix (expired token, lost
// permission, wrong dataset): once per pause episode, to the shop's e-mail, with the fix (decisions 20, SMTP_URL).

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** How a message leaves: SMTP in production (app/mailer.server.ts). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

export function pauseNoticeMessage(
  shop: Pick<Shop, "domain">,
  to: string,
  failure: GraphFailure,
  adminUrl: string,
): MailMessage {
  return {
    to,
    subject: `Sending to Meta is paused for ${shop.domain}: ${failure.info.title}`,
    text: [
      `The app has stopped sending ${shop.domain}'s orders and events to Meta's Conversions API: ${failure.info.title}.`,
      "",
      `How to fix it: ${failure.info.fix}`,
      "",
      `Nothing is lost: the events are kept and go to Meta as soon as the connection is fixed in the app (${adminUrl}).`,
      "Events older than Meta's window (7 days for online orders) can no longer be sent, so fix it soon.",
      "",
      `Meta's answer: ${failure.message}`,
    ].join("\n"),
  };
}

// What each pause reason means for the merchant: the dispatcher stores the error kind, the error table has the fix.
const PAUSE_KIND: Record<string, Parameters<typeof classifyGraphError>[0]> = {
  token: { code: 190 },
  permission: { code: 10 },
  wrong_pixel: { code: 100, subcode: 33 },
};

/** A dataset's pause in the merchant's words: what happened and the fix (Home, Destinations). */
export function explainPause(reason: string): { title: string; fix: string } {
  const kind = PAUSE_KIND[reason];
  if (kind) {
    const { title, fix } = classifyGraphError(kind);
    return { title, fix };
  }
  if (reason === TOKEN_KEY_PAUSE)
    return {
      title: "The app can no longer read the saved access token",
      fix: "Paste your Meta access token again on the Connect page. Your events are kept and go out as soon as it is saved.",
    };
  if (reason === "operator")
    return {
      title: "Sending was paused by the app's operator",
      fix: "Ask the app's support to resume it. Your events are kept.",
    };
  return {
    title: "Sending is paused",
    fix: "Open the Connect page and save your connection again.",
  };
}

export type NoticeOutcome = "sent" | "no_address" | "already_sent";

/**
 * Sends the pause notice unless this episode's was sent already (claimed through the shops stage, so several
 * dispatchers never send it twice).
 * A notice that fails to send is not retried: the pause stays visible in the admin, in `doctor` and in the logs.
 */
export async function notifyPause(
  db: Db,
  mailer: Mailer,
  shop: Pick<Shop, "id" | "domain">,
  failure: GraphFailure,
  opts: { adminUrl: string; now?: Date },
): Promise<NoticeOutcome> {
  const current = await db.shop.findUnique({
    where: { id: shop.id },
    select: { contactEmail: true },
  });
  if (!current?.contactEmail) return "no_address";
  if (!(await claimPauseNotice(db, shop.id, opts.now ?? new Date())))
    return "already_sent";
  await mailer.send(
    pauseNoticeMessage(shop, current.contactEmail, failure, opts.adminUrl),
  );
  return "sent";
}
