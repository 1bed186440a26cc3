// Route schemas (TypeBox), compiled once per worker when the module loads. A request that does
// not match gets a 400 whose message names the field: `title: is required`,
// `limit: Expected integer to be greater or equal to 1`.
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';

export const TITLE_MAX = 200;
export const BODY_MAX = 10_000;
export const LIST_MAX = 200;

const title = Type.String({ minLength: 1, maxLength: TITLE_MAX });
const body = Type.String({ maxLength: BODY_MAX });

export const NoteId = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

export const ListQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: TITLE_MAX })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIST_MAX, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
}, { additionalProperties: false });

export const CreateNote = Type.Object({ title, body: Type.Optional(body) }, { additionalProperties: false });

/** PUT: the whole note. */
export const ReplaceNote = Type.Object({ title, body }, { additionalProperties: false });

/** PATCH: some of its fields, at least one. */
export const PatchNote = Type.Object(
  { title: Type.Optional(title), body: Type.Optional(body) },
  { additionalProperties: false, minProperties: 1 },
);

/** A checker for `schema`: check(value) → null when valid, else [{ field, message }, ...]. */
export function compile(schema, what) {
  const checker = TypeCompiler.Compile(schema);
  return (value) => {
    if (checker.Check(value)) return null;
    const seen = new Set();
    const problems = [];
    for (const e of checker.Errors(value)) {
      const field = e.path === '' ? what : e.path.slice(1).replaceAll('/', '.');
      if (seen.has(field)) continue; // the first problem per field says enough
      seen.add(field);
      problems.push({ field, message: wording(e) });
    }
    return problems;
  };
}

function wording(e) {
  if (e.type === ValueErrorType.ObjectRequiredProperty) return 'is required';
  if (e.type === ValueErrorType.ObjectAdditionalProperties) return 'is not a known field';
  if (e.type === ValueErrorType.ObjectMinProperties) return `needs at least one of: ${Object.keys(e.schema.properties).join(', ')}`;
  return e.message;
}

/**
 * Query-string and path values arrive as strings: turn the ones an integer property expects into
 * numbers when they are written as whole decimal numbers (so `5.5` and `5x` stay strings and fail
 * as "Expected integer"); a repeated key stays an array and fails as "Expected string".
 */
export function coerce(schema, raw) {
  const out = {};
  for (const [key, value] of Object.entries(raw)) {
    const type = schema.properties[key]?.type;
    out[key] = type === 'integer' && typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  }
  return out;
}
