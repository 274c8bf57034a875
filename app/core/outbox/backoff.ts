// Waiting before trying again: the dispatcher's retries of Meta, and the outbox's writes that lost a lock conflict.

/** Full jitter between half and the whole delay, so that many waiters do not retry in step. */
export function jitter(ms: number): number {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}

/** PostgreSQL's SQLSTATEs for "retry me": deadlock_detected and serialization_failure. */
const CONFLICT_STATES = new Set(["40P01", "40001"]);
const CONFLICT_ATTEMPTS = 5;
const CONFLICT_BASE_MS = 10;

/**
 * The SQLSTATE of a database error: pg puts it in `code`; Prisma's driver adapter keeps it as `originalCode` in
 * the error's cause, itself under `meta.driverAdapterError` once Prisma wraps it.
 */
function sqlState(err: unknown): string | null {
  for (
    let e = err as Record<string, unknown> | undefined, depth = 0;
    e && typeof e === "object" && depth < 5;
    depth++
  ) {
    const code = e.originalCode ?? e.code;
    if (typeof code === "string" && CONFLICT_STATES.has(code)) return code;
    e = ((e.meta as Record<string, unknown> | undefined)?.driverAdapterError ??
      e.cause) as Record<string, unknown> | undefined;
  }
  return null;
}

/**
 * Runs one write of the outbox (a statement, or a transaction as a whole), again when PostgreSQL chose it as the
 * victim of a deadlock or a serialization failure: the database undid it, so running it again is safe, and the
 * rows it was about (a batch Meta has already accepted, say) must not wait for a lease to run out (decisions 42).
 * Other errors, and the last conflict, are thrown.
 */
export async function retryOnConflict<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= CONFLICT_ATTEMPTS || !sqlState(err)) throw err;
    }
    await new Promise((resolve) =>
      setTimeout(resolve, jitter(CONFLICT_BASE_MS * 2 ** attempt)),
    );
  }
}
