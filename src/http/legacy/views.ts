// Sources as the legacy API shows them: PascalCase, "Enabled"/"Disabled",
// times as "YYYY-MM-DD HH:MM:SS" (UTC).
import type { Source } from "../../core/sources";
import { formatLegacyDateTime } from "./schemas";

const toggle = (on: boolean) => (on ? "Enabled" : "Disabled");

export function legacySource(source: Source) {
  return {
    SourceID: source.id,
    SourceName: source.name,
    SourceCode: source.code,
    SourceDescription: source.description,
    ExpiresAt: source.expiresAt === null ? "" : formatLegacyDateTime(source.expiresAt),
    ValidForSeconds: source.validForSeconds,
    Options: {
      CreateNewUserIfNotExists: toggle(source.options.createNewUserIfNotExists),
      PerformLogin: toggle(source.options.performLogin),
      ReturnUserData: toggle(source.options.returnUserData),
    },
    ClientID: source.clientId,
    AllowedIPs: source.allowedIps,
    RedirectURLs: source.redirectUrls,
    OrgIds: source.orgIds,
    Landing: source.landing === "confirm" ? "Confirm" : "Direct",
    CreatedAt: formatLegacyDateTime(source.createdAt),
    UpdatedAt: formatLegacyDateTime(source.updatedAt),
  };
}
