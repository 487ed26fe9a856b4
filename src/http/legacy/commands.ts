// The api.php commands: each validates with its schema, calls the core and
// answers in the legacy shape. No business rule lives here. A refusal the
// core makes (a code taken meanwhile, a source gone) is rendered by the
// dialect's renderer as the seed's code for it.
import * as v from "valibot";
import type { Actor } from "../../core/audit";
import type { Core } from "../../core/context";
import {
  createSource,
  DEFAULT_SOURCE_CODE,
  deleteSources,
  findSourceById,
  listSources,
  type SourcePatch,
  sourceCodeSchema,
  sourceCodeTaken,
  updateSource,
} from "../../core/sources";
import type { Fields } from "../fields";
import { DELETE_ERRORS, type LegacyCode } from "./codes";
import { commandSchemas } from "./schemas";
import { validateCommand } from "./validate";
import { legacySource } from "./views";

export type Answer = { ok: true; body: Record<string, unknown> } | { ok: false; codes: LegacyCode[]; texts?: Partial<Record<LegacyCode, string>> };

export interface CommandContext {
  core: Core;
  fields: Fields;
  actor: Actor;
  ip: string;
}

const success = (body: Record<string, unknown> = {}): Answer => ({ ok: true, body: { ErrorCode: 0, ErrorText: "", ...body } });
const failure = (codes: Iterable<LegacyCode>, texts?: Partial<Record<LegacyCode, string>>): Answer => ({
  ok: false,
  codes: [...new Set(codes)].sort((a, b) => a - b),
  ...(texts ? { texts } : {}),
});

type SourceCommand = Omit<v.InferOutput<(typeof commandSchemas)["sso.create"]>, "Command">;

/** The fields a command gives, and only those: omitted optional ones keep their value on update. */
function patchOf(input: SourceCommand): SourcePatch & { code: string; name: string; validForSeconds: number } {
  return {
    code: input.SourceCode,
    name: input.SourceName,
    validForSeconds: input.ValidForSeconds,
    ...(input.SourceDescription !== undefined ? { description: input.SourceDescription } : {}),
    ...(input.ExpiresAt !== undefined ? { expiresAt: input.ExpiresAt } : {}),
    ...(input.OrgIds !== undefined ? { orgIds: input.OrgIds } : {}),
    ...(input.Landing !== undefined ? { landing: input.Landing } : {}),
    ...(input.Options
      ? {
          options: {
            ...(input.Options.CreateNewUserIfNotExists !== undefined ? { createNewUserIfNotExists: input.Options.CreateNewUserIfNotExists } : {}),
            ...(input.Options.PerformLogin !== undefined ? { performLogin: input.Options.PerformLogin } : {}),
            ...(input.Options.ReturnUserData !== undefined ? { returnUserData: input.Options.ReturnUserData } : {}),
          },
        }
      : {}),
  };
}

/** The SourceCode of the request when it is itself valid (to test whether it is taken). */
function validCode(fields: Fields): string | undefined {
  const result = v.safeParse(sourceCodeSchema, fields.get("sourcecode"));
  return result.success && result.output.length > 0 ? result.output : undefined;
}

async function create({ core, fields, actor, ip }: CommandContext): Promise<Answer> {
  const checked = validateCommand(commandSchemas["sso.create"], fields);
  const codes: LegacyCode[] = checked.ok ? [] : [...checked.codes];
  const code = validCode(fields);
  if (code !== undefined && (await sourceCodeTaken(core, code))) codes.push(6);
  if (codes.length > 0 || !checked.ok) return failure(codes);
  const { source } = await createSource(core, patchOf(checked.value), { actor, ip, withClientSecret: false });
  return success({ SSOSourceID: source.id });
}

async function update({ core, fields, actor, ip }: CommandContext): Promise<Answer> {
  const checked = validateCommand(commandSchemas["sso.update"], fields);
  const codes: LegacyCode[] = checked.ok ? [] : [...checked.codes];
  const id = v.safeParse(commandSchemas["sso.update"].entries.SourceID, fields.get("sourceid"));
  const current = id.success ? await findSourceById(core, id.output) : undefined;
  if (id.success && !current) codes.push(10);
  const code = validCode(fields);
  if (code !== undefined && (await sourceCodeTaken(core, code, current?.id))) codes.push(6);
  if (current?.code === DEFAULT_SOURCE_CODE && code !== undefined && code !== DEFAULT_SOURCE_CODE) codes.push(13);
  if (codes.length > 0 || !checked.ok || !current) return failure(codes);
  await updateSource(core, current.id, patchOf(checked.value), { actor, ip });
  return success();
}

async function remove({ core, fields, actor, ip }: CommandContext): Promise<Answer> {
  const checked = validateCommand(commandSchemas["sso.delete"], fields);
  // Seed 002 numbers "Missing sourceid" 1 for this command.
  if (!checked.ok)
    return failure(
      checked.codes.map((c) => (c === 9 ? 1 : c)),
      DELETE_ERRORS,
    );
  const sources = await Promise.all(checked.value.SourceID.map((id) => findSourceById(core, id)));
  const codes: LegacyCode[] = [];
  if (sources.some((s) => !s)) codes.push(10);
  if (sources.some((s) => s?.code === DEFAULT_SOURCE_CODE)) codes.push(12);
  if (codes.length > 0) return failure(codes);
  await deleteSources(core, checked.value.SourceID, { actor, ip });
  // Seed 002's delete answers carry no ErrorText.
  return { ok: true, body: { ErrorCode: 0 } };
}

async function get({ core, fields }: CommandContext): Promise<Answer> {
  const checked = validateCommand(commandSchemas["sso.get"], fields);
  if (!checked.ok) return failure(checked.codes);
  const source = await findSourceById(core, checked.value.SourceID);
  return source ? success({ Source: legacySource(source) }) : failure([10]);
}

async function list({ core }: CommandContext): Promise<Answer> {
  return success({ Sources: (await listSources(core)).map(legacySource) });
}

/** The commands that need an admin (APIKey or SessionID). */
export const adminCommands: Record<string, (context: CommandContext) => Promise<Answer>> = {
  "sso.create": create,
  "sso.update": update,
  "sso.delete": remove,
  "sso.get": get,
  "sso.list": list,
};
