// HS256 keys, imported once as CryptoKey and reused: jose re-imports a raw
// key on every call, which halves the signing rate. Kept in the core's cache,
// keyed by the sealed secret, so a rotated secret is a new entry, never a stale one.
import { webcrypto } from "node:crypto";
import type { Core } from "./context";

/** The CryptoKey for a secret stored sealed under `purpose` (the key is the secret's UTF-8 text, as JWT libraries take it). */
export function hmacKey(core: Core, sealed: string, purpose: "signing_secret" | "client_secret"): Promise<webcrypto.CryptoKey> {
  return core.caches.hmacKeys.getOrMake(sealed, () =>
    webcrypto.subtle.importKey("raw", core.masterKey.open(sealed, purpose), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
  );
}
