// The native API (SPEC §3): JSON in, JSON out, RFC 9457 problems for errors.
import { adminKeyRoutes } from "./admin-keys";
import { appRoutes } from "./apps";
import { auditRoutes } from "./audit";
import { keyRoutes } from "./keys";
import { sourceRoutes } from "./sources";
import { tokenRoutes } from "./tokens";
import { userRoutes } from "./users";
import { webhookRoutes } from "./webhooks";

export const v1Routes = [...sourceRoutes, ...auditRoutes, ...tokenRoutes, ...userRoutes, ...keyRoutes, ...adminKeyRoutes, ...appRoutes, ...webhookRoutes];
export { FORWARD_AUTH_PATH, forwardAuthRoutes } from "./forward-auth";
export { loginRoutes as v1BrowserRoutes } from "./login";
