import type { Db, Shop } from "../db";
import { classifyGraphError, type GraphFailure } from "../meta";
import { claimPauseNotice, TOKEN_KEY_PAUSE, type SendTarget } from "../shops";

// The e-mail a merchant gets when sending to one of its Meta datasets pauses for something only they can fix
// (expired token, lost permission, wrong dataset): once per pause episode of that dataset, to the shop's e-mail,
// with the fix (decisions 20, 162, SMTP_URL).

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** How a message leaves: SMTP in production (app/mailer.server.ts). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

/** A dataset as the merchant knows it: Meta's name and its id (never its token). */
export function datasetLabel(
  target: Pick<SendTarget, "pixelId" | "pixelName">,
): string {
  return target.pixelName
    ? `${target.pixelName} (${target.pixelId})`
    : (target.pixelId ?? "");
}

// Meta's fixes name the Connect page, where the own dataset is saved; a further dataset is saved on Destinations.
const DESTINATION_PAGE: [string, string][] = [
  [
    "click Reconnect on the Connect page",
    "save the dataset again with Edit on the Destinations page",
  ],
  ["the Connect page", "the Destinations page (Edit on this dataset)"],
];

/** A fix in the words of the dataset it is for: a further dataset's connection is on Destinations (decisions 162). */
export function fixFor(fix: string, own: boolean): string {
  return own
    ? fix
    : DESTINATION_PAGE.reduce((f, [from, to]) => f.replaceAll(from, to), fix);
}

export function pauseNoticeMessage(
  shop: Pick<Shop, "domain">,
  target: Pick<SendTarget, "own" | "pixelId" | "pixelName">,
  to: string,
  failure: GraphFailure,
  adminUrl: string,
): MailMessage {
  const title = failure.info.title;
  return {
    to,
    subject: target.own
      ? `Sending to Meta is paused for ${shop.domain}: ${title}`
      : `Sending to Meta dataset ${datasetLabel(target)} is paused for ${shop.domain}: ${title}`,
    text: [
      target.own
        ? `The app has stopped sending ${shop.domain}'s orders and events to Meta's Conversions API: ${title}.`
        : `The app has stopped sending ${shop.domain}'s orders and events to Meta dataset ${datasetLabel(target)}, one of the shop's further destinations: ${title}. The shop's other datasets keep receiving theirs.`,
      "",
      `How to fix it: ${fixFor(failure.info.fix, target.own)}`,
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
export function explainPause(
  reason: string,
  own = true,
): { title: string; fix: string } {
  const { title, fix } = pauseWords(reason);
  return { title, fix: fixFor(fix, own) };
}

function pauseWords(reason: string): { title: string; fix: string } {
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
 * Sends the pause notice of the dataset unless this episode's was sent already (claimed through the shops stage, so
 * several dispatchers never send it twice).
 * A notice that fails to send is not retried: the pause stays visible in the admin, in `doctor` and in the logs.
 */
export async function notifyPause(
  db: Db,
  mailer: Mailer,
  shop: Pick<Shop, "id" | "domain">,
  target: Pick<SendTarget, "id" | "own" | "pixelId" | "pixelName">,
  failure: GraphFailure,
  opts: { adminUrl: string; now?: Date },
): Promise<NoticeOutcome> {
  const current = await db.shop.findUnique({
    where: { id: shop.id },
    select: { contactEmail: true },
  });
  if (!current?.contactEmail) return "no_address";
  if (!(await claimPauseNotice(db, target, opts.now ?? new Date())))
    return "already_sent";
  await mailer.send(
    pauseNoticeMessage(
      shop,
      target,
      current.contactEmail,
      failure,
      opts.adminUrl,
    ),
  );
  return "sent";
}
