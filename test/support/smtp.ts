import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

// The SMTP server the e-mail tests send to (the pause notice, the token warnings).

export interface Received {
  from: string;
  to: string[];
  user: string | undefined;
  text: string;
}

/** A real SMTP server on 127.0.0.1 that takes the user `mailer` with `password`, and keeps what it receives. */
export async function startSmtp(password: string) {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === "mailer" && auth.password === password)
        callback(null, { user: auth.username });
      else callback(new Error("Invalid username or password"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom
            ? session.envelope.mailFrom.address
            : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          text: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  server.listen(0, "127.0.0.1");
  await once(server.server, "listening");
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The body of a MIME message, quoted-printable soft line breaks undone. */
export const bodyOf = (message: string) =>
  message
    .slice(message.indexOf("\r\n\r\n") + 4)
    .replace(/=\r\n/g, "")
    .replace(/=3D/g, "=");

/** A header of a MIME message, its folded lines joined. */
export const headerOf = (message: string, name: string) =>
  new RegExp(`^${name}: (.*(?:\r\n[ \t].*)*)`, "m")
    .exec(message.slice(0, message.indexOf("\r\n\r\n")))?.[1]
    .replace(/\r\n[ \t]/g, " ") ?? null;
