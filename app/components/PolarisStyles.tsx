import { createContext, useContext } from "react";

// Polaris' stylesheet inlined in the admin's documents: a cold load then paints after the document alone, without
// a further request (two round trips on a phone's connection) for a render-blocking stylesheet (README, Performance).
// The server has the text (entry.server.tsx); the browser keeps what the document brought, so the text is in no
// script bundle and hydration finds the same markup.

/** The stylesheet's text, provided by entry.server.tsx only. */
export const PolarisCss = createContext("");

const ID = "polaris-styles";
let fromDocument: string | undefined;

export function PolarisStyles() {
  const server = useContext(PolarisCss);
  const css =
    server ||
    (fromDocument ??=
      typeof document === "undefined"
        ? ""
        : (document.getElementById(ID)?.innerHTML ?? ""));
  return <style id={ID} dangerouslySetInnerHTML={{ __html: css }} />;
}
