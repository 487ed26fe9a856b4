// HS256 keys, imported once as CryptoKey and reused: jose re-imports a raw
// key on every call, which halves the signing rate. The cache is keyed by the
// sealed secret, so a rotated secret is a new entry, never a stale one.
import { webcrypto } from "node:crypto";
import type { Core } from "./context";

type CryptoKey = webcrypto.CryptoKey;

const MAX_ENTRIES = 1000;
const cache = new Map<string, Promise<CryptoKey>>();

/** The CryptoKey for a secret stored sealed under `purpose` (the key is the secret's UTF-8 text, as JWT libraries take it). */
export function hmacKey(core: Core, sealed: string, purpose: "signing_secret" | "client_secret"): Promise<CryptoKey> {
  let key = cache.get(sealed);
  if (!key) {
    const secret = core.masterKey.open(sealed, purpose);
    key = webcrypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(sealed, key);
  }
  return key;
}
