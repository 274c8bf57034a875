import nodemailer from "nodemailer";
import type { Mailer } from "./core/delivery";

// Outgoing e-mail (the pause notice), over SMTP_URL: smtp://user:password@host:587 (STARTTLS when the server
// offers it) or smtps://…:465. Unset: no e-mail is sent. The URL holds a password: it never appears in messages.

export function mailerFromEnv(
  env: Record<string, string | undefined>,
): Mailer | null {
  const raw = env.SMTP_URL?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      "SMTP_URL is not a URL (expected smtp://user:password@host:port or smtps://…)",
    );
  }
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw new Error(
      `SMTP_URL must start with smtp:// or smtps:// (got ${url.protocol}//…)`,
    );
  }
  const appHost = env.SHOPIFY_APP_URL
    ? new URL(env.SHOPIFY_APP_URL).hostname
    : "localhost";
  const from =
    env.SMTP_FROM?.trim() || `Meta Conversions API app <no-reply@${appHost}>`;
  const transport = nodemailer.createTransport(raw);
  const secret = decodeURIComponent(url.password);
  return {
    async send(message) {
      try {
        await transport.sendMail({ from, ...message });
      } catch (err) {
        // An SMTP error can quote the exchange: keep the password out of whatever it says.
        const text = (err as Error).message;
        throw new Error(
          `SMTP: ${secret ? text.replaceAll(secret, "[redacted]") : text}`,
        );
      }
    },
  };
}
