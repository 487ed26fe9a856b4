// /v1/login: the native browser landing, and its confirmation's POST.
import * as v from "valibot";
import { anyone } from "../auth/callers";
import { requestExamples } from "../docs";
import { route } from "../route";
import { confirmationFailures, type Landing, landingAnswers, landingFailures, landOnGet, landOnPost } from "../shared/landing";
import { V1 } from "./dialect";

const LOGIN: Landing = { field: "token", section: null };
const TOKEN_EXAMPLE = "fjd0c3M2DpBKreGqGZaF6iZhf5M0qDapDnkpvGUwyzU";

const loginQuery = v.object({ token: v.optional(v.pipe(v.string(), requestExamples([TOKEN_EXAMPLE]))) });

export const loginRoutes = [
  route({
    method: "get",
    path: "/v1/login",
    tag: V1.browser,
    summary: "Browser landing: redeem a token, set the session cookie, go on",
    description: 'HEAD never spends the token. For a source with `landing: "confirm"`, the page asks for a click that POSTs the token back.',
    auth: anyone,
    query: loginQuery,
    answers: landingAnswers,
    failures: landingFailures,
    handle: ({ c, core, query }) => landOnGet(c, core, LOGIN, query.token),
  }),
  route({
    method: "post",
    path: "/v1/login",
    tag: V1.browser,
    summary: "Confirm a browser landing (the confirmation page's button)",
    description: "Only from ssod's own page: a request another site sends is refused.",
    auth: anyone,
    documentedBody: { "application/x-www-form-urlencoded": v.pipe(v.object({ token: v.string() }), requestExamples([{ token: TOKEN_EXAMPLE }])) },
    answers: landingAnswers,
    failures: confirmationFailures,
    handle: ({ c, core }) => landOnPost(c, core, LOGIN),
  }),
];
