import { Suspense, useEffect, useState, type ReactNode } from "react";

/** True once the page is hydrated: for pieces that measure the browser (charts) and cannot render on the server. */
function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return hydrated;
}

/** The fallback until hydration, and while a lazy piece of `children` loads. */
export function ClientOnly({
  fallback,
  children,
}: {
  fallback: ReactNode;
  children: () => ReactNode;
}) {
  return useHydrated() ? (
    <Suspense fallback={fallback}>{children()}</Suspense>
  ) : (
    <>{fallback}</>
  );
}
