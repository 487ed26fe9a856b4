// The few HTML pages a browser sees: who signed in, or why not. No scripts,
// no external resources (the CSP forbids them anyway).
import { html, raw } from "hono/html";

const layout = (title: string, body: ReturnType<typeof html>) => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>${title}</title>
    <style>
      ${raw("body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}")}
    </style>
  </head>
  <body>
    ${body}
  </body>
</html>`;

export function signedInPage(name: string) {
  return layout("Signed in", html`<h1>Signed in</h1><p>You are signed in as <strong>${name}</strong>.</p>`);
}

export function failedPage() {
  return layout("Sign-in link not valid", html`<h1>This sign-in link is not valid</h1><p>It may have been used already or have expired. Ask for a new one.</p>`);
}

export function throttledPage(retryAfter: number) {
  return layout("Too many attempts", html`<h1>Too many attempts</h1><p>Try again in ${retryAfter} seconds.</p>`);
}

export function problemPage(title: string, text: string) {
  return layout(title, html`<h1>${title}</h1><p>${text}</p>`);
}
