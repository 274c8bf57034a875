import type { Db, Shop } from "./db";
import type { GraphFailure } from "./graphClient";

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

export function pauseNoticeMessage(shop: Pick<Shop, "domain">, to: string, failure: GraphFailure, adminUrl: string): MailMessage {
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

export type NoticeOutcome = "sent" | "no_address" | "already_sent";

/**
 * Sends the pause notice unless this episode's was sent already. The episode is claimed by setting
 * pauseNotifiedAt, which a fixed connection clears (shopConfig.ts), so several dispatchers never send it twice.
 * A notice that fails to send is not retried: the pause stays visible in the admin, in `doctor` and in the logs.
 */
export async function notifyPause(
  db: Db,
  mailer: Mailer,
  shop: Pick<Shop, "id" | "domain">,
  failure: GraphFailure,
  opts: { adminUrl: string; now?: Date },
): Promise<NoticeOutcome> {
  const current = await db.shop.findUnique({ where: { id: shop.id }, select: { contactEmail: true } });
  if (!current?.contactEmail) return "no_address";
  const claimed = await db.shop.updateMany({
    where: { id: shop.id, pausedReason: { not: null }, pauseNotifiedAt: null },
    data: { pauseNotifiedAt: opts.now ?? new Date() },
  });
  if (claimed.count === 0) return "already_sent";
  await mailer.send(pauseNoticeMessage(shop, current.contactEmail, failure, opts.adminUrl));
  return "sent";
}
