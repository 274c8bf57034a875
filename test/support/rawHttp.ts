import http from "node:http";
import net from "node:net";
import { readFileSync } from "node:fs";

// HTTP as a hostile client speaks it: headers, lengths and bytes exactly as given (fetch would fix them up), bodies
// streamed without holding them in memory, and raw bytes on a socket for what no HTTP client would send.

export interface RawRequest {
  method?: string;
  /** Sent as is: odd spellings, encoded characters and query strings included. */
  path: string;
  /** A header given as an array is sent once per value. */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * One request (on a connection of its own unless an agent is given); the answer, or the error that ended the
 * exchange (the server closed or reset the connection).
 */
export function request(
  base: string,
  req: RawRequest,
  agent: http.Agent | false = false,
  timeoutMs = 30_000,
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        hostname,
        port,
        method: req.method ?? "POST",
        path: req.path,
        headers: req.headers,
        agent,
        timeout: timeoutMs,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text: Buffer.concat(parts).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    r.on("timeout", () =>
      r.destroy(new Error(`no answer within ${timeoutMs} ms`)),
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

export interface UploadResult {
  /** The answer's status, or null when the connection ended without one. */
  status: number | null;
  headers: http.IncomingHttpHeaders;
  /** Body bytes written before the answer came (or the connection ended). */
  sent: number;
  error?: string;
}

/**
 * Streams `size` bytes of `fill` (with a Content-Length of `declare`, default `size`; null: chunked) and stops
 * sending as soon as the server answers. Never buffers the body.
 */
export function upload(
  base: string,
  opts: {
    path: string;
    size: number;
    declare?: number | null;
    headers?: Record<string, string>;
    fill?: string;
    chunkSize?: number;
  },
): Promise<UploadResult> {
  const { hostname, port } = new URL(base);
  const chunk = Buffer.alloc(opts.chunkSize ?? 1024 * 1024, opts.fill ?? "a");
  const declare = opts.declare === undefined ? opts.size : opts.declare;
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    ...opts.headers,
  };
  if (declare !== null) headers["Content-Length"] = String(declare);
  return new Promise((resolve) => {
    let sent = 0;
    let done = false;
    const finish = (result: Omit<UploadResult, "sent">) => {
      if (done) return;
      done = true;
      req.destroy();
      resolve({ ...result, sent });
    };
    const req = http.request(
      {
        hostname,
        port,
        method: "POST",
        path: opts.path,
        headers,
        agent: false,
      },
      (res) => {
        res.resume();
        finish({ status: res.statusCode!, headers: res.headers });
      },
    );
    req.on("error", (err) =>
      finish({ status: null, headers: {}, error: err.message }),
    );
    const pump = () => {
      while (!done && sent < opts.size) {
        const piece =
          opts.size - sent >= chunk.length
            ? chunk
            : chunk.subarray(0, opts.size - sent);
        sent += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      if (!done && sent >= opts.size) req.end();
    };
    pump();
  });
}

/**
 * Writes raw bytes on a new connection and returns what came back: the first answer's status line and headers, or
 * everything before the server closed the connection (or `waitMs` passed). For what HTTP clients refuse to send:
 * conflicting lengths, control characters, broken chunking.
 */
export function rawExchange(
  base: string,
  bytes: Buffer | string,
  waitMs = 2_000,
  endAfterWrite = false,
): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(bytes);
      if (endAfterWrite) socket.end();
    });
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on("data", (c) => {
      parts.push(c);
      if (Buffer.concat(parts).includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts).toString("latin1"));
    });
  });
}

/** The status code of the first answer in a raw exchange, or null when the server answered nothing. */
export function rawStatus(answer: string): number | null {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
  return m ? Number(m[1]) : null;
}

/** Resident and peak resident memory of a process, in MB, from /proc (Linux). */
export function memoryOf(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMB: kb("VmRSS") / 1024, peakMB: kb("VmHWM") / 1024 };
}
