// What a caller presents in its Authorization header, read one way for every dialect.
export type Presented =
  | { scheme: "bearer"; token: string }
  | { scheme: "basic"; clientId: string; secret: string }
  /** A bare value with no scheme (Tyk callers send `Authorization: <admin key>`). */
  | { scheme: "bare"; token: string };

export function presentedCredentials(header: string | undefined): Presented | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const space = value.search(/\s/);
  if (space < 0) return { scheme: "bare", token: value };
  const scheme = value.slice(0, space);
  const rest = value.slice(space).trim();
  if (!rest || /\s/.test(rest)) return undefined;
  if (/^bearer$/i.test(scheme)) return { scheme: "bearer", token: rest };
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(rest, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { scheme: "basic", clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  return undefined;
}
