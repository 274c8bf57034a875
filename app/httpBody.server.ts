import type { IncomingMessage } from "node:http";

// Reading a request, for the handlers the production server serves ahead of Express and Remix: the body with a
// size cap, from a Node request or a Fetch Request alike (both are async iterables of byte chunks), and headers.

/**
 * A body a handler answers without using is still read to its end, and dropped, in the background: left unread,
 * the client's upload stalls and it never sees the answer; cancelled, the connection is reset before it does.
 * Past this many bytes the body is cut off (reset): only an abusive client sends that much to these endpoints.
 */
const MAX_DISCARD_BYTES = 8 * 1024 * 1024;

export type Chunks = AsyncIterator<Uint8Array>;

export function discardBody(chunks: Chunks, alreadyRead = 0): void {
  void (async () => {
    let size = alreadyRead;
    for (;;) {
      const { done, value } = await chunks.next();
      if (done) return;
      size += value.byteLength;
      if (size > MAX_DISCARD_BYTES) return chunks.return?.();
    }
  })().catch(() => undefined); // the client went away
}

/** Reads at most `limit` bytes; null when the body is larger (by its Content-Length, or as it streams in). */
export async function readCapped(chunks: Chunks, contentLength: number, limit: number): Promise<Buffer | null> {
  if (contentLength > limit) {
    discardBody(chunks);
    return null;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await chunks.next();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      discardBody(chunks, size);
      return null;
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** A Node request's header by its lower-case name, repeated ones joined as the Fetch API joins them. */
export function headerOf(req: IncomingMessage): (name: string) => string | null {
  return (name) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(", ") : (value ?? null);
  };
}
