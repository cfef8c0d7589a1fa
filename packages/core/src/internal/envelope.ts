import * as Schema from "effect/Schema"

/** A decoded envelope: the protocol's fields plus the records array under its endpoint's name. */
export type Body<Fields extends Schema.Struct.Fields> = Schema.Struct.Type<Fields> & { readonly [field: string]: unknown }

/**
 * A response envelope: the protocol's `fields` plus the records array Apple sends under `field`
 * (`assignments`, `subscriptions`, `licenses`, …), which may be missing ({@link records} reads it).
 *
 * The struct must have no transformation of its own — no default, no renamed key, no `nullable` option on a
 * field: a struct with one is decoded in two passes, the second validating every record again on the type
 * side.
 */
export const withRecords = <Fields extends Schema.Struct.Fields, A, I>(
  fields: Fields,
  field: string,
  record: Schema.Schema<A, I>
): Schema.Schema<Body<Fields>, unknown> =>
  Schema.Struct({ ...fields, [field]: Schema.optional(Schema.Array(record)) }) as unknown as Schema.Schema<
    Body<Fields>,
    unknown
  >

/** The records of a decoded envelope: a missing array is no records. */
export const records = <A>(body: { readonly [field: string]: unknown }, field: string): ReadonlyArray<A> =>
  (body[field] as ReadonlyArray<A> | undefined) ?? []
