// The api.php commands: each validates with its schema, calls the core and
// answers in the legacy shape. No business rule lives here.
import * as v from "valibot";
import type { Actor } from "../../core/audit";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import {
  DEFAULT_SOURCE_CODE,
  createSource,
  deleteSources,
  findSourceById,
  listSources,
  sourceCodeTaken,
  sourceCodeSchema,
  updateSource,
  type Source,
  type SourceFields,
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

function fieldsFor(input: SourceCommand, current?: Source): SourceFields {
  return {
    code: input.SourceCode,
    name: input.SourceName,
    description: input.SourceDescription ?? current?.description ?? "",
    expiresAt: input.ExpiresAt !== undefined ? input.ExpiresAt : (current?.expiresAt ?? null),
    validForSeconds: input.ValidForSeconds,
    // Omitted options keep their value on update, and are on for a new source (as on `default`).
    options: {
      createNewUserIfNotExists: input.Options?.CreateNewUserIfNotExists ?? current?.options.createNewUserIfNotExists ?? true,
      performLogin: input.Options?.PerformLogin ?? current?.options.performLogin ?? true,
      returnUserData: input.Options?.ReturnUserData ?? current?.options.returnUserData ?? true,
    },
    allowedIps: current?.allowedIps ?? [],
    redirectUrls: current?.redirectUrls ?? [],
    identityProvider: current?.identityProvider ?? null,
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
  try {
    const { source } = await createSource(core, fieldsFor(checked.value), { actor, ip, withClientSecret: false });
    return success({ SSOSourceID: source.id });
  } catch (error) {
    if (error instanceof CoreError && error.code === "conflict") return failure([6]);
    throw error;
  }
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
  try {
    await updateSource(core, current.id, fieldsFor(checked.value, current), { actor, ip });
    return success();
  } catch (error) {
    if (error instanceof CoreError && error.code === "conflict") return failure([6]);
    if (error instanceof CoreError && error.code === "not_found") return failure([10]);
    throw error;
  }
}

async function remove({ core, fields, actor, ip }: CommandContext): Promise<Answer> {
  const checked = validateCommand(commandSchemas["sso.delete"], fields);
  // Seed 002 numbers "Missing sourceid" 1 for this command.
  if (!checked.ok) return failure(checked.codes.map((c) => (c === 9 ? 1 : c)), DELETE_ERRORS);
  const sources = await Promise.all(checked.value.SourceID.map((id) => findSourceById(core, id)));
  const codes: LegacyCode[] = [];
  if (sources.some((s) => !s)) codes.push(10);
  if (sources.some((s) => s?.code === DEFAULT_SOURCE_CODE)) codes.push(12);
  if (codes.length > 0) return failure(codes);
  try {
    await deleteSources(core, checked.value.SourceID, { actor, ip });
  } catch (error) {
    // Deleted by someone else between our read and our write.
    if (error instanceof CoreError && error.code === "not_found") return failure([10]);
    throw error;
  }
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
