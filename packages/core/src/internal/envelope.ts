import * as Schema from "effect/Schema"

/**
 * A response envelope: the protocol's `fields` plus the records array Apple sends under `field`
 * (`subscriptions`, `licenses`, …), decoded as `records`. A missing array decodes as no records.
 */
export const withRecords = <Fields extends Schema.Struct.Fields, A, I>(
  fields: Fields,
  field: string,
  record: Schema.Schema<A, I>
) =>
  Schema.Struct({
    ...fields,
    records: Schema.optionalWith(Schema.Array(record), { default: () => [] }).pipe(Schema.fromKey(field))
  })
