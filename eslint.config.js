// The Shopify Remix app template's lint setup (its .eslintrc.cjs: eslint:recommended, React, hooks, jsx-a11y,
// TypeScript and import recommended rules, Prettier for formatting), in ESLint 9's flat config: ESLint 8, which
// the template pins, is end-of-life and npm warns about it on every install.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import react from "eslint-plugin-react";
import reactHooks from "eslint-plugin-react-hooks";
import jsxA11y from "eslint-plugin-jsx-a11y";
import importPlugin from "eslint-plugin-import";
import prettier from "eslint-config-prettier";
import globals from "globals";

const STAGE_INSIDE = {
  regex: "^(\\.{1,2}/|~/)(.*/)?core/[^/]+/",
  message:
    "Import the stage's face (app/core/<stage>), not a file inside it (docs/architecture.md).",
};
const OTHER_STAGE_INSIDE = {
  regex: "^\\.\\./[^./][^/]*/",
  message:
    "Import another stage's face (../<stage>), not a file inside it (docs/architecture.md).",
};
const NO_APP_FRAMEWORK = {
  group: [
    "@remix-run/*",
    "react",
    "react/*",
    "react-dom",
    "react-dom/*",
    "@shopify/*",
  ],
  message:
    "app/core imports nothing from Remix, React or Shopify's libraries: the worker, the ops CLI and the tests drive it too.",
};
const WIRE_ONLY = {
  regex: "^(?!\\./)",
  message:
    "app/core/wire is bundled into the web pixel: it imports only its own files (no zod, no node:*, nothing server-side).",
};

export default tseslint.config(
  {
    ignores: [
      "build/",
      ".cache*/",
      "node_modules/",
      "extensions/*/dist/",
      "prisma/",
      "public/",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.{js,mjs,jsx,ts,tsx}"],
    plugins: {
      react,
      "react-hooks": reactHooks,
      "jsx-a11y": jsxA11y,
      import: importPlugin,
    },
    languageOptions: {
      globals: { ...globals.browser, ...globals.node, shopify: "readonly" },
      parserOptions: { ecmaFeatures: { jsx: true } },
    },
    settings: {
      react: { version: "detect" },
      formComponents: ["Form"],
      linkComponents: [
        { name: "Link", linkAttribute: "to" },
        { name: "NavLink", linkAttribute: "to" },
      ],
      "import/resolver": {
        typescript: { alwaysTryTypes: true },
        node: { extensions: [".ts", ".tsx"] },
      },
      "import/internal-regex": "^~/",
    },
    rules: {
      ...react.configs.recommended.rules,
      ...react.configs["jsx-runtime"].rules,
      // The template's two hook rules (react-hooks 4); version 7's "recommended" adds the React Compiler's rules.
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "warn",
      ...jsxA11y.configs.recommended.rules,
      ...importPlugin.configs.recommended.rules,
      ...importPlugin.configs.typescript.rules,
      "react/no-unknown-property": ["error", { ignore: ["variant"] }],
      // Merged imports keep each name's kind inline (`import { a, type B }`); the plain fixer could fold a value
      // into an `import type` list.
      "import/no-duplicates": ["warn", { "prefer-inline": true }],
      // `_name` marks a value left out on purpose (a destructured field dropped from a copy).
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  // Deliberate: the app finds NUL and other control characters in shopper text to replace or refuse them
  // (decisions 30); every control character in a regular expression here is meant.
  { rules: { "no-control-regex": "off" } },
  // The stages of app/core (docs/architecture.md): another folder imports a stage's face (its index.ts), never a
  // file inside it. Tests may reach inside: they test internals.
  {
    files: ["**/*.{js,mjs,jsx,ts,tsx}"],
    ignores: ["app/core/**", "test/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [STAGE_INSIDE] }] },
  },
  {
    files: ["app/core/**"],
    ignores: ["app/core/wire/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [OTHER_STAGE_INSIDE, NO_APP_FRAMEWORK] },
      ],
    },
  },
  {
    files: ["app/core/wire/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [WIRE_ONLY] }] },
  },
  prettier,
);
