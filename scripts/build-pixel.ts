import { build } from "esbuild";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// Bundles the web pixel offline, the way `shopify app build` does (@shopify/cli 4.8: esbuild, bundle, minify,
// no `format` given => esbuild's browser default, an IIFE; legal comments dropped; CLI target "es6", here ES2020,
// which every storefront browser runs). One self-contained script, no imports at runtime.
//
// How `register` works in the bundle: @shopify/web-pixels-extension's `register(fn)` is
// `shopify.extend("WebPixel::Render", fn)` on a free global `shopify` that Shopify's pixel runtime defines
// before it evaluates the script. The bundle keeps that reference; test/support/pixelSandbox.ts defines the
// same global to capture `fn` and call it with { analytics, browser, init, settings, customerPrivacy }.
//
// Usage: npm run build:pixel [-- <outfile>]     (default extensions/meta-capi-pixel/dist/main.js, git-ignored)

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PIXEL_DIR = path.join(ROOT, "extensions/meta-capi-pixel");
const PIXEL_ENTRY = path.join(PIXEL_DIR, "src/index.ts");
const DEFAULT_PIXEL_OUTFILE = path.join(PIXEL_DIR, "dist/main.js");
/** Shopify's limit for a web pixel extension bundle (the CLI refuses bigger ones): 128 kB = 131072 bytes. */
export const MAX_PIXEL_BYTES = 128 * 1024;

export async function buildPixel(
  outfile: string = DEFAULT_PIXEL_OUTFILE,
): Promise<{ bytes: number; outfile: string }> {
  const target = path.resolve(outfile);
  await mkdir(path.dirname(target), { recursive: true });
  const result = await build({
    entryPoints: [PIXEL_ENTRY],
    outfile: target,
    bundle: true,
    minify: true,
    format: "iife",
    platform: "browser",
    target: "es2020",
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  // The pixel imports only TYPES from app/core/intake/browserEvent.ts: a value import would drag zod in.
  const inputs = Object.keys(result.metafile.inputs);
  const stray = inputs.find(
    (f) =>
      /node_modules[\\/](zod)[\\/]/.test(f) ||
      /app[\\/]capi[\\/]browserEvent\.ts$/.test(f),
  );
  if (stray)
    throw new Error(
      `web pixel bundle must not include ${stray} (use "import type")`,
    );
  const { size: bytes } = await stat(target);
  if (bytes > MAX_PIXEL_BYTES) {
    throw new Error(
      `web pixel bundle is ${bytes} bytes, over Shopify's ${MAX_PIXEL_BYTES}-byte (128 kB) limit`,
    );
  }
  return { bytes, outfile: target };
}

const invokedDirectly =
  process.argv[1] &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const outfile = process.argv[2] ?? DEFAULT_PIXEL_OUTFILE;
  buildPixel(outfile).then(
    ({ bytes, outfile: out }) => {
      console.log(
        `${path.relative(process.cwd(), out)}: ${bytes} bytes (${(bytes / 1024).toFixed(1)} kB of ${MAX_PIXEL_BYTES / 1024} kB)`,
      );
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
