import { useEffect, useState, type ReactNode } from "react";

/** True once the page is hydrated: for pieces that measure the browser (charts) and cannot render on the server. */
export function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return hydrated;
}

export function ClientOnly({ fallback, children }: { fallback: ReactNode; children: () => ReactNode }) {
  return <>{useHydrated() ? children() : fallback}</>;
}
