// What a secret looks like in a file when it is stored but not sealed: the
// bytes themselves, their hex, and their base64 and base64url at each of the
// three byte alignments (the edges that depend on the neighbouring bytes cut
// off), so a search of the store's files finds any of them.
export function encodings(raw: Buffer): Buffer[] {
  const out = [raw, Buffer.from(raw.toString("hex")), Buffer.from(raw.toString("hex").toUpperCase())];
  for (const pad of [0, 1, 2]) {
    const shifted = Buffer.concat([Buffer.alloc(pad), raw]);
    for (const encoding of ["base64", "base64url"] as const) {
      const encoded = shifted.toString(encoding);
      out.push(Buffer.from(encoded.slice(pad === 0 ? 0 : Math.ceil((pad * 8) / 6), -4)));
    }
  }
  return out;
}
