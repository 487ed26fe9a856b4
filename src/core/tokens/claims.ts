// What a token says about its user, as every dialect hands it to the core.
export interface TokenClaims {
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  orgId: string;
  /** null: the token says nothing of groups (the user's groups stay as they are). */
  groups: string[] | null;
  section: string | null;
  lobId: string | null;
  functionality: string | null;
}

/** Emails are unique per org regardless of case. */
export function normaliseEmail(email: string | null): string | null {
  return email === null ? null : email.trim().toLowerCase();
}

export function emptyClaims(): TokenClaims {
  return { email: null, displayName: null, externalId: null, orgId: "", groups: null, section: null, lobId: null, functionality: null };
}

/** The claims present, for answers that list them (no nulls). */
export function presentClaims(claims: TokenClaims): { [K in keyof TokenClaims]?: NonNullable<TokenClaims[K]> } {
  return Object.fromEntries(Object.entries(claims).filter(([key, value]) => value !== null && !(key === "orgId" && value === "")));
}
