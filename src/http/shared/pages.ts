// The few HTML pages a browser sees: who signed in, or why not. No scripts,
// no external resources (the CSP forbids them anyway).
import { html, raw } from "hono/html";

/** no-referrer, except on a page that posts to ssod itself (see CONFIRM_PAGE_REFERRER_POLICY). */
const layout = (title: string, body: ReturnType<typeof html>, referrer = "no-referrer") => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="${referrer}" />
    <title>${title}</title>
    <style>
      ${raw("body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}")}
    </style>
  </head>
  <body>
    ${body}
  </body>
</html>`;

/** A page around HTML made elsewhere (the OpenID Connect provider's forms), as a string. */
export function pageAround(title: string, bodyHtml: string, referrer?: string): string {
  return String(layout(title, html`<h1>${title}</h1>${raw(bodyHtml)}`, referrer));
}

export function signedInPage(name: string) {
  return layout("Signed in", html`<h1>Signed in</h1><p>You are signed in as <strong>${name}</strong>.</p>`);
}

/** The confirmation a source with landing "confirm" asks for: only this page's POST spends the token. */
export function confirmPage(action: string, field: string, token: string) {
  return layout(
    "Continue signing in",
    html`<h1>Continue signing in</h1>
      <p>Press the button to finish signing in.</p>
      <form method="post" action="${action}"><input type="hidden" name="${field}" value="${token}" /><button type="submit">Sign in</button></form>`,
    CONFIRM_PAGE_REFERRER_POLICY,
  );
}

/**
 * A page whose form posts to ssod: the browser sends that POST its real
 * Origin (under no-referrer it would send `Origin: null`, which the
 * cross-site rule refuses), and still no Referer to any other site.
 */
export const CONFIRM_PAGE_REFERRER_POLICY = "same-origin";

/**
 * The confirmation page may post its form to ssod itself and follow ssod's
 * redirect to where the sign-in leads (a browser applies form-action to the
 * redirects of a form's submission too), and nowhere else.
 */
export function confirmPageCsp(nextUrl: string | null): string {
  const next = nextUrl ? ` ${new URL(nextUrl).origin}` : "";
  return `default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'${next}; frame-ancestors 'none'`;
}

export function failedPage() {
  return layout(
    "Sign-in link not valid",
    html`<h1>This sign-in link is not valid</h1><p>It may have been used already or have expired. Ask for a new one.</p>`,
  );
}

export function throttledPage(retryAfter: number) {
  return layout("Too many attempts", html`<h1>Too many attempts</h1><p>Try again in ${retryAfter} seconds.</p>`);
}

export function problemPage(title: string, text: string) {
  return layout(title, html`<h1>${title}</h1><p>${text}</p>`);
}
