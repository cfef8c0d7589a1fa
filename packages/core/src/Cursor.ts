/**
 * Cursor traversals of the subscription endpoints (`GET /v2/subscriptions`, `/v2/subscriptions/assignments`,
 * `/v2/subscriptions/admins`).
 *
 * Apple's rules: the first request has no `cursor`; each response's `nextCursor` is passed as `cursor` to the
 * next request; the last response has no `nextCursor`. The cursor is opaque — never parsed or built — and the
 * traversal is strictly sequential (one request at a time; retries resend the same cursor). A `nextCursor`
 * that was already followed would loop forever, so it fails the traversal with a `ProtocolError`; a cursor
 * the server rejects (9812) fails it with an `InvalidCursorError` (start again).
 *
 * The outcome's checkpoint is the `versionId` of the last response of the complete fetch (the subscription
 * endpoints have no `sinceVersionId`: store it to tell whether the data changed since). The run is
 * `drifted` when the responses reported different `versionId`s.
 *
 * ```ts
 * const outcome = yield* Cursor.subscriptionAssignments({ filters: { adamId: [12345] } }).run((page) => save(page.records))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ResponseMetadataFields } from "./Common.js"
import * as Envelope from "./internal/envelope.js"
import * as Resource from "./Resource.js"
import { parseAppleDate } from "./SToken.js"
import * as Subscription from "./Subscription.js"
import * as Traversal from "./Traversal.js"
import * as VppClient from "./VppClient.js"
import * as VppError from "./VppError.js"

/**
 * The fields of every cursor response. `nextCursor` is absent (or `null`, or empty) on the last response;
 * `mdmInfo` may be `null`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CursorFields = {
  nextCursor: Schema.optional(Schema.NullOr(Schema.String)),
  versionId: Schema.optional(Schema.String),
  ...ResponseMetadataFields
}

/**
 * Builds the schema of one cursor endpoint's response: `field` names the records array (`subscriptions`,
 * `assignments`, `admins`), which may be missing (no records). The envelope has no transformation of its
 * own, so each record is decoded once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const envelope = <A, I>(field: string, record: Schema.Schema<A, I>) =>
  Envelope.withRecords(CursorFields, field, record)

/**
 * A cursor endpoint: its path, the name of its records array and the record schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint<A, I> {
  readonly path: string
  readonly field: string
  readonly record: Schema.Schema<A, I>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Responses after which the traversal is a runaway and fails with a `ProtocolError` (default 100 000). */
  readonly maxResponses?: number
}

/**
 * @since 0.1.0
 * @category endpoints
 */
export const subscriptionsEndpoint: Endpoint<Subscription.Subscription, typeof Subscription.Subscription.Encoded> =
  Subscription.resource

/**
 * @since 0.1.0
 * @category endpoints
 */
export const subscriptionAssignmentsEndpoint: Endpoint<
  Subscription.SubscriptionAssignment,
  typeof Subscription.SubscriptionAssignment.Encoded
> = Subscription.assignmentsResource

/**
 * @since 0.1.0
 * @category endpoints
 */
export const subscriptionAdminsEndpoint: Endpoint<
  Subscription.SubscriptionAdmin,
  typeof Subscription.SubscriptionAdmin.Encoded
> = Subscription.adminsResource

/**
 * A cursor traversal of any cursor endpoint with the given query parameters (arrays are sent as repeated
 * keys).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  endpoint: Endpoint<A, I>,
  params: VppClient.UrlParams = {},
  options: Options = {}
): Traversal.Traversal<A> => {
  const schema = envelope(endpoint.field, endpoint.record)
  const maxResponses = options.maxResponses ?? 100_000
  const protocolError = (reason: string) => new VppError.ProtocolError({ endpoint: endpoint.path, reason })
  return Traversal.make(<E2, R2>(onPage: (page: Traversal.Page<A>) => Effect.Effect<void, E2, R2>) =>
    Effect.gen(function*() {
      const client = yield* VppClient.VppClient
      // Every cursor sent so far: a nextCursor among them would make the traversal go round in circles.
      const followed = new Set<string>()
      const versionIds = new Set<string | undefined>()
      let cursor: string | undefined
      let versionId: string | undefined
      let tokenExpiresAt: Date | undefined
      let records = 0
      let retries = 0
      for (let index = 0;; index++) {
        if (index >= maxResponses) return yield* protocolError(`no end after ${maxResponses} responses`)
        const response = yield* client.execute(
          { _tag: "Get", path: endpoint.path, params: cursor === undefined ? params : { ...params, cursor } },
          schema
        )
        retries += response.attempts - 1
        const body = response.value
        versionId = body.versionId
        versionIds.add(versionId)
        if (body.tokenExpirationDate !== undefined) {
          tokenExpiresAt = parseAppleDate(body.tokenExpirationDate) ?? tokenExpiresAt
        }
        const page: Traversal.Page<A> = {
          records: Envelope.records<A>(body, endpoint.field),
          index,
          total: undefined,
          versionId,
          uId: body.uId
        }
        yield* onPage(page)
        records += page.records.length
        const next = body.nextCursor
        if (next === undefined || next === null || next.length === 0) {
          return Traversal.outcome(versionId, {
            pages: index + 1,
            records,
            retries,
            drifted: versionIds.size > 1,
            tokenExpiresAt
          })
        }
        if (followed.has(next)) {
          return yield* protocolError(`response ${index + 1} returned a nextCursor that was already followed`)
        }
        followed.add(next)
        cursor = next
      }
    }).pipe(Effect.withSpan("Cursor.traverse", { attributes: { endpoint: endpoint.path } }))
  )
}

/**
 * Every subscription (`GET /v2/subscriptions`), filtered by `parentAdamId` / `adamId` when given (an empty
 * array is the same as no filter). One options object, `filters` inside, as every paginator takes.
 *
 * ```ts
 * Cursor.subscriptions({ filters: { adamId: [12345] }, maxResponses: 1000 })
 * ```
 *
 * @since 0.1.0
 * @category traversals
 */
export const subscriptions = (
  { filters = {}, ...options }: Options & { readonly filters?: Subscription.SubscriptionFilters } = {}
): Traversal.Traversal<Subscription.Subscription> =>
  make(Subscription.resource, Resource.encodeFilters(Subscription.resource, filters), options)

/**
 * Every subscription assignment (`GET /v2/subscriptions/assignments`), filtered by `parentAdamId` /
 * `adamId` / `clientUserId` when given.
 *
 * @since 0.1.0
 * @category traversals
 */
export const subscriptionAssignments = (
  { filters = {}, ...options }: Options & { readonly filters?: Subscription.AssignmentFilters } = {}
): Traversal.Traversal<Subscription.SubscriptionAssignment> =>
  make(Subscription.assignmentsResource, Resource.encodeFilters(Subscription.assignmentsResource, filters), options)

/**
 * Every subscription administrator (`GET /v2/subscriptions/admins`), filtered by `adamId`; with
 * `includeUserState: true` each carries its `userStatus`.
 *
 * @since 0.1.0
 * @category traversals
 */
export const subscriptionAdmins = (
  { filters = {}, ...options }: Options & { readonly filters?: Subscription.AdminFilters } = {}
): Traversal.Traversal<Subscription.SubscriptionAdmin> =>
  make(Subscription.adminsResource, Resource.encodeFilters(Subscription.adminsResource, filters), options)
