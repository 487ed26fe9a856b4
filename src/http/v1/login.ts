// GET /v1/login: the native browser landing.
import * as v from "valibot";
import { anyone } from "../auth/callers";
import { requestExamples } from "../docs";
import { route } from "../route";
import { landInBrowser, landingAnswers, landingFailures } from "../shared/landing";
import { V1 } from "./dialect";

export const loginQuery = v.object({ token: v.optional(v.pipe(v.string(), requestExamples(["fjd0c3M2DpBKreGqGZaF6iZhf5M0qDapDnkpvGUwyzU"]))) });

export const loginRoutes = [
  route({
    method: "get",
    path: "/v1/login",
    tag: V1.browser,
    summary: "Browser landing: redeem a token, set the session cookie, go on",
    auth: anyone,
    query: loginQuery,
    answers: landingAnswers,
    failures: landingFailures,
    handle: ({ c, core, query }) => landInBrowser(c, core, query.token, null),
  }),
];
