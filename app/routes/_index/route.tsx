import { type LoaderFunctionArgs, redirect } from "@remix-run/node";
import { Form, useLoaderData } from "@remix-run/react";
import { login } from "../../shopify.server";

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const url = new URL(request.url);
  if (url.searchParams.get("shop"))
    throw redirect(`/app?${url.searchParams.toString()}`);
  return { showForm: Boolean(login) };
};

export default function Landing() {
  const { showForm } = useLoaderData<typeof loader>();
  return (
    <main
      style={{
        fontFamily: "Inter, system-ui, sans-serif",
        maxWidth: 640,
        margin: "64px auto",
        padding: 16,
      }}
    >
      <h1>Meta Conversions API for Shopify</h1>
      <p>
        Every order reaches Meta from your server as well as the browser,
        deduplicated, hashed and consent-aware.
      </p>
      {showForm && (
        <Form method="post" action="/auth/login">
          <label>
            Shop domain{" "}
            <input
              type="text"
              name="shop"
              placeholder="my-shop.myshopify.com"
            />
          </label>{" "}
          <button type="submit">Log in</button>
        </Form>
      )}
    </main>
  );
}
