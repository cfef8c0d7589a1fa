/**
 * The envelope of page-index responses (Get Assets, Get Assignments, Get Users).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { ResponseMetadataFields } from "./Common.js"
import * as Envelope from "./internal/envelope.js"

/**
 * The pagination fields Apple adds to every page-index response.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PageFields = {
  currentPageIndex: Schema.Number,
  nextPageIndex: Schema.optional(Schema.Number),
  size: Schema.optional(Schema.Number),
  totalPages: Schema.Number,
  versionId: Schema.String,
  ...ResponseMetadataFields
}

/**
 * A decoded page: its records under a uniform name plus the pagination metadata.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly records: ReadonlyArray<A>
  readonly currentPageIndex: number
  readonly nextPageIndex: number | undefined
  readonly size: number | undefined
  readonly totalPages: number
  readonly versionId: string
  readonly tokenExpirationDate: string | undefined
  readonly uId: string | undefined
}

/**
 * A decoded page envelope: the pagination fields plus the records array under its endpoint's name.
 *
 * @since 0.1.0
 * @category models
 */
export type Body = Schema.Struct.Type<typeof PageFields> & { readonly [field: string]: unknown }

/**
 * Builds the schema of one endpoint's page: `field` names the records array (`assets`, `assignments`,
 * `users`); it may be missing ({@link fromEnvelope} reads that as no records). `also` adds a second records
 * array some responses carry (Get Assets' `unlimitedAssets`), optional too.
 *
 * The envelope has no transformation of its own, so each record is decoded once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const envelope = <A, I>(
  field: string,
  record: Schema.Schema<A, I>,
  also?: { readonly field: string; readonly record: Schema.Schema.AnyNoContext }
): Schema.Schema<Body, unknown> =>
  also === undefined
    ? Envelope.withRecords(PageFields, field, record)
    : Envelope.withRecords({ ...PageFields, [also.field]: Schema.optional(Schema.Array(also.record)) }, field, record) as
      unknown as Schema.Schema<Body, unknown>

/**
 * Reads the uniform {@link Page} view out of a decoded envelope (a missing records array is no records).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEnvelope = <A>(
  field: string,
  body: Body
): Page<A> => ({
  records: Envelope.records<A>(body, field),
  currentPageIndex: body.currentPageIndex,
  nextPageIndex: body.nextPageIndex,
  size: body.size,
  totalPages: body.totalPages,
  versionId: body.versionId,
  tokenExpirationDate: body.tokenExpirationDate,
  uId: body.uId
})
