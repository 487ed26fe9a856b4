// Every secret-handling primitive in one place: random values, hashes for
// secrets at rest, constant-time comparison, sealing with the master key and
// password hashing.
import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync, randomBytes, randomFillSync, scrypt, timingSafeEqual } from "node:crypto";

// Random bytes are drawn from a pool that the CSPRNG refills 4 KiB at a time,
// each byte handed out once. A randomBytes() call is a crypto job of its own,
// about 6 µs here: it was a tenth of the main thread's time on the issue path.
// Node's randomUUID() pools the same way.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** The offset in `pool` of `bytes` fresh random bytes. */
function draw(bytes: number): number {
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += bytes;
  return at;
}

/** Random bytes as base64url (32 bytes: 43 characters): nonces, session ids, secrets. */
export function randomSecret(bytes = 32): string {
  if (bytes > POOL_SIZE) return randomBytes(bytes).toString("base64url");
  const at = draw(bytes);
  return pool.toString("base64url", at, at + bytes);
}

/** Random bytes as standard base64 (with padding): webhook secrets, as Standard Webhooks writes them. */
export function randomBase64(bytes: number): string {
  const at = draw(bytes);
  return pool.toString("base64", at, at + bytes);
}

/** HMAC-SHA256 as standard base64: the signature of a webhook delivery. */
export function hmacSha256Base64(key: Buffer, text: string): string {
  return createHmac("sha256", key).update(text).digest("base64");
}

/**
 * A token reference number: the time in milliseconds then 6 random digits
 * (19 digits, within a signed 64-bit integer until the year 2286), as seed
 * 001's example looks. Numbers issued close in time sort together, so the
 * store's unique index on them grows at one end instead of at random pages;
 * the rare collision is retried by the issuer.
 */
export function randomRefNo(): string {
  return `${Date.now()}${String(pool.readUInt32BE(draw(4)) % 1_000_000).padStart(6, "0")}`;
}

/** SHA-256 as base64url: how tokens, keys, client secrets and session ids are stored. */
export function sha256(text: string): string {
  // crypto.hash (Node >= 20.12): one call, no Hash object per use; it is on every request's path.
  return hash("sha256", text, "base64url");
}

/** Constant-time equality of two strings (of hashes, normally: equal lengths). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  if (x.length === y.length) return timingSafeEqual(x, y);
  // Compare against itself on a length mismatch so the time does not depend on where it differs.
  timingSafeEqual(x, x);
  return false;
}

const SEAL_VERSION = "v1";

/**
 * The master key (SPEC §4) seals what must be stored but read back: signing
 * secrets, private keys and the client secret copy used for HS256. AES-256-GCM,
 * with the purpose as associated data so a box cannot be moved to another column.
 */
export class MasterKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("the master key must be 32 bytes");
    this.#key = key;
  }

  /** Parses 43 base64url characters or 64 hex digits; undefined when the text is neither. */
  static parse(text: string): MasterKey | undefined {
    if (/^[0-9a-fA-F]{64}$/.test(text)) return new MasterKey(Buffer.from(text, "hex"));
    if (/^[A-Za-z0-9_-]{43}$/.test(text)) {
      const key = Buffer.from(text, "base64url");
      if (key.length === 32) return new MasterKey(key);
    }
    return undefined;
  }

  static generate(): string {
    return randomSecret(32);
  }

  /** A key of its own for `purpose`, derived from the master key (HKDF-SHA256): the same on every instance. */
  derive(purpose: string, length = 32): Buffer {
    return Buffer.from(hkdfSync("sha256", this.#key, Buffer.alloc(0), purpose, length));
  }

  seal(plaintext: string | Buffer, purpose: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${SEAL_VERSION}.${iv.toString("base64url")}.${body.toString("base64url")}`;
  }

  open(box: string, purpose: string): Buffer {
    const [version, ivText, bodyText] = box.split(".");
    if (version !== SEAL_VERSION || !ivText || !bodyText) throw new Error("not a sealed value");
    const body = Buffer.from(bodyText, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(ivText, "base64url"));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  }
}

// scrypt parameters for admin passwords (N=2^15, r=8, p=1: ~32 MiB, tens of ms).
const SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer, params: typeof SCRYPT): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, 32, params, (error, key) => (error ? reject(error) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, saltText, keyText] = stored.split("$");
  if (scheme !== "scrypt" || !saltText || !keyText) return false;
  const params = { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem };
  const key = await scryptAsync(password, Buffer.from(saltText, "base64url"), params);
  return timingSafeEqual(key, Buffer.from(keyText, "base64url"));
}

let decoy: Promise<string> | undefined;

/**
 * A password hash to verify against when the account does not exist, so that
 * "no such user" takes as long as "wrong password".
 */
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(randomSecret());
  return decoy;
}
