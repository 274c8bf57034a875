import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { handleIngest, type IngestContext } from "../ingest.server";

// POST /ingest: events from the web pixel (see app/ingest.server.ts).
export const action = ({ request, context }: ActionFunctionArgs) => handleIngest(request, context as IngestContext);
export const loader = ({ request, context }: LoaderFunctionArgs) => handleIngest(request, context as IngestContext);
