// Which source a token is issued for: a source's own credentials issue for
// that source only; an admin key issues for the named source, or `default`.
import type { Core } from "../context";
import { CoreError } from "../errors";
import { DEFAULT_SOURCE_CODE, type Source } from "../sources";

export async function issuingSource(core: Core, caller: { source?: Source | undefined }, sourceCode: string | undefined): Promise<Source> {
  if (caller.source) {
    if (sourceCode !== undefined && sourceCode !== caller.source.code) {
      throw new CoreError("forbidden", "source credentials issue tokens for their own source only", [{ field: "sourceCode", message: "not your source" }]);
    }
    return caller.source;
  }
  const code = sourceCode ?? DEFAULT_SOURCE_CODE;
  const source = await core.lookups.sourceByCode.load(code);
  if (!source) throw new CoreError("invalid", `there is no source ${code}`, [{ field: "sourceCode", message: "unknown source" }]);
  return source;
}
